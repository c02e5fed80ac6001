"""Migrating a live indexer: the 12 newest migrations under a comlink-like reader load.

A template database at step 101 (the 12 newest bundled migrations pending) is populated once
with set-based SQL (``generate_series``; at ``--scale 1``: 2M orders, 5M fills, 2M oracle
prices and the rows they reference) and kept as ``bz_bench_live_template_<scale>``. Each run
gets its own copy (``CREATE DATABASE ... TEMPLATE``) and:

1. starts the readers: ``--clients`` threads, each with its own connection, each sending one
   of comlink's query shapes (orders and fills by subaccount, fills by market, oracle prices
   by market; indexed, with a LIMIT) every ``--interval-ms``, recording each query's start and
   latency; a warm-up gives the figures before the migration;
2. opens one long read transaction on orders (``BEGIN; SELECT ... FROM orders;
   pg_sleep(--long-read-s); COMMIT``);
3. half a second later runs ``bazooka run --migrate --json`` as a child process pointed at the
   copy, once with the lock-timeout defaults and once with ``BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS=0``
   (Knex's behaviour: wait forever), or as ``--only`` says (``timeout-N``: N ms per attempt),
   and checks its report (success, 12 applied);
4. reports the readers' p50 / p99 / max latency during the migration, the longest stall, the
   migration's time, its attempts and lock waits (from the report), and what the migration's
   session was doing while readers waited on a lock (``pg_stat_activity`` sampled).

    eval "$(python3 scripts/services.py env)"
    .venv/bin/python bench/bench_live_migrate.py                 # scale 1: both runs
    .venv/bin/python bench/bench_live_migrate.py --scale 0.01    # seconds, while developing
    .venv/bin/python bench/bench_live_migrate.py --only defaults --json

Exit status: 0 when every run succeeded (12 migrations applied) and the defaults run met the
goal (no reader query longer than the per-attempt lock timeout + 1 s), 1 otherwise.
See bench/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg

from bazooka.postgres import migrator
from bazooka.postgres.lock_wait import DEFAULT_TIMEOUT_MS as DEFAULT_LOCK_TIMEOUT_MS
from bazooka.postgres.migrations_source import bundled
from bazooka.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BAZOOKA = ROOT / ".venv" / "bin" / "bazooka"

STEP = 101  # the template's step: bundled()[:101] applied, the 12 newest pending
PENDING = 12
# The goal: no reader query longer than the per-attempt lock timeout plus one second.
LOCK_TIMEOUT_VARS = ("BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS", "BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS")
MODES: dict[str, dict[str, str]] = {
    "defaults": {},  # neither variable set: Bazooka's defaults
    "timeout-0": {"BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS": "0"},  # wait forever, as Knex
}


def mode_env(mode: str) -> dict[str, str]:
    """The child's lock-timeout variables of a mode: MODES, or ``timeout-N`` (N ms)."""
    if mode in MODES:
        return MODES[mode]
    return {LOCK_TIMEOUT_VARS[0]: str(int(mode.removeprefix("timeout-")))}


READER_APP = "bench-reader"
LONG_READ_APP = "bench-long-read"
SAMPLE_INTERVAL_S = 0.1


# --- the data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """Row counts of the populated tables at a scale (1.0 = the issue's sizes)."""

    markets: int
    heights: int  # blocks; every block has one oracle price per market
    subaccounts: int
    orders: int
    fills: int
    events: int  # tendermint_events: one per maker/taker pair of fills
    positions: int

    @property
    def oracle_prices(self) -> int:
        return self.markets * self.heights

    @classmethod
    def at(cls, scale: float) -> Sizes:
        if not scale > 0:
            raise ValueError(f"--scale must be > 0, got {scale}")
        markets = 32
        fills = max(10, round(5_000_000 * scale))
        return cls(
            markets=markets,
            heights=max(2, math.ceil(2_000_000 * scale / markets)),
            subaccounts=max(20, round(100_000 * scale)),
            orders=max(10, round(2_000_000 * scale)),
            fills=fills,
            events=math.ceil(fills / 2),
            positions=max(10, round(200_000 * scale)),
        )


def _uuid(tag: int, expr: str) -> str:
    """A uuid unique per (table tag, row number): sequential, so the primary keys are built
    by appending (mainnet's are random; only the seeding time differs)."""
    return f"('{tag:08x}-0000-4000-8000-' || lpad(to_hex({expr}), 12, '0'))::uuid"


def _frac(expr: str, mult: str) -> str:
    """A low-discrepancy pseudo-random number in [0, 1) from an integer (golden-ratio hashing):
    deterministic, so the fills can find their order's subaccount without a join."""
    return f"(({expr})::float8 * {mult} - floor(({expr})::float8 * {mult}))"


