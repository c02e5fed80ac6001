"""Fault campaign: faults injected at random (seeded) points of Bazooka's steps, then the
invariants, then the same event again without a person, then the invariants again.

    . <(python3 scripts/services.py env --cluster)   # the services, with the cluster
    .venv/bin/python bench/faults.py --seed 1          # the full campaign (>= 200 faults)
    .venv/bin/python bench/faults.py --short           # a few faults per scenario (CI)

Faults: SIGKILL of the ``bazooka`` process, ``pg_ctl restart -m immediate`` of PostgreSQL,
SIGKILL of the broker leading the most partitions of the cluster, SIGKILL and restart of Redis
(the last three through ``scripts/services.py``, on this checkout's own services only).
Every trial works on its own copy of a template database. Exit status 0 when every trial
recovered without a person and no invariant was violated. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg
import redis
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from bazooka.kafka.partitioner import java_partition
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.postgres import migrator
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import Migration, bundled
from bazooka.settings import Settings
from bazooka.vulcan import official
from bazooka.vulcan.orders import stream_open_stateful
from bazooka.vulcan.translate import to_fields

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_migrations import SEED  # noqa: E402

from tools.kafka_leaders import busiest_leader  # noqa: E402
from tools.schema_dump import dump, fingerprint  # noqa: E402
from tools.seeding import seed_orders  # noqa: E402

SERVICES = [sys.executable, str(ROOT / "scripts" / "services.py")]
BAZOOKA = [sys.executable, "-m", "bazooka"]
STEPS = json.loads((ROOT / "tests" / "snapshots" / "steps.json").read_text())
KNOWN = bundled()
RUN_TIMEOUT_S = 240.0  # a run past this is a hang: every configured timeout is far shorter
PREFIX = "bzf_"
FAULT_KINDS = ("kill-bazooka", "restart-postgres", "kill-leader-broker", "restart-redis")
AT_LEAST = re.compile(r"unknown: at least (\d+) record\(s\)")


# Faults per (scenario, kind) in the full campaign: 216 in all. Faults that cost minutes
# (a broker to restart, 200,000 orders to send twice) get fewer; the migrations most.
FULL_COUNTS: dict[str, dict[str, int]] = {
    "migrate (one transaction per migration)": {"kill-bazooka": 18, "restart-postgres": 18},
    "migrate (one transaction)": {"kill-bazooka": 12, "restart-postgres": 12},
    "migrate (baseline)": {"kill-bazooka": 8, "restart-postgres": 8},
    "rollback": {"kill-bazooka": 14, "restart-postgres": 14},
    "reset_db + migrate": {"kill-bazooka": 12, "restart-postgres": 12},
    "clear_db": {"kill-bazooka": 8, "restart-postgres": 8},
    "clear_kafka_topics (3 brokers)": {"kill-bazooka": 12, "kill-leader-broker": 4},
    "send_stateful_orders_to_vulcan": {
        "kill-bazooka": 2,
        "restart-postgres": 2,
        "kill-leader-broker": 2,
    },
    "clear_redis": {"kill-bazooka": 25, "restart-redis": 25},
}


# The short form (CI): one fault per scenario, of the kind that scenario is most about, with
# random points drawn within a fixed guess of the run's duration instead of a measured one.
SHORT_COUNTS: dict[str, dict[str, int]] = {
    "migrate (one transaction per migration)": {"kill-bazooka": 1, "restart-postgres": 1},
    "migrate (one transaction)": {"restart-postgres": 1},
    "migrate (baseline)": {"kill-bazooka": 1},
    "rollback": {"kill-bazooka": 1},
    "reset_db + migrate": {"kill-bazooka": 1},
    "clear_db": {"restart-postgres": 1},
    "clear_kafka_topics (3 brokers)": {"kill-leader-broker": 1},
    "send_stateful_orders_to_vulcan": {"kill-bazooka": 1},
    "clear_redis": {"restart-redis": 1},
}
SHORT_DURATION_S = 3.0


@dataclass(frozen=True)
class Size:
    """How much data a campaign uses."""

    rows: int  # clear_db
    orders: int  # send_stateful_orders_to_vulcan
    records_per_topic: int  # clear_kafka_topics
    keys: int  # clear_redis


FULL = Size(rows=1_000_000, orders=200_000, records_per_topic=2_000, keys=20_000)
SHORT = Size(rows=20_000, orders=5_000, records_per_topic=200, keys=2_000)


@dataclass
class Trial:
    """One fault: where it landed, what the faulted run did, and what the checks found."""

    scenario: str
    fault: str
    delay_s: float
    faulted_run: str = ""
    run_s: float = 0.0  # the faulted run's wall time
    after_end: bool = False  # the fault came after the run had ended
    violations: list[str] = field(default_factory=list)
    recovered: bool = False
    recover_s: float | None = None
    injected_at: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Run:
    """A finished (or killed) ``bazooka`` process."""

    code: int | None  # None: hung past RUN_TIMEOUT_S (then killed)
    report: dict[str, Any] | None
    stderr: str

    @property
    def outcome(self) -> str:
        if self.code is None:
            return "hung"
        if self.code == -signal.SIGKILL:
            return "killed"
        return "succeeded" if self.code == 0 else "failed"


# --- the services -----------------------------------------------------------------------------


def services(*args: str, state: str | None = None) -> None:
    """``scripts/services.py`` on this checkout's services (``state``: another state directory)."""
    env = None
    if state:  # another state directory: its own ports.json, not this shell's port variables
        env = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith("BAZOOKA_") and k.endswith("_PORT"))
        }
        env["BAZOOKA_LOCAL_DIR"] = state
    done = subprocess.run([*SERVICES, *args], capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"services.py {' '.join(args)} failed:\n{done.stderr}")


