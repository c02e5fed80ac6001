"""The Lambda path in the real runtime: the zip that ``scripts/build_lambda_zip.py`` builds,
unpacked into a task directory, run by AWS's runtime interface client (``awslambdaric``) under
AWS's runtime interface emulator, invoked over HTTP against the real local services.

Between the event and the handler stand the Lambda runtime API (next invocation, response,
error), the client that serialises our return value and our exceptions, and the deadline the
emulator enforces (``AWS_LAMBDA_FUNCTION_TIMEOUT``): these tests go through all three. The
function imports from the task directory and the runtime client only (``python -S``).
"""

from __future__ import annotations

import base64
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from bazooka import lambda_handler
from bazooka.errors import PostgresError
from bazooka.postgres.lock import advisory_holders
from tests.integration.conftest import StartEmulator
from tests.integration.lambda_support import FUNCTION, PASSED_ON, slow_ddl
from tests.integration.lambda_support import connect as _connect
from tests.integration.lambda_support import error as _error
from tests.integration.lambda_support import migrations as _migrations
from tests.integration.lambda_support import success as _success


def _lines_of(emulator: Any, request_id: str) -> list[dict[str, Any]]:
    return [line for line in emulator.log_lines() if line.get("aws_request_id") == request_id]


# --- success ----------------------------------------------------------------------------------


def test_migrate_returns_200_and_the_report_with_the_request_id(
    start_emulator: StartEmulator, scratch_db: dict[str, str], task_dir: Path, lambda_zip: Path
) -> None:
    emulator = start_emulator(scratch_db)
    invocation = emulator.invoke({"migrate": True}, request_id="req-migrate-1")
    report = _success(invocation)
    assert report["ok"] is True and report["request_id"] == "req-migrate-1"
    assert report["steps"][0]["name"] == "migrate"
    assert report["steps"][0]["details"]["applied_count"] == 113
    assert _migrations(scratch_db) == (113, 0)
    # Every JSON line of the invocation carries its context, as Powertools' logger writes it.
    lines = emulator.log_lines()
    assert len(lines) >= 4
    for line in lines:
        assert line["aws_request_id"] == "req-migrate-1", line
        assert line["function_name"] == FUNCTION
        assert line["function_arn"].endswith(f":function:{FUNCTION}")
        assert line["cold_start"] is True
        assert "at" in line and "message" in line
    assert lines[0]["message"] == 'Event: {"migrate": true}'
    assert lines[-1]["message"] == "Bazooka success"
    assert lines[-1]["report"]["request_id"] == "req-migrate-1"
    assert scratch_db["DB_PASSWORD"] not in emulator.output()
    # Lambda's task directory is read-only: the function wrote nothing there (no bytecode).
    with zipfile.ZipFile(lambda_zip) as archive:
        shipped = {name for name in archive.namelist() if not name.endswith("/")}
    assert {str(p.relative_to(task_dir)) for p in task_dir.rglob("*") if p.is_file()} == shipped


