"""Benchmark of ``send_stateful_orders_to_vulcan`` as an operator runs it.

For each size N it seeds N open stateful orders (several markets and subaccounts) into a fresh
scratch database with COPY, makes sure ``to-vulcan`` exists with its 210 partitions, then
times a child process ``.venv/bin/bazooka run --send-stateful-orders-to-vulcan --json``
pointed at that database: wall time, orders/s, CPU time (``wait4`` rusage of that child and of
the worker processes it waited for) and the peak of the resident memory of all its processes
summed (sampled from /proc every 10 ms). The run counts only if its JSON report says every
message was acknowledged.

    eval "$(python3 scripts/services.py env)"
    export KAFKA_BROKER_URLS=127.0.0.1:39092 KAFKA_REPLICATION_FACTOR=1   # your own broker
    .venv/bin/python bench/bench_vulcan.py                  # N = 100000 and 1000000
    .venv/bin/python bench/bench_vulcan.py --orders 250000  # one size of your choice
    .venv/bin/python bench/bench_vulcan.py --orders 300000 --profile  # cProfile, in process
    .venv/bin/python bench/bench_vulcan.py --db bz_bench_vulcan_1000000_... --runs 4 \
        --compare-src /tmp/old/src     # a kept database; runs alternated with older code

Exit status: 0 when every run verified and met its target, 1 otherwise.
See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bazooka.kafka.admin import connect_admin, describe_cluster
from bazooka.kafka.create import ensure_topics
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.postgres import migrator
from bazooka.postgres.migrations_source import bundled
from bazooka.progress import NullProgress
from bazooka.settings import Settings
from bazooka.vulcan.orders import count_open_stateful

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.seeding import seed_orders  # noqa: E402
from tools.services.ports import port_holder  # noqa: E402

BAZOOKA = ROOT / ".venv" / "bin" / "bazooka"
DEFAULT_SIZES = (100_000, 1_000_000)

# (target wall seconds, target peak RSS MiB or None) per size; other sizes: no target.
TARGETS: dict[int, tuple[float, float | None]] = {
    100_000: (1.5, None),
    1_000_000: (10.0, 300 * 1_000_000 / 2**20),  # "300 MB" = 300e6 bytes ~ 286 MiB
}
RSS_SAMPLE_INTERVAL_S = 0.01


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for every requested size; print one line of figures per size."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--orders",
        type=int,
        action="append",
        metavar="N",
        help="number of open stateful orders to seed (repeatable; default 100000 and 1000000)",
    )
    parser.add_argument("--subaccounts", type=int, default=2_000, help="default 2000")
    parser.add_argument("--seed", type=int, default=20240601, help="random seed of the data")
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the scratch databases (names printed)"
    )
    parser.add_argument(
        "--db",
        metavar="NAME",
        help="time runs against this database, seeded by an earlier --keep-db run (N is its "
        "count of open stateful orders; it is kept)",
    )
    parser.add_argument("--runs", type=_positive, default=1, help="timed runs per size (default 1)")
    parser.add_argument(
        "--compare-src",
        metavar="DIR",
        type=Path,
        help="alternate each run with one of the bazooka package in DIR (a src/ directory, "
        "e.g. from `git archive <commit> src`), put first on the child's PYTHONPATH",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the step in this process, in one process, under cProfile; print the top "
        "functions by cumulative and by own time (no targets)",
    )
    args = parser.parse_args(argv)
    sizes = args.orders or list(DEFAULT_SIZES)
    settings = Settings.from_env()
    if not BAZOOKA.exists():
        print(f"{BAZOOKA} not found: install the project first (scripts/setup.sh)")
        return 1
    if args.compare_src is not None and not (args.compare_src / "bazooka").is_dir():
        print(f"--compare-src {args.compare_src}: no bazooka package in it")
        return 1
    variants: list[Path | None] = [None]
    if args.compare_src is not None:
        variants.append(args.compare_src.resolve())
    if args.db:
        try:
            with psycopg.connect(_dsn(settings, args.db)) as conn:
                n, filled = count_open_stateful(conn)
        except psycopg.Error as exc:
            print(f"--db {args.db}: {str(exc).strip()}")
            return 1
        print(f"[N={n}] database {args.db} (kept), {filled} with fills")
        ok = timed_runs(settings, args.db, n, filled, runs=args.runs, variants=variants)
        return 0 if ok else 1
    print(
        f"PostgreSQL {settings.db_hostname}:{settings.db_port}, "
        f"Kafka {settings.kafka_broker_urls}, sizes {', '.join(map(str, sizes))}"
    )
    all_ok = True
    for n in sizes:
        all_ok &= bench_one(
            settings,
            n,
            args.subaccounts,
            args.seed,
            keep_db=args.keep_db,
            profile=args.profile,
            runs=args.runs,
            variants=variants,
        )
    return 0 if all_ok else 1


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def bench_one(
    settings: Settings,
    n: int,
    subaccounts: int,
    seed: int,
    *,
    keep_db: bool,
    profile: bool,
    runs: int,
    variants: list[Path | None],
) -> bool:
    """Seed ``n`` orders into a scratch database, time the operator runs, verify, report."""
    db_name = f"bz_bench_vulcan_{n}_{uuid.uuid4().hex[:8]}"
    _admin_sql(settings, f'CREATE DATABASE "{db_name}"')
    try:
        t0 = time.monotonic()
        with psycopg.connect(_dsn(settings, db_name), autocommit=True) as conn:
            migrator.migrate(conn, bundled())
            filled = seed_orders(conn, n, subaccounts, random.Random(seed))
        print(f"[N={n}] seeded {n} orders ({filled} with fills) in {time.monotonic() - t0:.1f} s")
        topic = ensure_vulcan_topic(settings)
        print(f"[N={n}] {TO_VULCAN}: {topic}")
        if profile:
            profile_step(settings.replace(db_name=db_name, vulcan_workers=1))
            return True
        return timed_runs(settings, db_name, n, filled, runs=runs, variants=variants)
    finally:
        if keep_db:
            print(f"[N={n}] kept database {db_name}")
        else:
            _admin_sql(settings, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def timed_runs(
    settings: Settings,
    db_name: str,
    n: int,
    filled: int,
    *,
    runs: int,
    variants: list[Path | None],
) -> bool:
    """``runs`` timed runs of each variant (this checkout, or another ``src/``), alternated."""
    servers = ServerCpu.find(settings, db_name)
    all_ok = True
    for _ in range(runs):
        for src in variants:
            label = f"N={n}" if src is None else f"N={n}, {src}"
            before = servers.read()
            result = run_step(db_name, src)
            time.sleep(0.2)  # for the run's backends to be reaped (their CPU goes to the parent)
            all_ok &= report_figures(n, filled, result, label, servers.since(before))
    return all_ok


# --- Kafka and the timed run -------------------------------------------------------------------


def ensure_vulcan_topic(settings: Settings) -> str:
    """Create the managed topics if missing; insist that ``to-vulcan`` has 210 partitions."""
    admin = connect_admin(settings)
    ensure_topics(admin, settings, NullProgress())
    partitions = describe_cluster(admin, settings).partitions.get(TO_VULCAN)
    if partitions != MANAGED_TOPICS[TO_VULCAN]:
        raise SystemExit(
            f"{TO_VULCAN} has {partitions} partitions on {settings.kafka_broker_urls}, "
            f"expected {MANAGED_TOPICS[TO_VULCAN]}"
        )
    return f"{partitions} partitions on {settings.kafka_broker_urls}"


@dataclass(frozen=True)
class RunResult:
    """The child's exit code, JSON report, wall time, CPU time and peak RSS (all processes)."""

    exit_code: int
    report: dict[str, Any] | None
    wall_s: float
    cpu_s: float
    max_rss_kib: int
    stderr_tail: str