def cluster_brokers() -> str:
    brokers = os.environ.get("KAFKA_CLUSTER_BROKER_URLS")
    if not brokers:
        raise SystemExit("KAFKA_CLUSTER_BROKER_URLS not set: start the services with --cluster")
    return brokers


def _admin(brokers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": brokers, "broker.address.family": "v4"})


def _managed_partitions(brokers: str) -> dict[str, list[Any]]:
    """The managed topics' partition metadata, by topic."""
    metadata = _admin(brokers).list_topics(timeout=10)
    return {
        name: list(t.partitions.values())
        for name, t in metadata.topics.items()
        if name in MANAGED_TOPICS
    }


def wait_for_leaders(brokers: str, within_s: float = 60) -> bool:
    """Until every partition of the managed topics has a leader (after a broker died)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        parts = [p for partitions in _managed_partitions(brokers).values() for p in partitions]
        if parts and all(p.leader >= 0 and not p.error for p in parts):
            return True
        time.sleep(0.5)
    return False


def wait_in_sync(brokers: str, within_s: float = 180, replicas: int = 3) -> None:
    """Until every managed partition has a leader and every replica in sync: a broker started
    again must have caught up before the next one is killed, or a partition whose only in-sync
    replica dies is left without a leader (unclean election is off) until it comes back.
    A partition with fewer than ``replicas`` replicas (a topic some test created) stops it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        topics = _managed_partitions(brokers)
        parts = [p for partitions in topics.values() for p in partitions]
        short = {
            name
            for name, partitions in topics.items()
            if any(len(p.replicas) < replicas for p in partitions)
        }
        if short:
            raise SystemExit(
                f"{', '.join(sorted(short))}: fewer than {replicas} replicas; delete the "
                "managed topics of the cluster and run again"
            )
        if parts and all(
            p.leader >= 0 and not p.error and len(p.isrs) == len(p.replicas) for p in parts
        ):
            return
        time.sleep(0.5)
    raise SystemExit(f"the replicas of the managed topics were not in sync within {within_s} s")


# --- databases --------------------------------------------------------------------------------


class Databases:
    """Template databases prepared once; each trial gets a fresh copy of one."""

    def __init__(self, base: Settings) -> None:
        self.base = base

    def dsn(self, dbname: str) -> str:
        s = self.base
        return (
            f"host={s.db_hostname} port={s.db_port} dbname={dbname} user={s.db_username} "
            f"password={s.db_password.get_secret_value()}"
        )

    def admin(self, statement: str) -> None:
        for attempt in range(30):  # PostgreSQL may still be recovering from a restart
            try:
                with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
                    conn.execute(statement.encode())
                return
            except psycopg.OperationalError:
                if attempt == 29:
                    raise
                time.sleep(1)

    def settings(self, dbname: str) -> Settings:
        return self.base.replace(db_name=dbname)

    def template(self, name: str, fill: Callable[[Settings], None]) -> str:
        db = f"{PREFIX}t_{name}"
        self.admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{db}"')
        fill(self.settings(db))
        return db

    @contextmanager
    def copy_of(self, template: str) -> Iterator[Settings]:
        db = f"{PREFIX}{uuid.uuid4().hex[:10]}"
        self.admin(f'CREATE DATABASE "{db}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        try:
            yield self.settings(db)
        finally:
            self.admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    def drop_templates(self) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE datname LIKE %s", (PREFIX + "%",)
                )
            ]
        for db in names:
            self.admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def migrated(settings: Settings) -> None:
    with connect(settings) as conn:
        migrator.migrate(conn, KNOWN)


