"""The CLI and the Lambda handler as users meet them, against the real local services."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
import redis

import bazooka
from bazooka import lambda_handler
from bazooka.errors import ForceRequired, InvalidEvent, PostgresError
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled
from bazooka.steps import DESTRUCTIVE as DESTRUCTIVE_FIELDS
from tests.helpers import MIGRATIONS, LambdaContextStub, cli, make_settings

# Nothing listens on these: a test that must not contact any server points everything here.
UNREACHABLE = {
    "DB_HOSTNAME": "127.0.0.1",
    "DB_PORT": "1",
    "REDIS_URL": "redis://127.0.0.1:1",
    "KAFKA_BROKER_URLS": "127.0.0.1:1",
}
FORCE_MESSAGE = 'Cannot run bazooka without force flag set to "true"'


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ('{"reset_db": "true"}', "field 'reset_db' must be a JSON boolean"),
        (
            '{"reset_db": 1}',
            "field 'reset_db' must be a JSON boolean (true or false), got number 1",
        ),
        ('{"migrate": true, "drop_everything": true}', "unknown field 'drop_everything'"),
        ("[]", "expected a JSON object, got array"),
        ('"x"', "expected a JSON object, got string"),
        ('{"body": "not json {", "httpMethod": "POST"}', "API Gateway body is not valid JSON"),
        ("{", "not valid JSON"),
    ],
)
def test_invalid_events_exit_2_without_contacting_any_server(
    base_env: dict[str, str], tmp_path: Path, event: str, expected: str
) -> None:
    path = tmp_path / "event.json"
    path.write_text(event)
    env = {**base_env, **UNREACHABLE}
    result = cli(env, "run", "--event", str(path))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    # Any connection attempt to the unreachable servers would have failed a step (exit 1).
    as_json = cli(env, "run", "--json", "--event", "-", stdin=event)
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["kind"] == "InvalidEvent"


def test_version_names_the_newest_bundled_migration(base_env: dict[str, str]) -> None:
    result = cli(base_env, "--version")
    assert result.returncode == 0, result.stderr
    known = bundled()
    assert result.stdout == (
        f"bazooka {bazooka.__version__} (migrations up to {known[-1].name}, {len(known)} bundled)\n"
    )


def test_flags_and_event_file_are_exclusive(base_env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text('{"migrate": true}')
    result = cli({**base_env, **UNREACHABLE}, "run", "--migrate", "--event", str(path))
    assert result.returncode == 2 and "either --event FILE or flags" in result.stderr


def test_invalid_environment_exits_2_naming_the_variable(base_env: dict[str, str]) -> None:
    for name, value in (("DB_PORT", "abc"), ("PREVENT_BREAKING_CHANGES_WITHOUT_FORCE", "maybe")):
        result = cli({**base_env, name: value}, "run", "--migrate")
        assert result.returncode == 2
        assert f"{name}='{value}'" in result.stderr


@pytest.mark.parametrize("field", DESTRUCTIVE_FIELDS)
def test_destructive_flags_without_force_are_refused_with_exit_3(
    base_env: dict[str, str], field: str
) -> None:
    env = {**base_env, **UNREACHABLE}
    result = cli(env, "run", f"--{field.replace('_', '-')}")
    assert result.returncode == 3
    assert FORCE_MESSAGE in result.stderr
    as_json = cli(env, "run", "--json", f"--{field}")
    assert as_json.returncode == 3
    error = json.loads(as_json.stdout)["error"]
    flag = f"--{field.replace('_', '-')}"
    assert error.startswith(FORCE_MESSAGE) and f"refused {flag} ({field}: destructive)" in error
    assert f"Add --force to run them (bazooka run {flag} --force)" in error


def _seed_redis(url: str) -> dict[int, int]:
    seeded = {0: 3, 3: 2, 15: 1}
    for db, count in seeded.items():
        client = redis.Redis.from_url(url, db=db)
        client.flushdb()
        for i in range(count):
            client.set(f"bazooka-test:{i}", "x")
        client.close()
    return seeded


def test_clear_redis_empties_every_logical_database(base_env: dict[str, str]) -> None:
    seeded = _seed_redis(base_env["REDIS_URL"])
    refused = cli(base_env, "run", "--clear-redis", "--json")
    assert refused.returncode == 3
    assert redis.Redis.from_url(base_env["REDIS_URL"], db=3).dbsize() == 2  # untouched
    result = cli(base_env, "run", "--clear-redis", "--force", "--json")
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)["steps"][0]["details"]
    for db, count in seeded.items():
        assert details["keys_removed"][f"db{db}"] >= count
        assert redis.Redis.from_url(base_env["REDIS_URL"], db=db).dbsize() == 0
    assert details["keys_left"] == 0


def test_setting_lets_destructive_steps_run_without_force(base_env: dict[str, str]) -> None:
    _seed_redis(base_env["REDIS_URL"])
    env = {**base_env, "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE": "false"}
    result = cli(env, "run", "--clear-redis", "--json")
    assert result.returncode == 0, result.stderr
    assert redis.Redis.from_url(base_env["REDIS_URL"]).dbsize() == 0


def test_reset_db_empties_public_and_leaves_other_schemas_alone(
    scratch_db: dict[str, str],
) -> None:
    settings = make_settings(scratch_db)
    with connect(settings) as conn:
        conn.execute("CREATE TABLE public.t1 (x int); INSERT INTO public.t1 VALUES (1)")
        conn.execute("CREATE VIEW public.v1 AS SELECT * FROM public.t1")
        conn.execute(
            "CREATE SCHEMA keep; CREATE TABLE keep.t2 (y int); INSERT INTO keep.t2 VALUES (7)"
        )
    result = cli(scratch_db, "run", "--reset-db", "--force", "--json")
    assert result.returncode == 0, result.stderr
    details = json.loads(result.stdout)["steps"][0]["details"]
    assert details["tables_dropped"] == 1 and details["views_dropped"] == 1
    with connect(settings) as conn:
        public = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'"
        ).fetchone()
        assert public == (0,)
        assert conn.execute("SELECT y FROM keep.t2").fetchall() == [(7,)]
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone() == (1,)


def test_human_output_and_exit_1_when_a_step_fails(base_env: dict[str, str]) -> None:
    env = {**base_env, "DB_PASSWORD": "S3cret-Pa55word", "DB_HOSTNAME": "127.0.0.1"}
    result = cli(env, "run", "--migrate")
    assert result.returncode == 1
    assert "migrate" in result.stdout and "failed" in result.stdout
    assert "password authentication failed" in result.stdout
    assert "S3cret-Pa55word" not in result.stdout + result.stderr


def test_an_expected_error_logs_its_type_and_message_without_a_traceback(
    base_env: dict[str, str],
) -> None:
    env = {**base_env, "DB_PASSWORD": "nope", "DB_HOSTNAME": "127.0.0.1", "LOG_LEVEL": "info"}
    result = cli(env, "run", "--migrate", "--json")
    assert result.returncode == 1
    failures = [
        line for line in map(json.loads, result.stderr.splitlines()) if line["level"] == "error"
    ]
    assert failures, result.stderr
    error = failures[0]["error"]
    assert error["name"] == "PostgresError" and "password authentication failed" in error["message"]
    assert "stack" not in error and "Traceback" not in result.stderr
    # At debug, the stack is there for whoever asked for it.
    debug = cli(env, "run", "--migrate", "--json", "--log-level", "debug")
    assert "Traceback" in debug.stderr


def test_a_driver_message_and_our_advice_read_as_sentences(base_env: dict[str, str]) -> None:
    env = {
        **base_env,
        "DB_HOSTNAME": "127.0.0.1",
        "DB_PORT": "1",
        "REDIS_URL": "redis://127.0.0.1:1",
    }
    report = json.loads(cli(env, "run", "--migrate", "--json").stdout)
    assert "?." not in report["error"] and ".." not in report["error"], report["error"]
    assert "Check DB_HOSTNAME" in report["error"]
    # libpq's lines are sentences without their stops: joined, each keeps one.
    assert "Connection refused. Is the server running" in report["error"], report["error"]
    redis = json.loads(cli(env, "run", "--clear-redis", "--force", "--json").stdout)
    assert ".." not in redis["error"] and "Check REDIS_URL" in redis["error"], redis["error"]


@pytest.mark.parametrize("level", ["debug", "info", "notice", "warning", "error", "crit"])
def test_log_level_flag_accepts_every_documented_level(
    base_env: dict[str, str], level: str
) -> None:
    result = cli(base_env, "run", "--log-level", level)  # an empty event: nothing to do
    assert result.returncode == 0, result.stderr
    assert "Nothing to do" in result.stdout


def test_an_empty_event_file_is_called_empty(base_env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "event.json"
    empty.write_text("\n")
    result = cli(base_env, "run", "--event", str(empty))
    assert result.returncode == 2
    assert "the event file is empty" in result.stderr and "JSON" not in result.stderr
    piped = cli(base_env, "run", "--event", "-", stdin="")
    assert piped.returncode == 2 and "the event on standard input is empty" in piped.stderr


def test_plan_without_force_shows_the_plan_marks_refused_steps_and_exits_3(
    scratch_db: dict[str, str],
) -> None:
    human = cli(scratch_db, "plan", "--migrate", "--clear-redis")
    assert human.returncode == 3, human.stderr
    assert "would apply" in human.stdout and "refused" in human.stdout
    assert 'Cannot run bazooka without force flag set to "true"' in human.stdout
    as_json = cli(scratch_db, "plan", "--migrate", "--clear-redis", "--json")
    assert as_json.returncode == 3
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and "force flag" in report["error"]
    assert [(s["name"], s["status"]) for s in report["steps"]] == [
        ("migrate", "planned"),
        ("clear_redis", "refused"),
    ]
    assert "keys_to_flush" in report["steps"][1]["details"]


def test_unlock_of_a_free_lock_says_so_everywhere(scratch_db: dict[str, str]) -> None:
    assert cli(scratch_db, "run", "--migrate").returncode == 0
    result = cli(scratch_db, "unlock", "--log-level", "info")
    assert result.returncode == 0 and "was already free" in result.stdout
    logged = [json.loads(line)["message"] for line in result.stderr.splitlines()]
    assert logged == ["The migration lock was already free"]


def test_logs_are_json_lines_with_at_and_message_and_no_secrets(
    scratch_db: dict[str, str],
) -> None:
    secret = scratch_db["DB_PASSWORD"]
    result = cli(
        {**scratch_db, "LOG_LEVEL": "debug", "REDIS_URL": scratch_db["REDIS_URL"]},
        "run",
        "--migrate",
        "--json",
        "--log-level",
        "debug",
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert lines and all("at" in line and "message" in line for line in lines)
    assert any(line["at"] == "runner#run" for line in lines)
    assert secret not in result.stderr and secret not in result.stdout


# --- Lambda --------------------------------------------------------------------------------


FakeContext = LambdaContextStub


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, scratch_db: dict[str, str]) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith(("DB_", "KAFKA_", "REDIS_", "BUGSNAG_", "PREVENT_")):
            monkeypatch.delenv(key, raising=False)
    for key, value in scratch_db.items():
        if key.startswith(("DB_", "KAFKA_", "REDIS_")):
            monkeypatch.setenv(key, value)
    return scratch_db


def _log_lines(captured: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_lambda_direct_event_success(
    lambda_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    response = lambda_handler.handler({"migrate": True}, FakeContext())
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["message"] == "success"
    assert body["report"]["steps"][0]["name"] == "migrate"
    assert body["report"]["steps"][0]["details"]["applied_count"] == MIGRATIONS
    logs = _log_lines(capsys.readouterr().out)
    assert logs[0]["at"] == "handler#run" and logs[0]["message"].startswith("Event: ")
    assert all("at" in line and "message" in line for line in logs)
    assert lambda_env["DB_PASSWORD"] not in json.dumps(logs) + response["body"]


def test_lambda_api_gateway_event(
    lambda_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = {
        "httpMethod": "POST",
        "headers": {"Authorization": "Bearer top-secret-token"},
        "body": base64.b64encode(b'{"migrate": true}').decode(),
        "isBase64Encoded": True,
    }
    response = lambda_handler.handler(proxy, FakeContext())
    assert json.loads(response["body"])["message"] == "success"
    assert "top-secret-token" not in capsys.readouterr().out  # headers are not logged


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"reset_db": "true"}, InvalidEvent),
        ({"body": "not json"}, InvalidEvent),
        ({"clear_db": True}, ForceRequired),
    ],
)
def test_lambda_raises_on_invalid_input_and_refusal(
    lambda_env: dict[str, str], event: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        lambda_handler.handler(event, FakeContext())


def test_lambda_raises_when_a_step_fails(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DB_PASSWORD", "Wr0ng-Secret")
    with pytest.raises(PostgresError, match="password authentication failed"):
        lambda_handler.handler({"migrate": True}, FakeContext())
    out = capsys.readouterr().out
    assert "Wr0ng-Secret" not in out
    assert any(line.get("message") == "Bazooka failed" for line in _log_lines(out))


class _BugsnagCollector(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bugsnag_server() -> Iterator[str]:
    _BugsnagCollector.received = []
    server = HTTPServer(("127.0.0.1", 0), _BugsnagCollector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_lambda_reports_failures_to_bugsnag_when_configured(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, bugsnag_server: str
) -> None:
    monkeypatch.setenv("BUGSNAG_KEY", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("BUGSNAG_NOTIFY_ENDPOINT", bugsnag_server)
    monkeypatch.setenv("BUGSNAG_RELEASE_STAGE", "test")
    with pytest.raises(ForceRequired):
        lambda_handler.handler({"clear_redis": True}, FakeContext())
    assert len(_BugsnagCollector.received) == 1
    event = _BugsnagCollector.received[0]["events"][0]
    assert event["exceptions"][0]["errorClass"].endswith("ForceRequired")
    assert event["releaseStage"] == "test"


def test_lambda_without_bugsnag_key_sends_nothing(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, bugsnag_server: str
) -> None:
    monkeypatch.setenv("BUGSNAG_NOTIFY_ENDPOINT", bugsnag_server)
    with pytest.raises(ForceRequired):
        lambda_handler.handler({"clear_redis": True}, FakeContext())
    assert _BugsnagCollector.received == []


def test_python_api_runs_an_event_with_given_settings(scratch_db: dict[str, str]) -> None:
    import bazooka

    report = bazooka.run(bazooka.BazookaEvent(migrate=True), make_settings(scratch_db))
    assert report.ok and report.steps[0].details["applied_count"] == MIGRATIONS
    with psycopg.connect(
        host=scratch_db["DB_HOSTNAME"],
        port=int(scratch_db["DB_PORT"]),
        dbname=scratch_db["DB_NAME"],
        user=scratch_db["DB_USERNAME"],
        password=scratch_db["DB_PASSWORD"],
    ) as conn:
        assert conn.execute("SELECT count(*) FROM knex_migrations").fetchone() == (MIGRATIONS,)