def test_api_gateway_proxy_event_and_base64_body(
    start_emulator: StartEmulator, scratch_db: dict[str, str]
) -> None:
    emulator = start_emulator(scratch_db)
    token = "Bearer t0p-s3cret-token"  # must not reach the logs
    plain = {
        "resource": "/bazooka",
        "httpMethod": "POST",
        "headers": {"Authorization": token, "Content-Type": "application/json"},
        "body": '{"migrate": true}',
        "isBase64Encoded": False,
    }
    first = _success(emulator.invoke(plain, request_id="req-proxy-1"))
    assert first["steps"][0]["details"]["applied_count"] == 113
    encoded = {
        **plain,
        "body": base64.b64encode(b'{"migrate": true}').decode(),
        "isBase64Encoded": True,
    }
    second = _success(emulator.invoke(encoded, request_id="req-proxy-2"))
    assert second["steps"][0]["details"]["applied_count"] == 0  # already migrated
    assert second["request_id"] == "req-proxy-2"
    assert "t0p-s3cret-token" not in emulator.output()
    events = [line["message"] for line in emulator.log_lines() if line["message"].startswith("Ev")]
    assert events == [
        'Event: {"body": "{\\"migrate\\": true}", "isBase64Encoded": false}',
        'Event: {"body": "eyJtaWdyYXRlIjogdHJ1ZX0=", "isBase64Encoded": true}',
    ]


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "error_type", "message"),
    [
        (
            {"reset_db": "true"},
            "InvalidEvent",
            "field 'reset_db' must be a JSON boolean (true or false), got string \"true\"",
        ),
        ({"migrate": True, "drop_everything": True}, "InvalidEvent", "'drop_everything'"),
        (
            {"httpMethod": "POST", "headers": {"Authorization": "Bearer s3cr3t"}, "body": "{"},
            "InvalidEvent",
            "API Gateway body is not valid JSON",
        ),
        (
            {"clear_db": True},
            "ForceRequired",
            'Cannot run bazooka without force flag set to "true"',
        ),
        ({"reset_db": True, "migrate": True}, "ForceRequired", "force flag"),
    ],
    ids=["string-for-boolean", "unknown-field", "proxy-body-not-json", "clear-db", "reset-db"],
)
def test_invalid_event_and_refusal_are_lambda_errors_without_secrets(
    start_emulator: StartEmulator,
    scratch_db: dict[str, str],
    event: dict[str, Any],
    error_type: str,
    message: str,
) -> None:
    emulator = start_emulator(scratch_db)
    error = _error(emulator.invoke(event, request_id="req-refused"))
    assert error["errorType"] == error_type
    assert message in error["errorMessage"]
    assert error["requestId"] == "req-refused"
    # The handler raised it from the task directory's code, not from anywhere else.
    assert any(str(emulator.task_dir / "bazooka") in frame for frame in error["stackTrace"])
    output = emulator.output()
    for secret in (scratch_db["DB_PASSWORD"], "s3cr3t"):
        assert secret not in json.dumps(error) and secret not in output
    assert _migrations(scratch_db) == (-1, None)  # nothing was touched
    failure = [line for line in _lines_of(emulator, "req-refused") if line["level"] == "error"]
    assert len(failure) == 1 and failure[0]["error"]["name"] == error_type


def test_failing_step_is_an_error_response_naming_the_step(
    start_emulator: StartEmulator, scratch_db: dict[str, str]
) -> None:
    secret = "Wr0ng-Secret-Pa55"
    emulator = start_emulator({**scratch_db, "DB_PASSWORD": secret})
    error = _error(emulator.invoke({"migrate": True, "clear_redis": True, "force": True}))
    assert error["errorType"] == "PostgresError"
    assert error["errorMessage"].startswith("Step migrate failed: ")
    assert "password authentication failed" in error["errorMessage"]
    assert secret not in json.dumps(error) and secret not in emulator.output()
    failed = next(line for line in emulator.log_lines() if line["message"] == "Bazooka failed")
    assert failed["report"]["failed_step"] == "migrate"
    assert failed["report"]["request_id"] == error["requestId"]
    assert [s["status"] for s in failed["report"]["steps"]] == ["failed", "not_run"]


# --- the time budget under a real deadline ------------------------------------------------------
#
# The long step is a migrate replay from an empty database on a server where every DDL command
# takes SLOW_DDL_S longer (an event trigger that sleeps; the migrations run 318 DDL commands).
# That makes the step reliably long: 12.7 s of sleep at least, plus the real work (2 to 6 s on
# this shared machine), whatever the load, while each migration stays around a second at most,
# far shorter than the reserve the budget keeps. With a FUNCTION_TIMEOUT_S deadline and a
# RESERVE_MS reserve the first invocation has under 11 s for the step, so the deadline always
# falls inside it. The server is then made fast again, and the second invocation completes what
# is left (the real work, however far the first one got) within the same timeout.

SLOW_DDL_S = 0.04
FUNCTION_TIMEOUT_S = 14
RESERVE_MS = 3_200