def env_for(settings: Settings, *, cluster: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_ENV", "LOG_LEVEL")}
    env["DB_NAME"] = settings.db_name
    if cluster:
        env["KAFKA_BROKER_URLS"] = cluster_brokers()
        env.pop("KAFKA_REPLICATION_FACTOR", None)
    return env


# --- running and faulting ---------------------------------------------------------------------


@dataclass
class Injected:
    """When the fault was injected, and whether the run had already ended then."""

    at: float | None = None
    after_end: bool = False


def run_bazooka(
    argv: list[str],
    env: dict[str, str],
    fault: Callable[[subprocess.Popen[str], Injected], None] | None,
) -> tuple[Run, Injected, float]:
    """Run ``argv`` while ``fault`` (it sleeps, then injects) runs beside it. Returns the run,
    when the fault was injected, and the run's wall time."""
    injected = Injected()

    def inject(proc: subprocess.Popen[str]) -> None:
        assert fault is not None
        fault(proc, injected)

    with tempfile.TemporaryDirectory(prefix="bzf-") as cwd:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        thread = threading.Thread(target=inject, args=(proc,)) if fault else None
        if thread is not None:
            thread.start()
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            code = None
        wall = time.monotonic() - started
        if thread is not None:
            thread.join()
    report: dict[str, Any] | None = None
    try:
        report = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        report = None
    return Run(code, report, err[-2000:]), injected, wall


def make_fault(
    kind: str, delay_s: float, brokers: str | None
) -> Callable[[subprocess.Popen[str], Injected], None] | None:
    """A function that sleeps ``delay_s`` then injects ``kind`` (None for ``none``), noting
    when, and whether the run had already ended at that moment."""
    if kind == "none":
        return None

    def inject(proc: subprocess.Popen[str], injected: Injected) -> None:
        time.sleep(delay_s)
        injected.at = time.monotonic()
        injected.after_end = proc.poll() is not None
        if kind == "kill-bazooka":
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        elif kind == "restart-postgres":
            services("restart-pg")
        elif kind == "restart-redis":
            # The Redis of REDIS_URL: in the test suite, the tests' own (tests/own_services.py).
            services("restart-redis", state=os.environ.get("BAZOOKA_REDIS_LOCAL_DIR"))
        elif kind == "kill-leader-broker":
            assert brokers is not None
            services("kill-broker", str(busiest_leader(brokers)))
        else:
            raise ValueError(kind)

    return inject


def faulted(t: Trial, argv: list[str], env: dict[str, str], brokers: str | None) -> Run:
    """The run with the trial's fault; records its outcome, wall time and when the fault came."""
    run, injected, wall = run_bazooka(argv, env, make_fault(t.fault, t.delay_s, brokers))
    t.faulted_run, t.run_s, t.after_end = run.outcome, wall, injected.after_end
    t.injected_at = injected.at
    if run.outcome == "hung":
        t.violations.append("the faulted run hung")
    return run


def rerun(t: Trial, argv: list[str], env: dict[str, str]) -> Run:
    """The same event again, without a person."""
    again, _, _ = run_bazooka(argv, env, None)
    t.recovered = again.code == 0
    if not t.recovered:
        t.violations.append(
            f"rerun failed: {(again.report or {}).get('error') or again.stderr[-300:]}"
        )
    if t.injected_at is not None:
        t.recover_s = time.monotonic() - t.injected_at
    return again


# --- invariants: database ---------------------------------------------------------------------


def _rows(settings: Settings, query: str) -> list[tuple[Any, ...]]:
    with connect(settings) as conn:
        return conn.execute(query).fetchall()


SESSIONS_END_WITHIN_S = 60.0


def sessions_ended(settings: Settings) -> list[str]:
    """Wait until no other session is connected to the database: a killed run's backend goes
    on with the statement it was given (the baseline's whole script, COMMIT included) and
    commits after its client died. Reading the bookkeeping and then the schema (two snapshots)
    while it does would see the two halves of one commit. A violation if it outlives the wait."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    deadline = time.monotonic() + SESSIONS_END_WITHIN_S
    while (others := _rows(settings, query)[0][0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if others:
        return [f"{others} session(s) still connected {SESSIONS_END_WITHIN_S:g} s after the fault"]
    return []


def database_invariants(
    settings: Settings, direction: str, target: int, *, after_rerun: bool
) -> tuple[list[str], bool]:
    """(violations, in_flight). The schema must be the reference fingerprint of the step that
    knex_migrations records (so nothing applied is unrecorded and nothing recorded is
    unapplied); after the rerun the lock must be free, no index invalid, the target reached.

    Right after a fault one state is allowed: the fault landed inside a migration that runs
    outside a transaction (CREATE INDEX CONCURRENTLY cannot run in one), which PostgreSQL leaves
    half done and unrecorded; that is ``in_flight`` and the rerun must repair it."""
    violations = sessions_ended(settings)
    exists = _rows(settings, "SELECT to_regclass('knex_migrations') IS NOT NULL")[0][0]
    recorded = (
        [r[0] for r in _rows(settings, "SELECT name FROM knex_migrations ORDER BY id")]
        if exists
        else []
    )
    names = [m.name for m in KNOWN]
    k = len(recorded)
    if recorded != names[:k]:
        violations.append(f"knex_migrations is not a prefix of the migrations: {recorded[-3:]}")
        return violations, False
    key = f"{k:03d}"
    expected = STEPS["down"].get(key) if direction == "down" else None
    expected = expected or STEPS["up"][key]
    actual = fingerprint(dump(settings, exclude_knex=True))
    in_flight = False
    if actual != expected:
        nxt: Migration | None = None
        if direction == "up" and k < len(KNOWN):
            nxt = KNOWN[k]
        elif direction == "down" and k > 0:
            nxt = KNOWN[k - 1]
        if not after_rerun and nxt is not None and not nxt.transaction:
            in_flight = True
        else:
            violations.append(f"schema differs from the reference after step {key}")
    if after_rerun:
        if k != target:
            violations.append(f"rerun left {k} migration(s) recorded, expected {target}")
        if (
            exists
            and _rows(settings, "SELECT count(*) FROM knex_migrations_lock WHERE is_locked <> 0")[
                0
            ][0]
        ):
            violations.append("the migration lock is still held after the rerun")
        invalid = _rows(settings, "SELECT count(*) FROM pg_index WHERE NOT indisvalid")[0][0]
        if invalid:
            violations.append(f"{invalid} invalid index(es) after the rerun")
    return violations, in_flight


def clear_db_invariants(settings: Settings, seeded: int, *, after_rerun: bool) -> list[str]:
    """All or nothing: every seeded row is there, or none is; none after the rerun."""
    ended = sessions_ended(settings)
    left = _rows(
        settings,
        "SELECT (SELECT count(*) FROM subaccounts) + (SELECT count(*) FROM orders) "
        "+ (SELECT count(*) FROM pnl_ticks) + (SELECT count(*) FROM candles)",
    )[0][0]
    violations = ended
    if after_rerun and left != 0:
        violations.append(f"{left} row(s) left after the rerun")
    if not after_rerun and left not in (0, seeded):
        violations.append(f"clear_db was partial: {left} of {seeded} row(s) left")
    if fingerprint(dump(settings, exclude_knex=True)) != STEPS["up"][f"{len(KNOWN):03d}"]:
        violations.append("schema changed")
    if _rows(settings, "SELECT count(*) FROM knex_migrations")[0][0] != len(KNOWN):
        violations.append("bookkeeping changed")
    return violations


# --- invariants: Kafka ------------------------------------------------------------------------


def produce_per_topic(brokers: str, per_topic: int) -> None:
    """``per_topic`` records into each managed topic; stops unless every one was acknowledged
    without error (``flush() == 0`` only says none is still waiting: a failed one is done)."""
    producer = Producer({"bootstrap.servers": brokers, "acks": "all", "linger.ms": 20})
    failed: list[str] = []

    def delivered(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            failed.append(f"{msg.topic()}[{msg.partition()}]: {err.name()}")

    for topic, partitions in MANAGED_TOPICS.items():
        for i in range(per_topic):
            producer.produce(
                topic, value=b"r%d" % i, partition=i % partitions, on_delivery=delivered
            )
        producer.poll(0)
    if producer.flush(120) != 0:
        raise SystemExit("records were not all acknowledged")
    if failed:
        raise SystemExit(f"{len(failed)} record(s) not delivered: {failed[:5]}")


def _watermarks(consumer: Consumer, tp: TopicPartition) -> tuple[int, int]:
    """A partition's watermarks, asked again while a leader moves (a broker was killed)."""
    for attempt in range(60):
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            if low >= 0 and high >= 0:
                return int(low), int(high)
        except Exception:
            if attempt == 59:
                raise
        time.sleep(1)
    raise SystemExit(f"no valid watermarks for {tp.topic}[{tp.partition}]")


def records_per_topic(brokers: str) -> dict[str, int] | None:
    """What each managed topic holds (high - low, from valid offsets), None if unreadable."""
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": "bzf-check", "broker.address.family": "v4"}
    )
    try:
        counts: dict[str, int] = {}
        for topic, partitions in MANAGED_TOPICS.items():
            total = 0
            for p in range(partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if low < 0 or high < 0:
                    return None
                total += high - low
            counts[topic] = total
        return counts
    except Exception:  # noqa: BLE001 - unreadable now: the caller says so
        return None
    finally:
        consumer.close()


def settled_records(brokers: str) -> dict[str, int] | None:
    """What each topic holds once it stops changing: a killed run's DeleteRecords may still be
    on its way to the broker, and lands after its client died."""
    last = records_per_topic(brokers)
    for _ in range(10):
        time.sleep(1)
        now = records_per_topic(brokers)
        if now == last:
            return now
        last = now
    return last


def _known_part(figure: object) -> int | None:
    """The number a figure gives: itself, or N of ``unknown: at least N record(s); ...``."""
    if isinstance(figure, int):
        return figure
    if isinstance(figure, str) and (m := AT_LEAST.match(figure)):
        return int(m.group(1))
    return None


def reported_counts_true(report: dict[str, Any] | None, truth: dict[str, int] | None) -> list[str]:
    """A clear report's figures against what the topics held (``truth``): each topic the clear
    emptied reports exactly what it held; a topic it did not finish reports a number (or an
    "at least N" with the unknown partitions) no larger than that; the total is the sum of the
    topics; a run that succeeded accounts for every record and says nothing is unknown."""
    if report is None or truth is None:
        return []
    steps = [s for s in report.get("steps", []) if s.get("name") == "clear_kafka_topics"]
    if not steps:
        return []
    details = steps[0].get("details") or {}
    figures: dict[str, Any] = details.get("records_removed") or {}
    unfinished = set(details.get("failed_topics") or {}) | set(details.get("stopped_topics") or {})
    wrong = []
    for topic, figure in figures.items():
        known, held = _known_part(figure), truth.get(topic)
        if known is None or held is None:
            wrong.append(f"{topic}: reported {figure!r} (truth {held})")
        elif topic not in unfinished and figure != held:
            wrong.append(f"{topic}: reported {figure!r} for a topic it emptied, truth {held}")
        elif known > held:
            wrong.append(f"{topic}: reported {figure!r}, more than the {held} it held")
    total = details.get("total_records_removed")
    known_total = _known_part(total)
    parts = [_known_part(f) for f in figures.values()]
    if known_total is None or None in parts:
        wrong.append(f"total: reported {total!r}")
    elif known_total != sum(p for p in parts if p is not None):
        wrong.append(f"total {total!r} is not the sum of the topics")
    if steps[0].get("status") == "succeeded":
        if figures != {t: n for t, n in truth.items() if t in MANAGED_TOPICS}:
            wrong.append(f"a success reported {figures}, truth {truth}")
        if total != sum(truth.values()) or details.get("partitions_unknown"):
            wrong.append(f"a success reported the total {total!r}, truth {sum(truth.values())}")
    return [f"reported count differs from the truth: {w}" for w in wrong]


# --- invariants: Vulcan -----------------------------------------------------------------------


def expected_messages(settings: Settings) -> dict[bytes, list[bytes]]:
    """Order key -> the values Bazooka must send for it, in order (place, then update)."""
    expected: dict[bytes, list[bytes]] = {}
    with connect(settings) as conn, conn.transaction():
        for batch in stream_open_stateful(conn, 5_000):
            for row in batch:
                # The official v4-proto classes, not the send's own encoder: the oracle.
                messages = official.encode(to_fields(row))
                values = [messages.place]
                if messages.update is not None:
                    values.append(messages.update)
                expected[messages.key] = values
    return expected


def vulcan_invariants(brokers: str, expected: dict[bytes, list[bytes]]) -> tuple[list[str], int]:
    """Every order's place message present at least once in its Java partition, each update
    after a place of its order. Returns (violations, duplicates)."""
    partitions = MANAGED_TOPICS[TO_VULCAN]
    consumer = Consumer(
        {
            "bootstrap.servers": brokers,
            "group.id": f"bzf-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "broker.address.family": "v4",
        }
    )
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    wait_for_leaders(brokers)
    for p in range(partitions):
        low, high = _watermarks(consumer, TopicPartition(TO_VULCAN, p))
        if high > low:
            starts[p], ends[p] = low, high
    consumer.assign([TopicPartition(TO_VULCAN, p, starts[p]) for p in ends])
    seen: dict[bytes, list[tuple[int, bytes]]] = defaultdict(list)
    done: set[int] = set()
    deadline = time.monotonic() + 300
    while len(done) < len(ends) and time.monotonic() < deadline:
        for message in consumer.consume(10_000, 1.0):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise SystemExit(f"consume failed: {error}")
                continue
            partition, offset, key = message.partition(), message.offset(), message.key()
            if partition is None or offset is None:
                continue
            if isinstance(key, bytes):
                seen[key].append((partition, message.value() or b""))
            if offset + 1 >= ends[partition]:
                done.add(partition)
    consumer.close()
    violations: list[str] = []
    if len(done) < len(ends):
        violations.append("could not read to-vulcan to its end")
    duplicates = 0
    bad: Counter[str] = Counter()
    for key, values in expected.items():
        got = seen.get(key, [])
        want_partition = java_partition(key, partitions)
        if any(p != want_partition for p, _ in got):
            bad["in the wrong partition"] += 1
        place, *updates = values
        sequence = [v for _, v in got]
        if place not in sequence:
            bad["place message missing"] += 1
            continue
        for update in updates:
            positions = [i for i, v in enumerate(sequence) if v == update]
            if not positions or positions[-1] < sequence.index(place):
                bad["update missing or before its place"] += 1
        duplicates += len(sequence) - len(values)
    violations += [f"{n} order(s): {what}" for what, n in bad.items()]
    return violations, duplicates


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """An event, the data it starts from, the faults it gets and the checks after them."""

    name: str
    faults: tuple[str, ...]
    trial: Callable[[str, float], Trial]


class Campaign:
    def __init__(self, size: Size, rng: random.Random) -> None:
        self.size = size
        self.rng = rng
        self.dbs = Databases(Settings.from_env())
        self.brokers = cluster_brokers()
        self.templates: dict[str, str] = {}
        self.durations: dict[str, float] = {}
        self.one_transaction = next(i for i, m in enumerate(KNOWN) if not m.transaction)

    # templates -----------------------------------------------------------------------------

    def prepare(self) -> None:
        say("preparing template databases and topics")
        self.dbs.drop_templates()
        self.templates["empty"] = self.dbs.template("empty", lambda s: None)
        self.templates["full"] = self.dbs.template("full", migrated)
        rows = self.size.rows

        def with_rows(s: Settings) -> None:
            migrated(s)
            counts = {
                "subaccounts": rows // 20,
                "orders": rows * 4 // 10,
                "pnl_ticks": rows * 3 // 10,
                "candles": rows - rows // 20 - rows * 4 // 10 - rows * 3 // 10,
            }
            with psycopg.connect(self.dbs.dsn(s.db_name), autocommit=True) as conn:
                conn.execute(SEED.format(**counts).encode())

        self.templates["rows"] = self.dbs.template("rows", with_rows)

        def with_orders(s: Settings) -> None:
            migrated(s)
            with psycopg.connect(self.dbs.dsn(s.db_name), autocommit=True) as conn:
                seed_orders(conn, self.size.orders, 2_000, random.Random(7))

        self.templates["orders"] = self.dbs.template("orders", with_orders)
        env = env_for(self.dbs.settings(self.templates["empty"]), cluster=True)
        created, _, _ = run_bazooka([*BAZOOKA, "run", "--create-kafka-topics", "--json"], env, None)
        if created.code != 0:
            raise SystemExit(f"could not create the topics on the cluster: {created.stderr}")

    def delay(self, scenario: str) -> float:
        """A random point within the calibrated duration of the scenario's run."""
        return self.rng.uniform(0.05, max(0.3, self.durations.get(scenario, 2.0)))

    # the trials ----------------------------------------------------------------------------

    def migration_trial(
        self, name: str, template: str, argv: list[str], direction: str, target: int
    ) -> Callable[[str, float], Trial]:
        def trial(kind: str, delay: float) -> Trial:
            t = Trial(name, kind, delay)
            with self.dbs.copy_of(self.templates[template]) as s:
                env = env_for(s, cluster=False)
                first = faulted(t, argv, env, None)
                strict = first.outcome == "succeeded"
                found, in_flight = database_invariants(s, direction, target, after_rerun=strict)
                t.violations += [f"after the fault: {v}" for v in found]
                if in_flight:
                    t.notes.append("in flight: a no-transaction migration")
                rerun(t, argv, env)
                found, _ = database_invariants(s, direction, target, after_rerun=True)
                t.violations += [f"after the rerun: {v}" for v in found]
            return t

        return trial

    def clear_db_trial(self, kind: str, delay: float) -> Trial:
        t = Trial("clear_db", kind, delay)
        argv = [*BAZOOKA, "run", "--clear-db", "--force", "--json"]
        with self.dbs.copy_of(self.templates["rows"]) as s:
            env = env_for(s, cluster=False)
            first = faulted(t, argv, env, None)
            found = clear_db_invariants(s, self.size.rows, after_rerun=first.outcome == "succeeded")
            t.violations += [f"after the fault: {v}" for v in found]
            rerun(t, argv, env)
            t.violations += [
                f"after the rerun: {v}" for v in clear_db_invariants(s, 0, after_rerun=True)
            ]
        return t

    def kafka_trial(self, kind: str, delay: float) -> Trial:
        t = Trial("clear_kafka_topics (3 brokers)", kind, delay)
        argv = [*BAZOOKA, "run", "--clear-kafka-topics", "--force", "--json"]
        env = env_for(self.dbs.settings(self.templates["empty"]), cluster=True)
        try:
            wait_in_sync(self.brokers)  # the broker a previous trial killed has caught up
            produce_per_topic(self.brokers, self.size.records_per_topic)
            truth = records_per_topic(self.brokers)
            first = faulted(t, argv, env, self.brokers)
            t.violations += reported_counts_true(first.report, truth)
            wait_for_leaders(self.brokers)
            before = settled_records(self.brokers)
            if first.outcome == "succeeded" and before and any(before.values()):
                t.violations.append(f"false success: records left {before}")
            again = rerun(t, argv, env)
            if t.recovered:
                t.violations += reported_counts_true(again.report, before)
                wait_for_leaders(self.brokers)
                after = records_per_topic(self.brokers)
                if after is None or any(after.values()):
                    t.violations.append(f"after the rerun: partitions not empty: {after}")
        finally:
            services("start", "--only", "cluster")  # a killed broker comes back
        return t

    def vulcan_trial(self, kind: str, delay: float) -> Trial:
        t = Trial("send_stateful_orders_to_vulcan", kind, delay)
        argv = [*BAZOOKA, "run", "--send-stateful-orders-to-vulcan", "--json"]
        clear = [*BAZOOKA, "run", "--clear-kafka-topics", "--force", "--json"]
        try:
            with self.dbs.copy_of(self.templates["orders"]) as s:
                env = env_for(s, cluster=True)
                cleared, _, _ = run_bazooka(clear, env, None)
                if cleared.code != 0:
                    raise SystemExit(f"could not clear the topics: {cleared.stderr}")
                expected = expected_messages(s)
                first = faulted(t, argv, env, self.brokers)
                if first.outcome == "succeeded":
                    found, _ = vulcan_invariants(self.brokers, expected)
                    t.violations += [f"false success: {v}" for v in found]
                rerun(t, argv, env)
                found, duplicates = vulcan_invariants(self.brokers, expected)
                t.violations += [f"after the rerun: {v}" for v in found]
                t.notes.append(f"duplicates: {duplicates}")
        finally:
            services("start", "--only", "cluster")
        return t

    def redis_trial(self, kind: str, delay: float) -> Trial:
        t = Trial("clear_redis", kind, delay)
        argv = [*BAZOOKA, "run", "--clear-redis", "--force", "--json"]
        env = env_for(self.dbs.settings(self.templates["empty"]), cluster=False)
        client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=30)
        pipe = client.pipeline(transaction=False)
        for i in range(self.size.keys):
            pipe.set(f"k{i}", "v")
        pipe.execute()
        first = faulted(t, argv, env, None)
        client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=30)
        if first.outcome == "succeeded" and client.dbsize():
            t.violations.append(f"false success: {client.dbsize()} key(s) left")
        rerun(t, argv, env)
        if t.recovered and client.dbsize():
            t.violations.append(f"after the rerun: {client.dbsize()} key(s) left")
        return t

    def scenarios(self) -> list[Scenario]:
        pg = ("kill-bazooka", "restart-postgres")
        one = self.one_transaction
        return [
            Scenario(
                "migrate (one transaction per migration)",
                pg,
                self.migration_trial(
                    "migrate (one transaction per migration)",
                    "empty",
                    # The replay: an empty database otherwise gets the baseline (below).
                    [*BAZOOKA, "run", "--migrate", "--replay", "--json"],
                    "up",
                    len(KNOWN),
                ),
            ),
            Scenario(
                "migrate (one transaction)",
                pg,
                self.migration_trial(
                    "migrate (one transaction)",
                    "empty",
                    [sys.executable, __file__, "child-migrate", str(one)],
                    "up",
                    one,
                ),
            ),
            Scenario(
                "migrate (baseline)",
                pg,
                self.migration_trial(
                    "migrate (baseline)",
                    "empty",
                    [*BAZOOKA, "run", "--migrate", "--json"],
                    "up",
                    len(KNOWN),
                ),
            ),
            Scenario(
                "rollback",
                pg,
                self.migration_trial(
                    "rollback",
                    "full",
                    [*BAZOOKA, "run", "--rollback", "--force", "--json"],
                    "down",
                    0,
                ),
            ),
            Scenario(
                "reset_db + migrate",
                pg,
                self.migration_trial(
                    "reset_db + migrate",
                    "full",
                    [*BAZOOKA, "run", "--reset-db", "--migrate", "--force", "--json"],
                    "up",
                    len(KNOWN),
                ),
            ),
            Scenario("clear_db", pg, self.clear_db_trial),
            Scenario(
                "clear_kafka_topics (3 brokers)",
                ("kill-bazooka", "kill-leader-broker"),
                self.kafka_trial,
            ),
            Scenario(
                "send_stateful_orders_to_vulcan",
                ("kill-bazooka", "restart-postgres", "kill-leader-broker"),
                self.vulcan_trial,
            ),
            Scenario("clear_redis", ("kill-bazooka", "restart-redis"), self.redis_trial),
        ]