def _subaccount_of(expr: str, s: Sizes) -> str:
    """Subaccount number (1..S) of order/position number ``expr``: skewed as on mainnet (a few
    market makers hold many orders: P(sub <= k) = sqrt(k / S))."""
    return f"(1 + floor({s.subaccounts} * power({_frac(expr, '0.6180339887498949')}, 2))::int)"


def seed_statements(s: Sizes) -> list[tuple[str, str]]:
    """(label, SQL) of the seeding, in order; each one INSERT ... SELECT over generate_series."""
    base = "timestamptz '2025-06-01 00:00:00+00'"
    order_height = f"(1 + ((i - 1) * {s.heights}) / {s.orders})"
    event_height = f"(1 + ((e - 1) * {s.heights}) / {s.events})"
    sub = _subaccount_of("i", s)
    fill_order = f"(1 + ((j - 1)::bigint * {s.orders}) / {s.fills})"
    pos_height = f"(1 + ((i % {s.events}) * {s.heights}) / {s.events})"
    return [
        (
            "blocks",
            f"""INSERT INTO blocks ("blockHeight", time)
            SELECT h, {base} + h * interval '1 second'
            FROM generate_series(1, {s.heights}::bigint) h""",
        ),
        (
            "tendermint_events",
            f"""INSERT INTO tendermint_events (id, "blockHeight", "transactionIndex", "eventIndex")
            SELECT decode(lpad(to_hex(e), 24, '0'), 'hex'), {event_height}, (e % 50)::int,
                   (e % 7)::int
            FROM generate_series(1, {s.events}::bigint) e""",
        ),
        (
            "markets",
            f"""INSERT INTO liquidity_tiers (id, name, "initialMarginPpm", "maintenanceFractionPpm")
            VALUES (0, 'Large-Cap', 20000, 600000);
            INSERT INTO markets (id, pair, exponent, "minPriceChangePpm", "oraclePrice")
            SELECT m, 'MKT' || m || '-USD', -5, 1000, 10 * (m + 1) * (m + 1)
            FROM generate_series(0, {s.markets - 1}) m;
            INSERT INTO perpetual_markets (id, "clobPairId", ticker, "marketId", status,
                "priceChange24H", "volume24H", "trades24H", "nextFundingRate", "openInterest",
                "quantumConversionExponent", "atomicResolution", "subticksPerTick",
                "stepBaseQuantums", "liquidityTierId")
            SELECT m, m, 'MKT' || m || '-USD', m, 'ACTIVE', 0, 0, 0, 0, 0, -9, -10, 100000,
                1000000, 0
            FROM generate_series(0, {s.markets - 1}) m""",
        ),
        (
            "subaccounts",
            f"""INSERT INTO subaccounts (id, address, "subaccountNumber", "updatedAt",
                "updatedAtHeight")
            SELECT {_uuid(1, "k")}, 'dydx1' || left(md5(k::text), 38), (k % 3)::int,
                {base}, 1
            FROM generate_series(1, {s.subaccounts}::bigint) k""",
        ),
        (
            "orders",
            f"""INSERT INTO orders (id, "subaccountId", "clientId", "clobPairId", side, size,
                "totalFilled", price, type, status, "timeInForce", "reduceOnly", "orderFlags",
                "goodTilBlock", "goodTilBlockTime", "createdAtHeight", "clientMetadata",
                "triggerPrice", "updatedAt", "updatedAtHeight")
            SELECT {_uuid(2, "i")}, {_uuid(1, sub)}, i, i % {s.markets},
                CASE WHEN i % 2 = 0 THEN 'BUY' ELSE 'SELL' END, 1 + i % 97,
                CASE WHEN i % 3 = 0 THEN 1 + i % 97 ELSE 0 END,
                10 * (i % {s.markets} + 1) * (i % {s.markets} + 1) + i % 13,
                CASE WHEN i % 25 = 0 THEN 'STOP_LIMIT' ELSE 'LIMIT' END,
                CASE WHEN i % 5 = 0 AND i % 15 <> 0 THEN 'OPEN'
                     WHEN i % 3 = 0 THEN 'FILLED' WHEN i % 7 = 0 THEN 'BEST_EFFORT_CANCELED'
                     ELSE 'CANCELED' END,
                CASE WHEN i % 11 = 0 THEN 'IOC' ELSE 'GTT' END, i % 17 = 0,
                CASE WHEN i % 5 = 0 THEN 64 ELSE 0 END,
                CASE WHEN i % 5 = 0 THEN NULL ELSE {order_height} + 20 END,
                CASE WHEN i % 5 = 0 THEN {base} + ({order_height} + 86400) * interval '1 second'
                     ELSE NULL END,
                {order_height}, 0,
                CASE WHEN i % 25 = 0 THEN 10 * (i % {s.markets} + 1) * (i % {s.markets} + 1)
                     ELSE NULL END,
                {base} + {order_height} * interval '1 second', {order_height}
            FROM generate_series(1, {s.orders}::bigint) i""",
        ),
        (
            "fills",
            f"""INSERT INTO fills (id, "subaccountId", side, liquidity, type, "clobPairId",
                "orderId", size, price, "quoteAmount", "eventId", "transactionHash",
                "createdAt", "createdAtHeight", "clientMetadata", fee, "affiliateRevShare")
            SELECT {_uuid(3, "j")}, {_uuid(1, _subaccount_of("i", s))},
                CASE WHEN i % 2 = 0 THEN 'BUY' ELSE 'SELL' END,
                CASE WHEN j % 2 = 1 THEN 'MAKER' ELSE 'TAKER' END,
                CASE WHEN j % 1000 = 0 THEN 'LIQUIDATED' ELSE 'LIMIT' END, i % {s.markets},
                {_uuid(2, "i")}, 1 + j % 5,
                10 * (i % {s.markets} + 1) * (i % {s.markets} + 1) + i % 13,
                (1 + j % 5) * (10 * (i % {s.markets} + 1) * (i % {s.markets} + 1) + i % 13),
                decode(lpad(to_hex(e), 24, '0'), 'hex'), upper(md5(e::text)),
                {base} + {event_height} * interval '1 second', {event_height}, 0,
                CASE WHEN j % 2 = 1 THEN '-0.1' ELSE '0.5' END, 0
            FROM generate_series(1, {s.fills}::bigint) j,
                LATERAL (SELECT {fill_order} AS i, (j + 1) / 2 AS e) x""",
        ),
        (
            "oracle_prices",
            f"""INSERT INTO oracle_prices (id, "marketId", price, "effectiveAt",
                "effectiveAtHeight")
            SELECT {_uuid(4, f"(h - 1) * {s.markets} + m + 1")}, m,
                10 * (m + 1) * (m + 1) + (h % 100) * 0.01, {base} + h * interval '1 second', h
            FROM generate_series(1, {s.heights}::bigint) h,
                generate_series(0, {s.markets - 1}) m""",
        ),
        (
            "perpetual_positions",
            f"""INSERT INTO perpetual_positions (id, "subaccountId", "perpetualId", side, status,
                size, "maxSize", "entryPrice", "exitPrice", "sumOpen", "sumClose", "createdAt",
                "closedAt", "createdAtHeight", "closedAtHeight", "openEventId", "closeEventId",
                "lastEventId", "settledFunding")
            SELECT {_uuid(5, "i")}, {_uuid(1, sub)}, i % {s.markets},
                CASE WHEN i % 2 = 0 THEN 'LONG' ELSE 'SHORT' END,
                CASE WHEN i % 3 = 0 THEN 'OPEN' ELSE 'CLOSED' END,
                CASE WHEN i % 3 = 0 THEN 1 + i % 50 ELSE 0 END, 1 + i % 50, 100,
                CASE WHEN i % 3 = 0 THEN NULL ELSE 101 END, 1 + i % 50,
                CASE WHEN i % 3 = 0 THEN 0 ELSE 1 + i % 50 END,
                {base} + {pos_height} * interval '1 second',
                CASE WHEN i % 3 = 0 THEN NULL ELSE {base} + {pos_height} * interval '1 second' END,
                {pos_height}, CASE WHEN i % 3 = 0 THEN NULL ELSE {pos_height} END, ev,
                CASE WHEN i % 3 = 0 THEN NULL ELSE ev END, ev, 0
            FROM generate_series(1, {s.positions}::bigint) i,
                LATERAL (SELECT decode(lpad(to_hex(1 + i % {s.events}), 24, '0'), 'hex') AS ev)
                    x""",
        ),
    ]


