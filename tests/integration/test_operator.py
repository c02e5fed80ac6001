"""Operator experience on real services: status, plan/dry-run, progress, Lambda time budget."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console

from bazooka import lambda_handler
from bazooka.console import RichProgress
from bazooka.errors import OutOfTime
from bazooka.event import BazookaEvent
from bazooka.kafka.topics import MANAGED_TOPICS
from bazooka.postgres import migrator
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled
from bazooka.report import StepStatus
from bazooka.runner import run
from bazooka.settings import Settings
from tests.helpers import MIGRATIONS, LambdaContextStub, cli, make_settings
from tests.integration.test_kafka import _delete_managed_topics
from tools.schema_dump import dump, fingerprint


@pytest.fixture
def env(scratch_db: dict[str, str]) -> Iterator[dict[str, str]]:
    """A scratch database, the single broker with no managed topics, an empty Redis."""
    _delete_managed_topics(scratch_db["KAFKA_BROKER_URLS"])
    redis.Redis.from_url(scratch_db["REDIS_URL"]).flushall()
    yield {**scratch_db, "KAFKA_REPLICATION_FACTOR": "1"}


def status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = cli(env, "status", "--json")
    return result.returncode, json.loads(result.stdout)


def test_status_in_each_state(env: dict[str, str]) -> None:
    code, state = status(env)
    assert code == 0
    pg = state["postgres"]
    assert pg["bookkeeping_exists"] is False and pg["applied_count"] == 0
    assert pg["pending_count"] == MIGRATIONS and pg["locked"] is None
    assert all(not t["exists"] for t in state["kafka"]["topics"].values())
    assert state["redis"]["total_keys"] == 0

    settings = make_settings(env)
    with connect(settings) as conn:
        migrator.migrate(conn, bundled()[:50])
        conn.execute("UPDATE knex_migrations_lock SET is_locked = 1")
    run(BazookaEvent(create_kafka_topics=True), settings)
    producer = Producer({"bootstrap.servers": env["KAFKA_BROKER_URLS"]})
    for i in range(5):
        producer.produce("to-ender", value=b"x", key=str(i).encode())
    producer.produce("to-vulcan", value=b"y", partition=7)
    assert producer.flush(10) == 0
    redis.Redis.from_url(env["REDIS_URL"], db=2).set("k", "v")

    code, state = status(env)
    assert code == 0, state
    pg = state["postgres"]
    assert (pg["applied_count"], pg["pending_count"], pg["latest_batch"]) == (
        50,
        MIGRATIONS - 50,
        1,
    )
    assert pg["batches"] == {"1": 50} and pg["applied"][0]["batch"] == 1
    assert pg["locked"] is True
    topics = state["kafka"]["topics"]
    assert topics["to-ender"] == {
        "exists": True,
        "partitions": 1,
        "target_partitions": 1,
        "replication_factor": 1,
        "records": 5,
    }
    assert topics["to-vulcan"]["partitions"] == 210 and topics["to-vulcan"]["records"] == 1
    assert state["redis"]["keys"] == {"db2": 1}

    newest = bundled()[-1].name
    assert pg["newest_known_migration"] == newest
    human = cli(env, "status")
    assert human.returncode == 0
    assert f"50 applied, {MIGRATIONS - 50} pending" in human.stdout and "LOCKED" in human.stdout
    assert "applied per batch: batch 1: 50" in human.stdout
    assert f"newest bundled migration: {newest}" in human.stdout


def _migrated_by_a_newer_indexer(env: dict[str, str]) -> None:
    """Every bundled migration applied, then batch 2 recording one this Bazooka does not ship
    (``20990101000000_from_a_newer_indexer.js``), as a newer indexer's Bazooka would leave."""
    with connect(make_settings(env)) as conn:
        migrator.migrate(conn, bundled())
        conn.execute(
            "INSERT INTO knex_migrations (name, batch, migration_time) "
            "VALUES ('20990101000000_from_a_newer_indexer.js', 2, now())"
        )


def test_status_says_this_bazooka_is_behind_a_database_with_newer_migrations(
    env: dict[str, str],
) -> None:
    _migrated_by_a_newer_indexer(env)
    code, state = status(env)
    assert code == 0
    assert state["postgres"]["unknown"] == ["20990101000000_from_a_newer_indexer.js"]
    human = cli(env, "status")
    assert (
        "recorded but not bundled (this Bazooka is behind this database; see "
        "docs/maintainers.md): 20990101000000_from_a_newer_indexer.js"
    ) in " ".join(human.stdout.split())
    refused = cli(env, "run", "--migrate", "--json")
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert "20990101000000_from_a_newer_indexer.js" in error
    assert "This Bazooka is behind that database" in error and "docs/maintainers.md" in error