def child_migrate(count: int) -> int:
    """The migrate step through the Python API on the first ``count`` migrations (all of them
    transactional: one transaction), as a process the campaign can kill."""
    settings = Settings.from_env()
    with connect(settings) as conn:
        try:
            result = migrator.migrate(conn, KNOWN[:count], reconnect=lambda: connect(settings))
        except Exception as exc:  # noqa: BLE001 - reported as the CLI would
            print(json.dumps({"ok": False, "error": str(exc)}))
            return 1
    print(json.dumps({"ok": True, "steps": [{"name": "migrate", "details": result.to_dict()}]}))
    return 0


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--orders", type=int, help="open orders for the Vulcan scenario (default 200000)"
    )
    parser.add_argument("--short", action="store_true", help="small data, one fault per scenario")
    parser.add_argument("--only", help="comma-separated scenario name prefixes")
    parser.add_argument("--results", type=Path, help="append each trial to this file (JSON lines)")
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--table-from", type=Path, help="print the table of a --results file")
    args = parser.parse_args(argv)
    if args.command[:1] == ["child-migrate"]:
        return child_migrate(int(args.command[1]))
    if args.table_from is not None:
        lines = args.table_from.read_text().splitlines()
        print_table([Trial(**json.loads(line)) for line in lines if line.strip()])
        return 0
    rng = random.Random(args.seed)
    size = SHORT if args.short else FULL
    if args.orders:
        size = replace(size, orders=args.orders)
    campaign = Campaign(size, rng)
    campaign.prepare()
    chosen = [
        s
        for s in campaign.scenarios()
        if not args.only or any(s.name.startswith(p) for p in args.only.split(","))
    ]
    table = SHORT_COUNTS if args.short else FULL_COUNTS
    counts = {(s.name, k): table[s.name].get(k, 0) for s in chosen for k in s.faults}
    rounds = max(counts.values())
    trials: list[Trial] = []
    try:
        for scenario in chosen:
            if args.short:
                campaign.durations[scenario.name] = SHORT_DURATION_S
                continue
            campaign.durations[scenario.name] = measure(scenario)
            say(f"== {scenario.name}: a run takes {campaign.durations[scenario.name]:.2f} s")
        # Round after round over every (scenario, fault), so that a campaign cut short still
        # covers every scenario.
        for round_ in range(rounds):
            for scenario, kind in [(s, k) for s in chosen for k in s.faults]:
                if counts[scenario.name, kind] <= round_:
                    continue
                trial = scenario.trial(kind, campaign.delay(scenario.name))
                trials.append(trial)
                if trial.after_end and trial.faulted_run == "succeeded":
                    # A whole run without a fault: how long the event takes right now (this
                    # machine's speed moves), so that the next points fall within a run.
                    campaign.durations[scenario.name] = trial.run_s
                if args.results is not None:
                    with args.results.open("a") as out:
                        out.write(json.dumps(asdict(trial)) + "\n")
                say(
                    f"   {scenario.name[:24]:<24} {kind:<19} at {trial.delay_s:5.2f} s: run "
                    f"{trial.faulted_run:<9} rerun {'ok' if trial.recovered else 'FAILED':<6} "
                    f"violations {len(trial.violations)} {'; '.join(trial.violations)} "
                    f"{'; '.join(trial.notes)}"
                )
    finally:
        campaign.dbs.drop_templates()
    print_table(trials)
    bad = [t for t in trials if t.violations or not t.recovered]
    return 1 if bad else 0