def profile_step(settings: Settings) -> None:
    """The step in this process, one process, under cProfile: where the time goes."""
    import cProfile
    import pstats

    from bazooka.event import BazookaEvent
    from bazooka.runner import run

    profiler = cProfile.Profile()
    started = time.monotonic()
    report = profiler.runcall(run, BazookaEvent(send_stateful_orders_to_vulcan=True), settings)
    print(f"under cProfile: {time.monotonic() - started:.1f} s, ok={report.ok}")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


def run_step(db_name: str, src: Path | None = None) -> RunResult:
    """``bazooka run --send-stateful-orders-to-vulcan --json`` against ``db_name`` (with the
    bazooka package of ``src`` when given)."""
    env = {**os.environ, "DB_NAME": db_name}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = os.posix_spawn(
            str(BAZOOKA),
            [str(BAZOOKA), "run", "--send-stateful-orders-to-vulcan", "--json"],
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
            ],
        )
        sampler = TreeMemory(proc)
        sampler.start()
        # wait4: the resource usage of this child and of the workers it waited for
        # (RUSAGE_CHILDREN would accumulate every child of the benchmark, earlier sizes too).
        _, status, usage = os.wait4(proc, 0)
        wall = time.monotonic() - started
        sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        report = None
    return RunResult(
        os.waitstatus_to_exitcode(status),
        report,
        wall,
        usage.ru_utime + usage.ru_stime,
        sampler.peak_kib,
        "\n".join(stderr.strip().splitlines()[-5:]),
    )


