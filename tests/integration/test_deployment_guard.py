"""The suite runs on services of its own, and its guard sees any write into the deployment's.

``tests/conftest.py`` records the local deployment (the databases, broker topics and Redis keys
of the services the suite was given) before the first test and fails the session when they
differ after the last. These tests check both halves: that the tests are pointed elsewhere, and
that the guard's record changes with each kind of write a test could make.
"""

from __future__ import annotations

import os
import uuid

import redis
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bazooka.postgres import migrator
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled
from tests import deployment_guard, own_services
from tests.deployment_guard import Snapshot
from tests.helpers import make_settings, service_env


def test_the_tests_use_a_broker_a_redis_and_a_database_of_their_own() -> None:
    env = service_env()
    deployment = own_services.deployment_env()
    for name in own_services.REDIRECTED:
        assert env[name] != deployment[name], name
    assert env["DB_NAME"].startswith(deployment_guard.SCRATCH_PREFIXES)
    assert deployment["DB_NAME"] in deployment_guard.deployment_databases(make_settings(deployment))


def test_the_guard_sees_rows_ddl_and_sequences_change(scratch_db: dict[str, str]) -> None:
    settings = make_settings(scratch_db)
    with connect(settings) as conn:
        migrator.migrate(conn, bundled()[:20])
    name = settings.db_name
    first = Snapshot(databases={name: deployment_guard.database_state(settings, name)})
    with connect(settings) as conn:
        conn.execute("INSERT INTO blocks VALUES (1, now())")
    rows = Snapshot(databases={name: deployment_guard.database_state(settings, name)})
    assert deployment_guard.differences(first, rows) == [
        f"database {name!r}: rows changed: "
        f"{first.databases[name]['rows']!r} -> {rows.databases[name]['rows']!r}"
    ]
    with connect(settings) as conn:
        conn.execute("CREATE INDEX by_hand ON blocks (time)")
    ddl = Snapshot(databases={name: deployment_guard.database_state(settings, name)})
    assert [line.split(":")[1] for line in deployment_guard.differences(rows, ddl)] == [
        " catalog changed"
    ]
    with connect(settings) as conn:
        conn.execute("CREATE SEQUENCE counter")
    created = Snapshot(databases={name: deployment_guard.database_state(settings, name)})
    with connect(settings) as conn:
        conn.execute("SELECT nextval('counter')")
    used = Snapshot(databases={name: deployment_guard.database_state(settings, name)})
    assert [line.split(":")[1] for line in deployment_guard.differences(created, used)] == [
        " sequences changed"
    ]
    gone = Snapshot(databases={})
    assert deployment_guard.differences(first, gone) == [f"database {name!r} was dropped"]


def test_the_guard_sees_records_and_topics_on_the_broker() -> None:
    settings = make_settings(service_env())  # the tests' own broker stands in
    topic = f"bz-guard-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_broker_urls})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result()
    try:
        before = deployment_guard.snapshot(settings)
        assert isinstance(before.topics, dict) and before.topics[topic] == {0: (0, 0), 1: (0, 0)}
        producer = Producer({"bootstrap.servers": settings.kafka_broker_urls})
        producer.produce(topic, value=b"x", partition=1)
        assert producer.flush(10) == 0
        after = deployment_guard.snapshot(settings)
        assert f"topic {topic!r} changed: {{0: (0, 0), 1: (0, 0)}} -> {{0: (0, 0), 1: (0, 1)}}" in (
            deployment_guard.differences(before, after)
        )
    finally:
        admin.delete_topics([topic])[topic].result()


def test_the_guard_sees_redis_keys_written_changed_and_flushed() -> None:
    settings = make_settings(service_env())  # the tests' own Redis stands in
    client = redis.Redis.from_url(os.environ["REDIS_URL"], db=7)
    client.flushdb()
    client.set("kept", "1")
    before = deployment_guard.snapshot(settings)
    client.set("kept", "2")
    changed = deployment_guard.snapshot(settings)
    assert any(
        line.startswith("Redis database 7 changed")
        for line in deployment_guard.differences(before, changed)
    )
    client.flushdb()
    flushed = deployment_guard.snapshot(settings)
    assert "Redis database 7 is gone" in deployment_guard.differences(before, flushed)