def test_status_straight_after_creating_the_topics_reads_every_topic(env: dict[str, str]) -> None:
    """A fresh partition's leader may refuse requests for seconds after the metadata names it:
    the create step waits for that, and every read retries it, so nothing is "unreachable"."""
    created = cli(env, "run", "--create-kafka-topics", "--json")
    assert created.returncode == 0, created.stdout + created.stderr
    code, state = status(env)
    assert code == 0, state
    assert {t: info["records"] for t, info in state["kafka"]["topics"].items()} == dict.fromkeys(
        MANAGED_TOPICS, 0
    )


def test_status_reports_an_unreachable_service_without_crashing(env: dict[str, str]) -> None:
    code, state = status({**env, "DB_PORT": "1", "DB_HOSTNAME": "127.0.0.1"})
    assert code == 1
    assert "Cannot connect to PostgreSQL 127.0.0.1:1" in state["postgres"]["error"]
    assert "topics" in state["kafka"] and "keys" in state["redis"]


def _state(env: dict[str, str]) -> dict[str, Any]:
    """Everything a run could change: schema and bookkeeping, topics and offsets, Redis keys."""
    settings = make_settings(env)
    with connect(settings) as conn:
        knex = conn.execute("SELECT to_regclass('knex_migrations') IS NOT NULL").fetchone()
        rows = (
            conn.execute("SELECT name, batch FROM knex_migrations").fetchall()
            if knex and knex[0]
            else []
        )
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKER_URLS"]})
    topics = {
        name: len(meta.partitions)
        for name, meta in admin.list_topics(timeout=10).topics.items()
        if name in MANAGED_TOPICS
    }
    client = redis.Redis.from_url(env["REDIS_URL"])
    keys = {db: n["keys"] for db, n in client.info("keyspace").items()}
    return {"schema": fingerprint(dump(settings)), "knex": rows, "topics": topics, "keys": keys}


def test_plan_changes_nothing_and_matches_the_run(env: dict[str, str]) -> None:
    settings = make_settings(env)
    with connect(settings) as conn:
        migrator.migrate(conn, bundled()[:100])
    redis.Redis.from_url(env["REDIS_URL"], db=1).mset({"a": "1", "b": "2"})
    event = ["--migrate", "--create-kafka-topics", "--clear-redis", "--force"]
    before = _state(env)
    planned = cli(env, "plan", "--json", *event)
    assert planned.returncode == 0, planned.stderr
    assert _state(env) == before  # nothing changed
    plan = json.loads(planned.stdout)
    assert plan["dry_run"] is True
    assert [(s["name"], s["status"], s["destructive"]) for s in plan["steps"]] == [
        ("migrate", "planned", False),
        ("create_kafka_topics", "planned", False),
        ("clear_redis", "planned", True),
    ]
    dry = cli(env, "run", "--dry-run", "--json", *event)

    def timeless(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k != "duration_s"} for s in steps]

    assert timeless(json.loads(dry.stdout)["steps"]) == timeless(plan["steps"])

    done = cli(env, "run", "--json", *event)
    assert done.returncode == 0, done.stderr
    result = {s["name"]: s["details"] for s in json.loads(done.stdout)["steps"]}
    preview = {s["name"]: s["details"] for s in plan["steps"]}
    assert preview["migrate"]["migrations_to_apply"] == result["migrate"]["applied"]
    assert len(result["migrate"]["applied"]) == MIGRATIONS - 100
    assert (
        preview["create_kafka_topics"]["topics_to_create"]
        == result["create_kafka_topics"]["topics_to_create"]
    )
    assert (
        preview["clear_redis"]["keys_to_flush"]
        == result["clear_redis"]["keys_removed"]
        == {"db1": 2}
    )