def test_deadline_inside_migrate_stops_cleanly_frees_the_lock_and_a_second_invocation_finishes(
    start_emulator: StartEmulator, scratch_db: dict[str, str]
) -> None:
    slow_ddl(scratch_db, seconds=SLOW_DDL_S)
    emulator = start_emulator(
        scratch_db,
        timeout_s=FUNCTION_TIMEOUT_S,
        BAZOOKA_LAMBDA_RESERVE_MS=str(RESERVE_MS),
        BAZOOKA_MIGRATE_REPLAY="true",  # migration by migration (an empty database's baseline
        # loads in one transaction: nothing to stop in the middle of)
    )
    stopped = emulator.invoke({"migrate": True}, request_id="req-deadline-1")
    # The function answered itself, before the emulator's kill ("Task timed out after ...").
    assert not stopped.body.startswith(b"Task timed out"), stopped.body
    assert stopped.elapsed_s < FUNCTION_TIMEOUT_S
    error = _error(stopped)
    assert error["errorType"] == "OutOfTime"
    assert error["errorMessage"].startswith("Stopped cleanly: only ")
    assert "stopped inside: migrate" in error["errorMessage"]
    assert "Invoke again" in error["errorMessage"]
    applied, locked = _migrations(scratch_db)
    assert 0 < applied < 113, applied  # the deadline fell inside the step
    assert locked == 0  # the lock is free
    # The same warm function, invoked again, completes the work where the first one stopped.
    with _connect(scratch_db) as conn:
        conn.execute("DROP EVENT TRIGGER test_slow_ddl")
    finished = emulator.invoke({"migrate": True}, request_id="req-deadline-2")
    report = _success(finished)
    details = report["steps"][0]["details"]
    assert details["applied_count"] == 113 - applied and details["batch"] == 2
    assert _migrations(scratch_db) == (113, 0)
    assert {line["cold_start"] for line in _lines_of(emulator, "req-deadline-2")} == {False}


def test_without_the_reserve_the_function_is_killed_and_the_next_run_recovers_the_lock(
    start_emulator: StartEmulator, scratch_db: dict[str, str]
) -> None:
    """What the reserve prevents, shown with the same emulator: one migration (create_fills)
    outlasts the deadline, the function is killed in the middle of it and Knex's lock row stays
    set. Once PostgreSQL has ended the killed run's session (here terminated, as the server does
    when it finds the client gone), the next invocation, in a new process, proves the row stale
    (no session holds Bazooka's advisory lock), releases it, says so, and finishes."""
    slow_ddl(scratch_db, seconds=60, only="public.fills")
    emulator = start_emulator(
        scratch_db, timeout_s=8, BAZOOKA_LAMBDA_RESERVE_MS="0", BAZOOKA_MIGRATE_REPLAY="true"
    )
    killed = emulator.invoke({"migrate": True}, request_id="req-killed")
    assert killed.body == b"Task timed out after 8.00 seconds"
    applied, locked = _migrations(scratch_db)
    assert 0 < applied < 113 and locked == 1
    with _connect(scratch_db) as conn:
        # The killed run's backend, still sleeping in its DDL, holds the advisory lock.
        holders = advisory_holders(conn)
        assert len(holders) == 1, holders
        conn.execute("SELECT pg_terminate_backend(%s)", (holders[0].pid,))
        conn.execute("DROP EVENT TRIGGER test_slow_ddl")
    again = start_emulator(scratch_db, timeout_s=120, BAZOOKA_MIGRATE_REPLAY="true")
    report = _success(again.invoke({"migrate": True}, request_id="req-after-kill"))
    details = report["steps"][0]["details"]
    assert details["recovered_stale_lock"]["found"] == "knex_migrations_lock.is_locked = 1"
    assert details["applied_count"] == 113 - applied and details["batch"] == 2
    assert _migrations(scratch_db) == (113, 0)


def test_deadline_in_a_kafka_clear_waiting_on_retries_stops_cleanly(
    start_emulator: StartEmulator, scratch_db: dict[str, str]
) -> None:
    """The other long step: a topic whose records cannot be deleted (a compacted topic
    refuses DeleteRecords: POLICY_VIOLATION) makes the clear retry with waits of 3 s, 6 s...;
    before a wait that would not leave the reserve, the function stops cleanly. Once the topic
    accepts deletions again, the next invocation clears it."""
    brokers = scratch_db["KAFKA_BROKER_URLS"]
    admin = AdminClient({"bootstrap.servers": brokers})
    topic = "to-ender"
    if topic in admin.list_topics(timeout=10).topics:
        admin.delete_topics([topic])[topic].result()

    def created() -> bool:  # a topic just deleted may still be on its way out
        future = admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])
        try:
            future[topic].result()
        except KafkaException:
            return False
        return True

    assert _settles(created, 30)
    try:
        producer = Producer({"bootstrap.servers": brokers})
        for i in range(3):
            producer.produce(topic, key=f"k{i}".encode(), value=b"v")
        assert producer.flush(10) == 0
        emulator = start_emulator(
            scratch_db,
            timeout_s=FUNCTION_TIMEOUT_S,
            BAZOOKA_LAMBDA_RESERVE_MS=str(RESERVE_MS),
            CLEAR_KAFKA_TOPIC_RETRY_MS="1500",
            CLEAR_KAFKA_TOPIC_MAX_RETRIES="10",
        )
        event = {"clear_kafka_topics": True, "force": True}
        stopped = emulator.invoke(event, request_id="req-kafka-1")
        assert not stopped.body.startswith(b"Task timed out"), stopped.body
        assert stopped.elapsed_s < FUNCTION_TIMEOUT_S
        error = _error(stopped)
        assert error["errorType"] == "OutOfTime", error
        assert error["errorMessage"].startswith("Stopped cleanly: only ")
        assert f"of clearing topic {topic}" in error["errorMessage"]
        assert "stopped inside: clear_kafka_topics" in error["errorMessage"]
        lines = _lines_of(emulator, "req-kafka-1")
        failed = next(line for line in lines if line["message"] == "Bazooka failed")
        assert list(failed["report"]["steps"][0]["details"]["stopped_topics"]) == [topic]
        resource = ConfigResource(
            ConfigResource.Type.TOPIC,
            topic,
            incremental_configs=[
                ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SET)
            ],
        )
        for future in admin.incremental_alter_configs([resource]).values():
            future.result()
        report = _success(emulator.invoke(event, request_id="req-kafka-2"))
        assert report["steps"][0]["details"]["records_removed"][topic] == 3
    finally:
        admin.delete_topics([topic])[topic].result()