class TreeMemory(threading.Thread):
    """The peak, over time, of the resident memory of a process and all its descendants."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kib = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak_kib = max(self.peak_kib, sum(map(_rss_kib, _tree(self.root))))
            self._done.wait(RSS_SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (from each thread's /proc children list)."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            try:
                todo += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class ServerCpu:
    """CPU seconds of this machine's PostgreSQL (the postmaster and every process it started,
    the ones that ended included) and Kafka broker, when they run here and /proc shows them."""

    def __init__(self, postmaster: int | None, broker: int | None) -> None:
        self.postmaster, self.broker = postmaster, broker

    @classmethod
    def find(cls, settings: Settings, db_name: str) -> ServerCpu:
        with psycopg.connect(_dsn(settings, db_name)) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = _stat(int(row[0])) if row else None
        return cls(int(backend[1]) if backend else None, broker_pid(settings))

    def read(self) -> tuple[float | None, float | None]:
        postgres = None
        if self.postmaster is not None and (own := _stat(self.postmaster)) is not None:
            children = [
                stat for pid in _tree(self.postmaster)[1:] if (stat := _stat(pid)) is not None
            ]
            # utime + stime + cutime + cstime (the ended children's) of the postmaster, and
            # utime + stime of the live ones.
            ticks = sum(map(int, own[11:15])) + sum(int(c[11]) + int(c[12]) for c in children)
            postgres = ticks / os.sysconf("SC_CLK_TCK")
        broker = None
        if self.broker is not None and (stat := _stat(self.broker)) is not None:
            broker = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        return postgres, broker

    def since(self, before: tuple[float | None, float | None]) -> str:
        """``, PostgreSQL x CPU-s, broker y CPU-s`` since ``before`` (what could be read)."""
        after = self.read()
        out = ""
        for name, then, now in zip(("PostgreSQL", "broker"), before, after, strict=True):
            if then is not None and now is not None:
                out += f", {name} {now - then:.2f} CPU-s"
        return out


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (index 1 is the parent's pid)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def broker_pid(settings: Settings) -> int | None:
    """The pid of the process listening on the first broker's port, when it runs here."""
    port = int(settings.kafka_brokers[0].rsplit(":", 1)[1])
    found = re.match(r"pid (\d+)", port_holder(port))
    return int(found.group(1)) if found else None


def report_figures(
    n: int, filled: int, result: RunResult, label: str | None = None, servers: str = ""
) -> bool:
    """Print the figures; True when the run verified (and met its target, if any)."""
    label = label or f"N={n}"
    rss_mib = result.max_rss_kib / 1024
    expected_messages = n + filled
    problems: list[str] = []
    details: dict[str, Any] = {}
    report = result.report
    if result.exit_code != 0 or report is None or not report.get("ok"):
        problems.append(
            f"the run failed (exit {result.exit_code}): "
            f"{(report or {}).get('error') or result.stderr_tail}"
        )
    else:
        details = report["steps"][0]["details"]
        expected = {
            "orders_read": n,
            "orders_sent": n,
            "invalid_orders": 0,
            "order_updates": filled,
            "messages_produced": expected_messages,
            "messages_acknowledged": expected_messages,
        }
        for key, value in expected.items():
            if details.get(key) != value:
                problems.append(f"report {key}={details.get(key)}, expected {value}")
    print(
        f"[{label}] wall {result.wall_s:.2f} s, {n / result.wall_s:,.0f} orders/s, "
        f"{expected_messages / result.wall_s:,.0f} messages/s, peak RSS {rss_mib:.1f} MiB "
        f"(all processes), CPU {result.cpu_s:.2f} s"
        + (f", {details['workers']} process(es)" if "workers" in details else "")
        + servers
        + (f" (step itself {details['duration_s']:.2f} s)" if "duration_s" in details else "")
    )
    if not problems:
        print(
            f"[{label}] verified: {details['messages_acknowledged']} of "
            f"{details['messages_produced']} message(s) acknowledged"
        )
    target = TARGETS.get(n)
    if target is not None:
        wall_target, rss_target = target
        if result.wall_s >= wall_target:
            problems.append(f"target missed: {result.wall_s:.2f} s >= {wall_target:g} s")
        if rss_target is not None and rss_mib >= rss_target:
            problems.append(f"target missed: peak RSS {rss_mib:.1f} MiB >= {rss_target:.1f} MiB")
        if not any(p.startswith("target") for p in problems):
            limit = f" and < {rss_target:.0f} MiB" if rss_target is not None else ""
            print(f"[{label}] target met: < {wall_target:g} s{limit}")
    for problem in problems:
        print(f"[{label}] FAIL: {problem}")
    return not problems


# --- helpers ------------------------------------------------------------------------------------


def _dsn(settings: Settings, dbname: str) -> str:
    return (
        f"host={settings.db_hostname} port={settings.db_port} dbname={dbname} "
        f"user={settings.db_username} password={settings.db_password.get_secret_value()}"
    )


def _admin_sql(settings: Settings, sql: str) -> None:
    with psycopg.connect(_dsn(settings, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


if __name__ == "__main__":
    sys.exit(main())