def measure(scenario: Scenario) -> float:
    """Seconds one run of the scenario's event takes without a fault (a trial of its own,
    not counted), so that the random points fall within a run."""
    trial = scenario.trial("none", 0.0)
    if trial.violations or not trial.recovered:
        raise SystemExit(f"{scenario.name} fails without any fault: {trial.violations}")
    return trial.run_s


def print_table(trials: list[Trial]) -> None:
    by: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        by[t.scenario].append(t)
    header = (
        f"{'scenario':<42} {'faults':>6} {'recovered':>9} {'violations':>10} "
        f"{'median recover s':>16}  faults by kind; faulted runs"
    )
    print(header)
    print("-" * len(header))
    for name, group in by.items():
        times = [t.recover_s for t in group if t.recover_s is not None]
        kinds = Counter(t.fault for t in group)
        outcomes = Counter(t.faulted_run for t in group)
        in_flight = sum(1 for t in group if t.notes and t.notes[0].startswith("in flight"))
        extra = f"; in flight {in_flight}" if in_flight else ""
        late = sum(1 for t in group if t.after_end)
        extra += f"; after the run ended {late}" if late else ""
        dups = [int(n.split(": ")[1]) for t in group for n in t.notes if n.startswith("dup")]
        if dups:
            extra += (
                f"; duplicates per resend: median {statistics.median(dups):.0f}, max {max(dups)}"
            )
        print(
            f"{name:<42} {len(group):>6} {sum(t.recovered for t in group):>9} "
            f"{sum(len(t.violations) for t in group):>10} "
            f"{statistics.median(times) if times else float('nan'):>16.2f}  "
            + ", ".join(f"{k} {n}" for k, n in kinds.items())
            + "; "
            + ", ".join(f"{k} {n}" for k, n in outcomes.items())
            + extra
        )
    total = len(trials)
    print(
        f"{'total':<42} {total:>6} {sum(t.recovered for t in trials):>9} "
        f"{sum(len(t.violations) for t in trials):>10}"
    )


if __name__ == "__main__":
    sys.exit(main())