# --- a warm process ---------------------------------------------------------------------------


def _backends(env: dict[str, str]) -> int:
    """Sessions on the scratch database other than this one."""
    with _connect(env) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else -1


def _settles(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_invocations_in_one_warm_process_share_nothing(
    start_emulator: StartEmulator, scratch_db: dict[str, str]
) -> None:
    emulator = start_emulator(scratch_db)
    ids = ["req-warm-1", "req-warm-2", "req-warm-3"]
    refused = _error(emulator.invoke({"clear_db": True}, request_id=ids[0]))
    assert refused["errorType"] == "ForceRequired"
    assert _success(emulator.invoke({"migrate": True}, request_id=ids[1]))["request_id"] == ids[1]
    # The connection of the run is closed when the invocation ends, not kept for the next.
    assert _settles(lambda: _backends(scratch_db) == 0), _backends(scratch_db)
    again = _success(emulator.invoke({"migrate": True}, request_id=ids[2]))
    assert again["steps"][0]["details"]["applied_count"] == 0
    assert _settles(lambda: _backends(scratch_db) == 0), _backends(scratch_db)
    lines = emulator.log_lines()
    assert {line.get("aws_request_id") for line in lines} == set(ids)  # every line has its id
    for request_id, cold in zip(ids, (True, False, False), strict=True):
        own = _lines_of(emulator, request_id)
        # One handler per invocation: each line once, however many invocations came before.
        assert [line["at"] for line in own].count("handler#run") == 2, own
        assert sum(line["message"].startswith("Event: ") for line in own) == 1
        assert {line["cold_start"] for line in own} == {cold}
        assert {line["function_name"] for line in own} == {FUNCTION}


class _Context:
    """The attributes of awslambdaric's LambdaContext that the handler reads."""

    function_name = FUNCTION
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:us-east-1:012345678912:function:{FUNCTION}"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def test_settings_are_read_per_invocation_in_a_warm_process(
    scratch_db: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the emulator cannot vary between two invocations of one process: its environment.
    In-process, a changed variable applies to the next invocation (nothing is read once)."""
    for key, value in scratch_db.items():
        if key.startswith(PASSED_ON):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("DB_PASSWORD", "Wr0ng-Secret-Pa55")
    monkeypatch.setenv("LOG_LEVEL", "error")
    with pytest.raises(PostgresError, match=r"^Step migrate failed: "):
        lambda_handler.handler({"migrate": True}, _Context("in-process-1"))
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["level"] for line in first] == ["info", "error", "error"]  # Event, step, failed
    monkeypatch.setenv("DB_PASSWORD", scratch_db["DB_PASSWORD"])
    monkeypatch.setenv("LOG_LEVEL", "info")
    response = lambda_handler.handler({"migrate": True}, _Context("in-process-2"))
    assert json.loads(response["body"])["report"]["request_id"] == "in-process-2"
    second = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["aws_request_id"] for line in second} == {"in-process-2"}
    assert any(line["message"] == "Running step migrate" for line in second)
    assert len(second) == len({json.dumps(line) for line in second})  # no line written twice