def test_plan_of_destructive_steps_counts_what_would_go(env: dict[str, str]) -> None:
    settings = make_settings(env)
    run(BazookaEvent(migrate=True, create_kafka_topics=True), settings)
    with connect(settings) as conn:
        conn.execute(
            "INSERT INTO blocks VALUES (1, now()), (2, now()); "
            "INSERT INTO subaccounts VALUES (gen_random_uuid(), 'dydx1x', 0, now(), 1)"
        )
    producer = Producer({"bootstrap.servers": env["KAFKA_BROKER_URLS"]})
    for _ in range(4):
        producer.produce("to-websockets-trades", value=b"t")
    assert producer.flush(10) == 0
    before = _state(env)
    planned = cli(
        env, "plan", "--json", "--rollback", "--clear-db", "--clear-kafka-topics", "--force"
    )
    assert planned.returncode == 0, planned.stderr
    assert _state(env) == before
    details = {s["name"]: s["details"] for s in json.loads(planned.stdout)["steps"]}
    assert len(details["rollback"]["migrations_to_roll_back"]) == MIGRATIONS
    assert details["clear_db"]["rows_to_remove"] == {"blocks": 2, "subaccounts": 1}
    assert details["clear_kafka_topics"]["records_to_delete"]["to-websockets-trades"] == 4
    human = cli(env, "plan", "--rollback", "--clear-db", "--force")
    assert f"would roll back {MIGRATIONS} migration(s)" in human.stdout
    assert "would remove 3 row(s)" in human.stdout and "dry run: nothing changed" in human.stdout


def test_plan_after_reset_db_expects_every_migration(env: dict[str, str]) -> None:
    settings = make_settings(env)
    run(BazookaEvent(migrate=True), settings)
    planned = cli(env, "plan", "--json", "--reset-db", "--migrate", "--force")
    details = {s["name"]: s["details"] for s in json.loads(planned.stdout)["steps"]}
    assert details["migrate"]["count"] == MIGRATIONS


def test_progress_is_rendered_on_a_terminal_and_absent_from_json(env: dict[str, str]) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with RichProgress(console) as progress:
        report = run(BazookaEvent(migrate=True), make_settings(env), progress=progress)
    assert report.ok
    text = out.getvalue()
    assert "migrate" in text and "succeeded" in text and f"{MIGRATIONS}/{MIGRATIONS}" in text
    as_json = cli({**env, "DB_NAME": env["DB_NAME"]}, "run", "--json", "--migrate")
    json.loads(as_json.stdout)  # pure JSON: no progress, no table