def dsn(settings: Settings, dbname: str, app: str = "bench-live-migrate") -> str:
    return (
        f"host={settings.db_hostname} port={settings.db_port} dbname={dbname} "
        f"user={settings.db_username} password={settings.db_password.get_secret_value()} "
        f"application_name={app}"
    )


def template_name(scale: float) -> str:
    return "bz_bench_live_template_" + f"{scale:g}".replace(".", "_").replace("-", "_")


def _database_exists(settings: Settings, name: str) -> bool:
    with psycopg.connect(dsn(settings, "postgres"), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def _admin(settings: Settings, statement: str) -> None:
    with psycopg.connect(dsn(settings, "postgres"), autocommit=True) as conn:
        conn.execute(statement.encode())


def populate(conn: psycopg.Connection[Any], sizes: Sizes, say: Any = None) -> None:
    """Migrate an empty database to step 101 and fill it (``say(label, seconds)`` per table),
    then ``VACUUM (ANALYZE)``: a live indexer's tables have statistics and hint bits."""
    migrator.migrate(conn, bundled()[:STEP], replay=True)
    # No foreign-key triggers while seeding (needs a superuser; else they run).
    with suppress(psycopg.errors.InsufficientPrivilege):
        conn.execute("SET session_replication_role = replica")
    for label, statement in seed_statements(sizes):
        started = time.perf_counter()
        with conn.transaction():
            for part in statement.split(";\n"):
                conn.execute(part.encode())
        if say is not None:
            say(label, time.perf_counter() - started)
    conn.execute("RESET session_replication_role")
    started = time.perf_counter()
    conn.execute("VACUUM (ANALYZE)")
    if say is not None:
        say("VACUUM (ANALYZE)", time.perf_counter() - started)


def ensure_template(settings: Settings, scale: float, *, rebuild: bool) -> tuple[str, float | None]:
    """The template database of ``scale``, built unless present (or ``rebuild``); returns its
    name and the seeding time (None when reused). Built under another name and renamed at the
    end, so an interrupted build is never reused."""
    name = template_name(scale)
    if _database_exists(settings, name) and not rebuild:
        return name, None
    building = name + "_building"
    _admin(settings, f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
    _admin(settings, f'CREATE DATABASE "{building}"')
    sizes = Sizes.at(scale)
    started = time.perf_counter()
    log(f"seeding {building}: {sizes}")
    with psycopg.connect(dsn(settings, building), autocommit=True) as conn:
        populate(conn, sizes, say=lambda label, s: log(f"  {label}: {s:.1f} s"))
    seeding_s = time.perf_counter() - started
    _admin(settings, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(settings, f'ALTER DATABASE "{building}" RENAME TO "{name}"')
    return name, seeding_s


def copy_of(settings: Settings, template: str, label: str) -> str:
    name = f"bz_bench_live_{label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    # FILE_COPY: copies the files after a checkpoint instead of writing every page to the WAL
    # (PostgreSQL 15's default), much faster for gigabytes.
    _admin(settings, f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY = FILE_COPY')
    return name


# --- the load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One reader query: which shape, when it started (s since the run's origin), how long."""

    kind: str
    start: float
    latency: float
    error: str | None = None

    @property
    def end(self) -> float:
        return self.start + self.latency


# comlink's query shapes (packages/postgres stores, as comlink's controllers call them):
# OrderTable.findAll by subaccount (optionally market), ordered by goodTilBlock/Time;
# FillTable.findAll by subaccount, and by market for trades (TAKER side), newest first;
# OraclePriceTable.findMostRecentMarketOraclePrice and findLatestPricesBeforeOrAtHeight.
QUERIES: dict[str, str] = {
    "orders_by_subaccount": 'SELECT * FROM orders WHERE "subaccountId" IN (%(sub)s) '
    'ORDER BY "goodTilBlock" DESC, "goodTilBlockTime" DESC LIMIT 100',
    "fills_by_subaccount": 'SELECT * FROM fills WHERE "subaccountId" IN (%(sub)s) '
    'ORDER BY "createdAtHeight" DESC LIMIT 100',
    "oracle_price_by_market": 'SELECT * FROM oracle_prices WHERE "marketId" = %(market)s '
    'ORDER BY "effectiveAtHeight" DESC LIMIT 1',
    "orders_by_subaccount_market": 'SELECT * FROM orders WHERE "subaccountId" IN (%(sub)s) '
    'AND "clobPairId" = %(market)s ORDER BY "goodTilBlock" DESC, "goodTilBlockTime" DESC '
    "LIMIT 100",
    "trades_by_market": 'SELECT * FROM fills WHERE "clobPairId" = %(market)s AND liquidity = '
    "'TAKER' ORDER BY \"createdAtHeight\" DESC LIMIT 100",
    "latest_oracle_prices": 'SELECT m."id" AS "marketId", op."price" FROM "markets" m '
    'JOIN LATERAL (SELECT "price" FROM "oracle_prices" op WHERE op."marketId" = m."id" '
    'AND op."effectiveAtHeight" <= %(height)s ORDER BY op."effectiveAtHeight" DESC LIMIT 1) op '
    "ON true",
}


class Reader(threading.Thread):
    """One API client: its own connection, one query every ``interval`` s (the next shape of
    QUERIES each time, starting at its own offset), each query's start and latency kept."""

    def __init__(
        self, conninfo: str, number: int, sizes: Sizes, origin: float, interval: float
    ) -> None:
        super().__init__(name=f"reader-{number}", daemon=True)
        # No server-side prepared statements, as node-postgres (Knex) sends them: a prepared
        # SELECT * fails with "cached plan must not change result type" once a column is added.
        self.conn = psycopg.connect(conninfo, autocommit=True, prepare_threshold=None)
        self.pid = self.conn.info.backend_pid
        self.number = number
        self.sizes = sizes
        self.origin = origin
        self.interval = interval
        self.rng = random.Random(number)
        self.queries: list[Query] = []
        self.stop = threading.Event()

    def _subaccount(self) -> uuid.UUID:
        k = self.rng.randint(1, self.sizes.subaccounts)
        return uuid.UUID(f"00000001-0000-4000-8000-{k:012x}")

    def run(self) -> None:
        kinds = list(QUERIES)
        turn = self.number
        try:
            while not self.stop.is_set():
                kind = kinds[turn % len(kinds)]
                turn += 1
                params = {
                    "sub": self._subaccount(),
                    "market": self.rng.randrange(self.sizes.markets),
                    "height": self.rng.randint(1, self.sizes.heights),
                }
                started = time.perf_counter()
                error = None
                try:
                    self.conn.execute(QUERIES[kind], params).fetchall()
                except psycopg.Error as exc:  # kept, counted: a reader must not fail
                    error = f"{type(exc).__name__}: {str(exc).strip()}"
                    if self.conn.closed:
                        self.stop.set()
                ended = time.perf_counter()
                self.queries.append(Query(kind, started - self.origin, ended - started, error))
                pause = self.interval * self.rng.uniform(0.8, 1.2) - (ended - started)
                if pause > 0:
                    self.stop.wait(pause)
        finally:
            self.conn.close()


class LongRead(threading.Thread):
    """``BEGIN; SELECT ... FROM orders; pg_sleep(seconds); COMMIT``: holds orders' ACCESS
    SHARE lock, as a long report or a slow API page does. ``locked`` is set once it holds it."""

    def __init__(self, conninfo: str, seconds: float, origin: float) -> None:
        super().__init__(name="long-read", daemon=True)
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.seconds = seconds
        self.origin = origin
        self.locked = threading.Event()
        self.span: tuple[float, float] | None = None

    def run(self) -> None:
        try:
            started = time.perf_counter() - self.origin
            with self.conn.transaction():
                self.conn.execute("SELECT count(*) FROM (SELECT id FROM orders LIMIT 1000) o")
                self.locked.set()
                self.conn.execute("SELECT pg_sleep(%s)", (self.seconds,))
            self.span = (started, time.perf_counter() - self.origin)
        finally:
            self.locked.set()
            self.conn.close()


@dataclass(frozen=True)
class Sample:
    """pg_stat_activity at one moment: the migration's session and the readers waiting."""

    t: float
    migration_query: str | None  # the statement of Bazooka's session (None: not connected)
    migration_waiting: bool  # that session waits for a lock
    waiting_readers: frozenset[int] = frozenset()  # backend pids of readers waiting for a lock

    @property
    def readers_waiting(self) -> int:
        return len(self.waiting_readers)


class Sampler(threading.Thread):
    """Samples pg_stat_activity every SAMPLE_INTERVAL_S: which statement Bazooka's session runs,
    whether it waits for a lock, and how many readers wait for one."""

    def __init__(self, conninfo: str, origin: float, bazooka_app: str) -> None:
        super().__init__(name="sampler", daemon=True)
        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.origin = origin
        self.app = bazooka_app
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                rows = self.conn.execute(
                    "SELECT application_name, wait_event_type = 'Lock', left(query, 160), pid "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'"
                ).fetchall()
                bazooka = [r for r in rows if r[0] == self.app]
                self.samples.append(
                    Sample(
                        time.perf_counter() - self.origin,
                        " ".join(bazooka[0][2].split()) if bazooka else None,
                        bool(bazooka and bazooka[0][1]),
                        frozenset(r[3] for r in rows if r[0] == READER_APP and r[1]),
                    )
                )
                self.stop.wait(SAMPLE_INTERVAL_S)
        finally:
            self.conn.close()


# --- figures --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of non-empty ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def longest_gap(ends: Sequence[float], start: float, stop: float) -> float:
    """The longest interval within [start, stop] in which none of ``ends`` falls."""
    points = [start, *sorted(e for e in ends if start <= e <= stop), stop]
    return max(b - a for a, b in pairwise(points))


def lock_waits_of_queries(
    readers: Sequence[tuple[int, Sequence[Query]]],
    samples: Sequence[Sample],
    window: tuple[float, float],
) -> tuple[float, float]:
    """The most any one reader query (running in ``window``) was seen waiting for a lock while
    Bazooka's statement itself waited for one (queued behind Bazooka's lock wait), and the most
    one was seen waiting while that statement held its lock and worked; seconds, to the
    sampling interval. ``readers``: (backend pid, its queries)."""
    queued = behind_work = 0
    for pid, queries in readers:
        for q in queries:
            if not (q.start < window[1] and q.end > window[0]):
                continue
            seen = [s for s in samples if q.start <= s.t <= q.end and pid in s.waiting_readers]
            queued = max(queued, sum(1 for s in seen if s.migration_waiting))
            behind_work = max(behind_work, sum(1 for s in seen if not s.migration_waiting))
    return round(queued * SAMPLE_INTERVAL_S, 1), round(behind_work * SAMPLE_INTERVAL_S, 1)


@dataclass(frozen=True)
class LatencyFigures:
    queries: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_by_kind_ms: dict[str, float]
    over_bound: int  # queries longer than the goal's bound


def latency_figures(queries: Sequence[Query], bound_s: float) -> LatencyFigures | None:
    if not queries:
        return None
    latencies = [q.latency for q in queries]
    by_kind: dict[str, float] = {}
    for q in queries:
        by_kind[q.kind] = max(by_kind.get(q.kind, 0.0), q.latency * 1000)
    return LatencyFigures(
        queries=len(queries),
        errors=sum(1 for q in queries if q.error),
        p50_ms=round(percentile(latencies, 50) * 1000, 1),
        p99_ms=round(percentile(latencies, 99) * 1000, 1),
        max_ms=round(max(latencies) * 1000, 1),
        max_by_kind_ms={k: round(v, 1) for k, v in sorted(by_kind.items())},
        over_bound=sum(1 for x in latencies if x > bound_s),
    )


def blocked_by(samples: Sequence[Sample], window: tuple[float, float]) -> list[dict[str, Any]]:
    """For each statement of the migration's session: seconds it was seen waiting for a lock,
    and reader-seconds seen waiting for a lock while it was the session's statement."""
    table: dict[str, dict[str, Any]] = {}
    for s in samples:
        if not window[0] <= s.t <= window[1] or s.migration_query is None:
            continue
        entry = table.setdefault(
            s.migration_query,
            {
                "statement": s.migration_query,
                "seen_s": 0.0,
                "waiting_for_lock_s": 0.0,
                "reader_lock_wait_s": 0.0,
            },
        )
        entry["seen_s"] += SAMPLE_INTERVAL_S
        entry["waiting_for_lock_s"] += SAMPLE_INTERVAL_S if s.migration_waiting else 0.0
        entry["reader_lock_wait_s"] += SAMPLE_INTERVAL_S * s.readers_waiting
    rows = sorted(table.values(), key=lambda e: -e["reader_lock_wait_s"])
    for e in rows:
        for k in ("seen_s", "waiting_for_lock_s", "reader_lock_wait_s"):
            e[k] = round(e[k], 1)
    return [e for e in rows if e["reader_lock_wait_s"] > 0 or e["waiting_for_lock_s"] > 0]


@dataclass
class RunResult:
    mode: str
    env: dict[str, str]
    database: str
    ok: bool
    problems: list[str]
    applied: int
    migration_wall_s: float
    migration_report_s: float | None
    attempts: dict[str, int]
    lock_wait_ms: dict[str, int]
    long_read_s: float | None
    bound_s: float
    before: LatencyFigures | None
    during: LatencyFigures | None
    longest_stall_s: float
    migration_lock_wait_seen_s: float  # sampled: Bazooka's session waiting for a lock
    max_queued_s: float  # sampled: a reader query waiting behind Bazooka's waiting statement
    max_behind_work_s: float  # sampled: a reader query waiting while that statement worked
    goal_met: bool | None  # None: no goal for this mode
    blocked_by: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# --- one run --------------------------------------------------------------------------------


def run_once(
    settings: Settings,
    template: str,
    sizes: Sizes,
    mode: str,
    args: argparse.Namespace,
) -> RunResult:
    """Copy the template, start the load, migrate in a child process, measure."""
    database = copy_of(settings, template, mode)
    timeout_ms = int(mode_env(mode).get(LOCK_TIMEOUT_VARS[0], DEFAULT_LOCK_TIMEOUT_MS))
    # The goal's bound; a run waiting forever (0) is held to the defaults' bound, to compare.
    bound_s = (timeout_ms or DEFAULT_LOCK_TIMEOUT_MS) / 1000 + 1
    try:
        origin = time.perf_counter()
        readers = [
            Reader(dsn(settings, database, READER_APP), n, sizes, origin, args.interval_ms / 1000)
            for n in range(args.clients)
        ]
        sampler = Sampler(dsn(settings, database, "bench-sampler"), origin, settings.service_name)
        for thread in [*readers, sampler]:
            thread.start()
        time.sleep(args.warmup_s)
        long_read = LongRead(dsn(settings, database, LONG_READ_APP), args.long_read_s, origin)
        long_read.start()
        long_read.locked.wait()
        time.sleep(0.5)
        env = {k: v for k, v in os.environ.items() if k not in LOCK_TIMEOUT_VARS}
        env.update(mode_env(mode))
        env["DB_NAME"] = database
        mig_start = time.perf_counter() - origin
        child = subprocess.run(
            [str(BAZOOKA), "run", "--migrate", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        mig_end = time.perf_counter() - origin
        time.sleep(args.after_s)
        stops = [r.stop for r in readers] + [sampler.stop]
        for stop in stops:
            stop.set()
        for thread in [*readers, sampler, long_read]:
            thread.join()
    finally:
        if not args.keep_db:
            _admin(settings, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    queries = [q for r in readers for q in r.queries]
    before = [q for q in queries if q.end < long_read.span[0]] if long_read.span else []
    during = [q for q in queries if q.start < mig_end and q.end > mig_start]
    problems: list[str] = []
    report: dict[str, Any] = {}
    try:
        report = json.loads(child.stdout)
    except json.JSONDecodeError:
        problems.append(f"exit {child.returncode}, no JSON report: {child.stderr.strip()[-600:]}")
    step = (report.get("steps") or [{}])[0]
    details = step.get("details") or {}
    applied = len(details.get("applied") or [])
    if report and not report.get("ok"):
        problems.append(f"report not ok: {step.get('status')}: {step.get('error') or details}")
    if report and applied != PENDING:
        problems.append(f"{applied} migration(s) applied, {PENDING} expected")
    errors = sum(1 for q in during if q.error)
    if errors:
        problems.append(
            f"{errors} reader quer(ies) failed, e.g. {next(q.error for q in during if q.error)}"
        )
    figures = latency_figures(during, bound_s)
    split = lock_waits_of_queries(
        [(r.pid, r.queries) for r in readers], sampler.samples, (mig_start, mig_end)
    )
    goal = None if not timeout_ms or figures is None else figures.max_ms / 1000 <= bound_s
    return RunResult(
        mode=mode,
        env=mode_env(mode),
        database=database if args.keep_db else "(dropped)",
        ok=not problems,
        problems=problems,
        applied=applied,
        migration_wall_s=round(mig_end - mig_start, 2),
        migration_report_s=report.get("duration_s"),
        attempts=details.get("attempts") or {},
        lock_wait_ms=details.get("lock_wait_ms") or {},
        long_read_s=round(long_read.span[1] - long_read.span[0], 2) if long_read.span else None,
        bound_s=bound_s,
        before=latency_figures(before, bound_s),
        during=figures,
        longest_stall_s=round(longest_gap([q.end for q in queries], mig_start, mig_end), 2),
        migration_lock_wait_seen_s=round(
            SAMPLE_INTERVAL_S
            * sum(
                1 for s in sampler.samples if mig_start <= s.t <= mig_end and s.migration_waiting
            ),
            1,
        ),
        max_queued_s=split[0],
        max_behind_work_s=split[1],
        goal_met=goal,
        blocked_by=blocked_by(sampler.samples, (mig_start, mig_end)),
    )


# --- output ---------------------------------------------------------------------------------


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def table(results: Sequence[RunResult]) -> str:
    head = (
        f"{'run':<12} {'ok':<3} {'migration':>9} {'attempts':>8} {'lock wait':>9} {'seen':>6} "
        f"{'queued':>6} "
        f"{'queries':>7} {'p50':>8} {'p99':>9} {'max':>9} {'stall':>7} {'> bound':>7}  goal"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        d = r.during
        attempts = sum(r.attempts.values()) if r.attempts else None
        wait = sum(r.lock_wait_ms.values()) / 1000 if r.lock_wait_ms else None
        goal = "-" if r.goal_met is None else ("met" if r.goal_met else "MISSED")
        lines.append(
            f"{r.mode:<12} {'yes' if r.ok else 'NO':<3} {r.migration_wall_s:>8.2f}s "
            f"{attempts if attempts is not None else 'n/a':>8} "
            f"{f'{wait:.2f}s' if wait is not None else 'n/a':>9} "
            f"{r.migration_lock_wait_seen_s:>5.1f}s {r.max_queued_s:>5.1f}s "
            f"{d.queries if d else 0:>7} {f'{d.p50_ms:.1f}ms' if d else '-':>8} "
            f"{f'{d.p99_ms:.0f}ms' if d else '-':>9} {f'{d.max_ms:.0f}ms' if d else '-':>9} "
            f"{r.longest_stall_s:>6.2f}s {d.over_bound if d else 0:>7}  {goal}"
        )
    return "\n".join(lines)


def details(r: RunResult) -> list[str]:
    out = [
        f"[{r.mode}] env {r.env or '(defaults)'}; long read held orders {r.long_read_s} s; "
        f"bound {r.bound_s:.1f} s"
    ]
    if r.before:
        out.append(
            f"  before the migration: {r.before.queries} queries, p50 {r.before.p50_ms} ms, "
            f"p99 {r.before.p99_ms} ms, max {r.before.max_ms} ms"
        )
    if r.during:
        out.append(f"  during, max by query: {r.during.max_by_kind_ms}")
        out.append(
            f"  longest a reader query was seen waiting for a lock: {r.max_queued_s:.1f} s "
            f"behind Bazooka's statement waiting for its lock, {r.max_behind_work_s:.1f} s "
            "behind it working under its lock"
        )
    retried = {k: v for k, v in r.attempts.items() if v > 1}
    if r.attempts:
        out.append(
            f"  attempts > 1: {retried or 'none'}; lock waits (ms): "
            f"{ {k: v for k, v in r.lock_wait_ms.items() if v} or 'none' }"
        )
    else:
        out.append("  the report has no attempts / lock_wait_ms (migrator without lock timeouts)")
    for e in r.blocked_by[:5]:
        out.append(
            f"  {e['reader_lock_wait_s']:>6.1f} reader-s waiting, migration waited "
            f"{e['waiting_for_lock_s']:.1f} s, ran {e['seen_s']:.1f} s: {e['statement'][:90]}"
        )
    out.extend(f"  PROBLEM: {p}" for p in r.problems)
    return out


def _mode(text: str) -> str:
    try:
        mode_env(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected defaults, timeout-0 or timeout-N (N ms)"
        ) from None
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="1.0 = 2M orders, 5M fills, 2M oracle prices (default)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the template database")
    parser.add_argument(
        "--only",
        metavar="MODE",
        action="append",
        type=_mode,
        help="run this mode (repeatable; default: defaults, then timeout-0): defaults (no "
        "lock-timeout variable set), timeout-0 (BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS=0, as Knex) "
        "or timeout-N (N ms per attempt)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs of each mode (default 1)")
    parser.add_argument("--clients", type=int, default=6, help="reader clients (default 6)")
    parser.add_argument(
        "--interval-ms",
        type=float,
        default=100,
        help="pause between a reader's queries (default 100, jittered ±20%%)",
    )
    parser.add_argument(
        "--long-read-s",
        type=float,
        default=20,
        help="the long read transaction on orders (default 20 s)",
    )
    parser.add_argument("--warmup-s", type=float, default=3, help="load before the long read")
    parser.add_argument("--after-s", type=float, default=2, help="load after the migration")
    parser.add_argument("--keep-db", action="store_true", help="keep each run's copy")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not BAZOOKA.exists():
        log(f"{BAZOOKA} not found: install the project first (scripts/setup.sh)")
        return 1
    settings = Settings.from_env()
    sizes = Sizes.at(args.scale)
    log(
        f"PostgreSQL {settings.db_hostname}:{settings.db_port}, scale {args.scale:g}: "
        f"{sizes.orders:,} orders, {sizes.fills:,} fills, {sizes.oracle_prices:,} oracle prices"
    )
    template, seeding_s = ensure_template(settings, args.scale, rebuild=args.rebuild)
    log(
        f"template {template}: "
        + (
            f"seeded in {seeding_s:.1f} s (not part of the figures)"
            if seeding_s is not None
            else "reused"
        )
    )
    results = []
    for mode in (args.only or ["defaults", "timeout-0"]) * args.runs:
        log(f"run {mode} ...")
        result = run_once(settings, template, sizes, mode, args)
        results.append(result)
        for line in details(result):
            log(line)
    if args.json:
        log(table(results))
        print(
            json.dumps(
                {
                    "scale": args.scale,
                    "sizes": asdict(sizes),
                    "template": template,
                    "seeding_s": seeding_s,
                    "runs": [r.as_json() for r in results],
                },
                indent=2,
            )
        )
    else:
        print(table(results))
    ok = all(r.ok for r in results) and all(r.goal_met is not False for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
