"""Where the CPU of ``send_stateful_orders_to_vulcan`` goes, stage by stage, and its floor.

The send shares two cores with PostgreSQL and the Kafka broker, so its wall time is bounded
below by the CPU all three need. This benchmark seeds N orders the way ``bench_vulcan.py``
does, then, in this process and in the step's kind of snapshot transaction, measures:

1. **read**: stream the orders query (:func:`bazooka.vulcan.orders.stream_open_stateful`)
   and discard the rows: the client's CPU and the PostgreSQL backend's CPU;
2. **read + convert + encode**: the same, each row converted and encoded as the send does;
3. **produce**: the same number of messages (N orders + their fill updates, real encoded
   messages cycled) through the send's producer (:class:`bazooka.kafka.producer.AckedProducer`,
   one delivery report per message), with no database: the client's CPU (librdkafka's threads
   included) and the broker's;
4. **whole share**: :func:`bazooka.vulcan.share.send_share` with one process, all three.

The **floor** is what stays whatever Bazooka's own Python does: PostgreSQL's CPU for the
query, the broker's CPU for the records, and the producer library's CPU per message. Divided by
the cores, it is the shortest wall time any send built on these parts can reach here.

    eval "$(python3 scripts/services.py env)"
    export KAFKA_BROKER_URLS=127.0.0.1:39092 KAFKA_REPLICATION_FACTOR=1   # your own broker
    .venv/bin/python bench/bench_vulcan_stages.py --orders 1000000

See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.*, tools.*
from bench import bench_vulcan  # its scratch databases

from bazooka.budget import UnlimitedTime
from bazooka.kafka.producer import AckedProducer
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.postgres import migrator
from bazooka.postgres.connection import Connection, connect
from bazooka.postgres.migrations_source import bundled
from bazooka.settings import Settings
from bazooka.vulcan.orders import stream_open_stateful
from bazooka.vulcan.share import Tally, delivered, send_share
from bazooka.vulcan.translate import convert
from bazooka.vulcan.wire import encode_row, encode_values
from tools.seeding import seed_orders

BATCH = 5_000  # rows per batch, as the send streams them
SAMPLE = 5_000  # distinct encoded messages cycled by the produce stage
CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Figures:
    """One stage: wall seconds and CPU seconds of this process (``calling``: of its calling
    thread, the rest is librdkafka's threads), PostgreSQL and the broker."""

    name: str
    wall: float
    client: float
    calling: float
    postgres: float
    broker: float

    @property
    def total(self) -> float:
        return self.client + self.postgres + self.broker


class Meter:
    """CPU time of this process (all its threads), a PostgreSQL backend and the broker."""

    def __init__(self, backend_pid: int | None, broker_pid: int) -> None:
        self.backend_pid, self.broker_pid = backend_pid, broker_pid

    def measure(self, name: str, work: Callable[[], None]) -> Figures:
        before = self._read()
        started = time.perf_counter()
        work()
        wall = time.perf_counter() - started
        after = self._read()
        client, calling, postgres, broker = (b - a for a, b in zip(before, after, strict=True))
        return Figures(name, wall, client, calling, postgres, broker)

    def _read(self) -> tuple[float, float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return (
            own.ru_utime + own.ru_stime,
            time.thread_time(),
            _proc_cpu(self.backend_pid) if self.backend_pid else 0.0,
            _proc_cpu(self.broker_pid),
        )


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def snapshot(conn: Connection) -> None:
    """The send's kind of transaction: one consistent snapshot for the whole read."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")


def stage_read(conn: Connection, encode: bool) -> Callable[[], None]:
    def work() -> None:
        snapshot(conn)
        for batch in stream_open_stateful(conn, BATCH):
            if encode:
                for row in batch:
                    if encode_row(row) is None:  # as the send: the C fast path, else convert
                        convert(row, encode_values)
        conn.execute("COMMIT")

    return work


def sample_messages(conn: Connection) -> list[tuple[bytes, bytes]]:
    """Real (key, value) pairs: the place and update messages of the first orders."""
    snapshot(conn)
    out: list[tuple[bytes, bytes]] = []
    for batch in stream_open_stateful(conn, BATCH):
        for row in batch:
            key, place, update = encode_row(row) or convert(row, encode_values)
            out.append((key, place))
            if update is not None:
                out.append((key, update))
        if len(out) >= SAMPLE:
            break
    conn.execute("ROLLBACK")
    return out[:SAMPLE]


def stage_produce(
    settings: Settings, messages: list[tuple[bytes, bytes]], count: int
) -> Callable[[], None]:
    def work() -> None:
        producer = AckedProducer(settings, TO_VULCAN, MANAGED_TOPICS[TO_VULCAN])
        send, size = producer.send, len(messages)
        for i in range(count):
            key, value = messages[i % size]
            send(key, value)
            if i % BATCH == 0:
                producer.poll()
        stats = producer.flush(120)
        if stats.delivered != count:
            raise SystemExit(f"produce stage: {stats.delivered} of {count} acknowledged")

    return work


def stage_share(settings: Settings, conn: Connection, expected: int) -> Callable[[], None]:
    def work() -> None:
        snapshot(conn)
        producer = AckedProducer(settings, TO_VULCAN, MANAGED_TOPICS[TO_VULCAN])
        tally = Tally()
        send_share(
            conn,
            producer,
            tally,
            slot=0,
            workers=1,
            batch_size=BATCH,
            budget=UnlimitedTime(),
            needed_ms=0,
            on_batch=lambda _n: None,
        )
        delivered(producer, tally, 120)
        conn.execute("COMMIT")
        if tally.delivered != expected:
            raise SystemExit(f"whole share: {tally.delivered} of {expected} acknowledged")

    return work


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="default 1000000")
    parser.add_argument("--subaccounts", type=int, default=2_000, help="default 2000")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed of the data")
    parser.add_argument(
        "--target-s",
        type=float,
        help="wall time target to weigh the floor against (default: issue 16's for N, if any)",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    n = args.orders
    db_name = f"bz_bench_stages_{n}_{uuid.uuid4().hex[:8]}"
    bench_vulcan._admin_sql(settings, f'CREATE DATABASE "{db_name}"')
    try:
        with psycopg.connect(bench_vulcan._dsn(settings, db_name), autocommit=True) as seed:
            migrator.migrate(seed, bundled())
            filled = seed_orders(seed, n, args.subaccounts, random.Random(args.seed))
            seed.execute("VACUUM ANALYZE")
        print(
            f"seeded {n} orders ({filled} with fills); {bench_vulcan.ensure_vulcan_topic(settings)}"
        )
        target = args.target_s or bench_vulcan.TARGETS.get(n, (None, None))[0]
        run_stages(settings.replace(db_name=db_name), n, n + filled, target)
    finally:
        bench_vulcan._admin_sql(settings, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return 0


def run_stages(settings: Settings, orders: int, messages: int, target_s: float | None) -> None:
    kafka = bench_vulcan.broker_pid(settings)
    if kafka is None:
        raise SystemExit(f"no local process is seen listening on {settings.kafka_brokers[0]}")
    with connect(settings) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        meter = Meter(int(row[0]) if row else None, kafka)
        sample = sample_messages(conn)
        stage_read(conn, encode=False)()  # warm the table into shared buffers
        stages = [
            meter.measure("read", stage_read(conn, encode=False)),
            meter.measure("read + convert + encode", stage_read(conn, encode=True)),
            Meter(None, kafka).measure("produce", stage_produce(settings, sample, messages)),
            meter.measure("whole share (1 process)", stage_share(settings, conn, messages)),
        ]
    print(f"\n{orders:,} orders, {messages:,} messages, {CORES} cores; CPU seconds:")
    print(
        f"{'stage':<26}{'wall':>8}{'client':>9}{'(calling)':>11}{'postgres':>10}{'broker':>8}"
        f"{'sum':>8}"
    )
    for s in stages:
        print(
            f"{s.name:<26}{s.wall:>8.2f}{s.client:>9.2f}{s.calling:>11.2f}{s.postgres:>10.2f}"
            f"{s.broker:>8.2f}{s.total:>8.2f}"
        )
    read, encoded, produce, _whole = stages
    floor = read.postgres + produce.broker + produce.client
    print(
        f"\nper order: read {read.client / orders * 1e6:.1f} us, convert + encode "
        f"{(encoded.client - read.client) / orders * 1e6:.1f} us, produce "
        f"{produce.client / messages * 1e6:.1f} us per message "
        f"({produce.client / orders * 1e6:.1f} us per order, "
        f"{produce.calling / messages * 1e6:.1f} us of them in the calling thread)"
    )
    print(
        f"floor (PostgreSQL's query + the broker + the producer library): {floor:.1f} CPU-s "
        f"= {floor / CORES:.1f} s of wall on {CORES} cores at best"
        + (
            f"; the {target_s:g} s target leaves {CORES * target_s:.0f} CPU-s, "
            f"{CORES * target_s - floor:.1f} of them for reading, converting and encoding, "
            f"which take {encoded.client:.1f} here"
            if target_s
            else ""
        )
    )


if __name__ == "__main__":
    sys.exit(main())