class DwindlingContext(LambdaContextStub):
    """A Lambda context whose remaining time drops after ``calls`` questions."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 600_000 if self.calls >= 0 else 2_000


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if key.startswith(("DB_", "KAFKA_", "REDIS_")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("PREVENT_BREAKING_CHANGES_WITHOUT_FORCE", raising=False)
    return env


def test_lambda_stops_cleanly_mid_migration_with_the_lock_free(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAZOOKA_MIGRATE_REPLAY", "true")  # the baseline is one step: no "mid"
    # 1 check before the step, then one before each migration: time runs out before the 11th.
    with pytest.raises(OutOfTime) as err:
        lambda_handler.handler({"migrate": True, "create_kafka_topics": True}, DwindlingContext(11))
    message = str(err.value)
    assert "stopped inside: migrate" in message and "not run: create_kafka_topics" in message
    with psycopg.connect(
        host=lambda_env["DB_HOSTNAME"],
        port=int(lambda_env["DB_PORT"]),
        dbname=lambda_env["DB_NAME"],
        user=lambda_env["DB_USERNAME"],
        password=lambda_env["DB_PASSWORD"],
    ) as conn:
        assert conn.execute("SELECT count(*) FROM knex_migrations").fetchone() == (10,)
        assert conn.execute("SELECT is_locked FROM knex_migrations_lock").fetchone() == (0,)
    # The next invocation with time to spare completes the batch.
    response = lambda_handler.handler({"migrate": True}, DwindlingContext(10_000))
    assert (
        json.loads(response["body"])["report"]["steps"][0]["details"]["applied_count"]
        == MIGRATIONS - 10
    )


def test_lambda_with_too_little_time_runs_nothing(lambda_env: dict[str, str]) -> None:
    with pytest.raises(OutOfTime) as err:
        lambda_handler.handler({"migrate": True}, DwindlingContext(0))
    assert "Steps completed: none" in str(err.value) and "not run: migrate" in str(err.value)
    settings = make_settings(lambda_env)
    with connect(settings) as conn:
        assert conn.execute("SELECT to_regclass('knex_migrations')").fetchone() == (None,)


def test_lambda_single_transaction_batch_out_of_time_applies_nothing(
    lambda_env: dict[str, str],
) -> None:
    settings: Settings = make_settings(lambda_env)
    with connect(settings) as conn:
        migrator.migrate(conn, bundled()[:-1])  # the last one is transactional
    with pytest.raises(OutOfTime):
        lambda_handler.handler({"migrate": True}, DwindlingContext(1))
    with connect(settings) as conn:
        assert conn.execute("SELECT count(*) FROM knex_migrations").fetchone() == (MIGRATIONS - 1,)
        assert conn.execute("SELECT is_locked FROM knex_migrations_lock").fetchone() == (0,)
    report = run(BazookaEvent(migrate=True), settings)
    assert report.ok and report.steps[0].status == StepStatus.SUCCEEDED
    assert report.steps[0].details["applied_count"] == 1


# --- plans that foresee a failure exit 1, as the run would -------------------------------------


def _plan_json(env: dict[str, str], *flags: str) -> tuple[int, dict[str, Any]]:
    result = cli(env, "plan", "--json", *flags)
    return result.returncode, json.loads(result.stdout)


def test_plan_of_a_replication_factor_above_the_brokers_exits_1_as_the_run(
    env: dict[str, str],
) -> None:
    rf3 = {**env, "KAFKA_REPLICATION_FACTOR": "3"}  # the default, on the single broker
    code, plan = _plan_json(rf3, "--create-kafka-topics")
    assert code == 1
    (step,) = plan["steps"]
    assert step["status"] == "would_fail" and plan["ok"] is False
    assert "KAFKA_REPLICATION_FACTOR=3 exceeds the 1 broker(s)" in step["error"]
    assert "The plan foresees 1 step(s) failing" in plan["error"]
    human = cli(rf3, "plan", "--create-kafka-topics")
    assert human.returncode == 1
    text = " ".join(human.stdout.split())
    assert "would fail" in text and "KAFKA_REPLICATION_FACTOR=3 exceeds the 1 broker(s)" in text
    assert "Would fail: The plan foresees 1 step(s) failing" in text
    assert cli(rf3, "run", "--create-kafka-topics").returncode == 1  # as foreseen
    assert cli(env, "plan", "--create-kafka-topics").returncode == 0  # RF 1: fine


def test_plan_of_migrate_or_rollback_past_migrations_not_shipped_exits_1(
    env: dict[str, str],
) -> None:
    _migrated_by_a_newer_indexer(env)
    code, plan = _plan_json(env, "--migrate")
    assert code == 1 and plan["steps"][0]["status"] == "would_fail"
    assert "20990101000000_from_a_newer_indexer.js" in plan["steps"][0]["error"]
    assert "migrate would be refused" in plan["error"]

    code, plan = _plan_json(env, "--rollback", "--force")
    assert code == 1 and plan["steps"][0]["status"] == "would_fail"
    assert "so it has no down for them (20990101000000_from_a_newer_indexer.js)" in plan["error"]
    assert plan["steps"][0]["details"]["unknown_in_latest_batch"] == [
        "20990101000000_from_a_newer_indexer.js"
    ]
    assert cli(env, "run", "--rollback", "--force").returncode == 1  # as foreseen
    # Without force the rollback is refused first (exit 3), as the run would be.
    assert cli(env, "plan", "--rollback").returncode == 3


def test_plan_of_a_send_without_to_vulcan_exits_1(env: dict[str, str]) -> None:
    with connect(make_settings(env)) as conn:
        migrator.migrate(conn, bundled())
    code, plan = _plan_json(env, "--send-stateful-orders-to-vulcan")
    assert code == 1 and plan["steps"][0]["status"] == "would_fail"
    assert "topic to-vulcan does not exist" in plan["error"]
    # Creating the topics first in the same event: nothing foreseen.
    code, plan = _plan_json(env, "--create-kafka-topics", "--send-stateful-orders-to-vulcan")
    assert code == 0, plan


def test_plan_says_topics_above_target_are_left_as_they_are_and_exits_0(
    env: dict[str, str],
) -> None:
    """Kafka cannot shrink a topic; the run leaves it and succeeds, so the plan exits 0."""
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BROKER_URLS"]})
    admin.create_topics([NewTopic("to-ender", 2, 1)])["to-ender"].result()
    human = cli(env, "plan", "--create-kafka-topics")
    assert human.returncode == 0, human.stdout
    assert "topics_above_target: {'to-ender': {'partitions': 2, 'target': 1}}" in human.stdout
    report = run(BazookaEvent(create_kafka_topics=True), make_settings(env), dry_run=True)
    assert report.ok and report.steps[0].status is StepStatus.PLANNED
    assert (
        report.steps[0]
        .headline()
        .endswith(
            "; 1 topic(s) have more partitions than their target, left as they are since Kafka "
            "cannot shrink a topic: to-ender (2 > 1)"
        )
    )
    done = cli(env, "run", "--create-kafka-topics", "--json")
    assert done.returncode == 0
