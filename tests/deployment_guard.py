"""The local deployment's state, recorded before the test suite and compared after it.

``scripts/deploy-local.sh`` and ``scripts/test.sh`` run in one checkout share one PostgreSQL
server, one Kafka broker and one Redis. The tests must never write into what the deployment
uses: its databases (``dydx_dev`` and any other one that is not a scratch database of the tests
or benchmarks), the topics of its broker, the keys of its Redis. The suite gives the tests a
broker, a Redis and a database of their own (``tests/own_services.py``); this module proves it:
:func:`snapshot` records, per database, the schema's catalog versions, every table's row count
and every sequence's value; per topic of the broker, each partition's low and high watermark;
per Redis database, every key with a digest of its value. :func:`differences` names what
changed. ``tests/conftest.py`` takes a snapshot when the session starts and fails the session
when the one at its end differs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from psycopg import sql

from bazooka.settings import Settings

# Scratch databases of the tests and benchmarks (tests/helpers.py, bench/*.py): not the
# deployment's, created and dropped while the suite runs.
SCRATCH_PREFIXES = ("bz_", "bzf_")
REDIS_KEYS_DIGESTED = 10_000  # per database; beyond, only the key count is compared
KAFKA_TIMEOUT_S = 10.0

_CATALOG = """
SELECT md5(coalesce(string_agg(s, ',' ORDER BY s), '')) FROM (
  SELECT 'c' || c.oid::text || ':' || c.xmin::text AS s FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL
  SELECT 'n' || n.oid::text || ':' || n.xmin::text FROM pg_namespace n
  UNION ALL
  SELECT 'p' || p.oid::text || ':' || p.xmin::text FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
) catalog
"""
_TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY 1, 2
"""


@dataclass
class Snapshot:
    """What the deployment holds at one moment (see the module docstring)."""

    databases: dict[str, dict[str, Any]] = field(default_factory=dict)
    topics: dict[str, dict[int, tuple[int, int]]] | str = field(default_factory=dict)
    redis_keys: dict[int, dict[str, str] | int] | str = field(default_factory=dict)


def snapshot(settings: Settings) -> Snapshot:
    """Record the databases of the settings' server, the topics of its broker(s) and the keys
    of its Redis. An unreachable system is recorded as the reason (compared like a value)."""
    return Snapshot(
        databases=_databases(settings),
        topics=_topics(settings),
        redis_keys=_redis(settings.redis_url.get_secret_value()),
    )


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed between two snapshots, one line per database, topic or Redis database."""
    out: list[str] = []
    for name in sorted(before.databases.keys() | after.databases.keys()):
        was, now = before.databases.get(name), after.databases.get(name)
        if was is None:
            continue  # created during the session: not the deployment's
        if now is None:
            out.append(f"database {name!r} was dropped")
            continue
        for part in sorted(was.keys() | now.keys()):
            if was.get(part) != now.get(part):
                out.append(
                    f"database {name!r}: {part} changed: {was.get(part)!r} -> {now.get(part)!r}"
                )
    out += _compare("topic", before.topics, after.topics)
    out += _compare("Redis database", before.redis_keys, after.redis_keys)
    return out


def _compare(kind: str, was: Mapping[Any, Any] | str, now: Mapping[Any, Any] | str) -> list[str]:
    if isinstance(was, str) or isinstance(now, str):
        return [] if was == now else [f"{kind}s: {was!r} -> {now!r}"]
    out = []
    for key in sorted(was.keys() | now.keys(), key=str):
        if key not in now:
            out.append(f"{kind} {key!r} is gone")
        elif key not in was:
            out.append(f"{kind} {key!r} appeared: {_short(now[key])}")
        elif was[key] != now[key]:
            out.append(f"{kind} {key!r} changed: {_short(was[key])} -> {_short(now[key])}")
    return out


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- PostgreSQL ---------------------------------------------------------------------------------


def _dsn(settings: Settings, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.db_hostname,
        port=settings.db_port,
        dbname=dbname,
        user=settings.db_username,
        password=settings.db_password.get_secret_value(),
        connect_timeout=10,
    )


def deployment_databases(settings: Settings) -> list[str]:
    """The server's databases that are not scratch databases of the tests or benchmarks."""
    with psycopg.connect(_dsn(settings, "postgres"), autocommit=True) as conn:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"
            ).fetchall()
        ]
    return [n for n in names if not n.startswith(SCRATCH_PREFIXES) and n != "template1"]


def _databases(settings: Settings) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in deployment_databases(settings):
        try:
            out[name] = database_state(settings, name)
        except psycopg.OperationalError as exc:  # dropped meanwhile: say so
            out[name] = {"unreadable": str(exc).splitlines()[0]}
    return out


def database_state(settings: Settings, name: str) -> dict[str, Any]:
    """One database: its catalog's row versions (any DDL changes them), every table's row
    count and every sequence's value (any write changes one of them)."""
    with psycopg.connect(_dsn(settings, name), autocommit=True) as conn:
        row = conn.execute(_CATALOG).fetchone()
        tables = conn.execute(_TABLES).fetchall()
        rows: dict[str, int] = {}
        for schema, table in tables:
            counted = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            ).fetchone()
            rows[f"{schema}.{table}"] = int(counted[0]) if counted else -1
        sequences = {
            f"{r[0]}.{r[1]}": r[2]
            for r in conn.execute(
                "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
            ).fetchall()
        }
    return {"catalog": row[0] if row else None, "rows": rows, "sequences": sequences}


# --- Kafka --------------------------------------------------------------------------------------


def _topics(settings: Settings) -> dict[str, dict[int, tuple[int, int]]] | str:
    admin = AdminClient(
        {"bootstrap.servers": settings.kafka_broker_urls, "broker.address.family": "v4"}
    )
    try:
        metadata = admin.list_topics(timeout=KAFKA_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - recorded as the state
        return f"unreachable: {exc}"

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_broker_urls,
            "group.id": "bazooka-tests-deployment-guard",
            "enable.auto.commit": False,
            "broker.address.family": "v4",
        }
    )
    out: dict[str, dict[int, tuple[int, int]]] = {}
    try:
        for name, topic in sorted(metadata.topics.items()):
            if name.startswith("__"):
                continue  # Kafka's own (consumer offsets)
            marks = {}
            try:
                for partition in sorted(topic.partitions):
                    low, high = consumer.get_watermark_offsets(
                        TopicPartition(name, partition), timeout=KAFKA_TIMEOUT_S
                    )
                    marks[partition] = (int(low), int(high))
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
                continue  # deleted while being read (metadata lags a deletion): absent
            out[name] = marks
    finally:
        consumer.close()
    return out


# --- Redis --------------------------------------------------------------------------------------


def _redis(url: str) -> dict[int, dict[str, str] | int] | str:
    try:
        client = redis.Redis.from_url(url, socket_timeout=10)
        keyspace = client.info("keyspace")
    except redis.RedisError as exc:
        return f"unreachable: {exc}"
    out: dict[int, dict[str, str] | int] = {}
    for db_name, info in keyspace.items():
        db = int(str(db_name).removeprefix("db"))
        count = int(info["keys"])
        if count > REDIS_KEYS_DIGESTED:
            out[db] = count
            continue
        one = redis.Redis.from_url(url, db=db, socket_timeout=10)
        digests: dict[str, str] = {}
        for key in one.scan_iter(count=1000):
            dumped = one.dump(key)
            digest = hashlib.sha256(dumped).hexdigest()[:16] if isinstance(dumped, bytes) else ""
            digests[key.decode(errors="replace") if isinstance(key, bytes) else str(key)] = digest
        out[db] = digests
    return out
