"""Bounded lock waits, retried (issue 22): real sessions hold the locks a migration needs.

Another connection plays the API's long read (or a DDL session): it holds a lock the migration
must wait for, and lets it go after k timed-out attempts (the migration then succeeds with k+1
attempts reported), or never (a clean failure that names it, nothing applied, Knex's lock free).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from bazooka.budget import TimeBudget
from bazooka.errors import MigrationError, PostgresError
from bazooka.postgres import lock_wait, maintenance, migrator
from bazooka.postgres.connection import Connection, connect
from bazooka.postgres.lock_wait import LockPolicy
from bazooka.postgres.migrations_source import Migration, bundled
from bazooka.settings import Settings
from tests.helpers import RecordingHandler, admin_dsn, cli

KNOWN = bundled()
ORDERS_CHANGE = "20250514151100_add_builder_fees_to_orders_and_fills.js"
CONCURRENT_INDEX = "20260112170004_create_long_open_interest_index.js"
PLAIN_INDEX = "20260115131341_create_index_oracle_prices_market_height_desc_inc_price.js"
FAST = LockPolicy(timeout_ms=200, retry_budget_ms=30_000)
BLOCKER_APP = "comlink-like reader"


def _index(name: str) -> int:
    return next(i for i, m in enumerate(KNOWN) if m.name == name)


def _upto(name: str) -> tuple[Migration, ...]:
    """Every bundled migration before ``name``."""
    return KNOWN[: _index(name)]


@pytest.fixture
def conn(db_settings: Settings) -> Iterator[Connection]:
    with connect(db_settings) as c:
        yield c


@pytest.fixture
def retries() -> Iterator[RecordingHandler]:
    """The lock-wait log lines (one per timed-out attempt, ``lock_wait#retry``)."""
    handler = RecordingHandler()
    logger = logging.getLogger("bazooka.postgres.lock_wait")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


class Blocker:
    """A session of its own holding ``LOCK TABLE <table> IN <mode> MODE`` in an open
    transaction, as a long read (ACCESS SHARE) or another DDL would."""

    def __init__(self, settings: Settings, table: str, mode: str = "ACCESS SHARE") -> None:
        self.conn = psycopg.connect(
            admin_dsn(settings, settings.db_name), application_name=BLOCKER_APP
        )
        self.conn.execute(f'LOCK TABLE "{table}" IN {mode} MODE')
        self.pid = self.conn.info.backend_pid

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()


def _release_after(retries: RecordingHandler, blocker: Blocker, k: int) -> None:
    """Release the blocker once the k-th timed-out attempt is logged (before its backoff)."""

    class Releasing(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if sum(1 for r in retries.records if _is_retry(r)) >= k:
                blocker.release()

    logging.getLogger("bazooka.postgres.lock_wait").addHandler(Releasing())


def _is_retry(record: logging.LogRecord) -> bool:
    return "lock wait timed out" in record.getMessage()


def _column_exists(conn: Connection, table: str, column: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
        (table, column),
    ).fetchone()
    return row is not None


def _lock_row(conn: Connection) -> Any:
    row = conn.execute("SELECT is_locked FROM knex_migrations_lock").fetchone()
    return row[0] if row else None


def _recorded(conn: Connection) -> int:
    row = conn.execute("SELECT count(*) FROM knex_migrations").fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize(
    ("pending", "mode"),
    [
        (1, migrator.TransactionMode.ONE),
        (None, migrator.TransactionMode.PER_MIGRATION),
    ],
    ids=["one-transaction batch", "one transaction per migration"],
)
def test_a_lock_released_after_k_attempts_succeeds_with_k_plus_one_attempts(
    conn: Connection,
    db_settings: Settings,
    retries: RecordingHandler,
    pending: int | None,
    mode: migrator.TransactionMode,
) -> None:
    """A long read holds orders; it ends after the 2nd timed-out attempt: the migration of
    orders succeeds at its 3rd attempt, reported with its time lost to the lock, and every log
    line of a timed-out attempt names the reader (pid and application_name)."""
    start = _index(ORDERS_CHANGE)
    migrator.migrate(conn, KNOWN[:start])
    known = KNOWN[: start + pending] if pending else KNOWN
    blocker = Blocker(db_settings, "orders")
    _release_after(retries, blocker, 2)
    # 500 ms: the watcher's first look (at a quarter of it) comes in time on a busy machine.
    policy = LockPolicy(timeout_ms=500, retry_budget_ms=30_000)
    progress = _Descriptions()
    try:
        result = migrator.migrate(conn, known, progress, locks=policy)
    finally:
        blocker.release()
    assert result.mode is mode
    assert result.applied == tuple(m.name for m in known[start:])
    assert result.attempts[ORDERS_CHANGE] == 3
    assert result.lock_wait_ms[ORDERS_CHANGE] >= 2 * policy.timeout_ms
    figures = result.to_dict()
    assert figures["attempts"][ORDERS_CHANGE] == 3
    assert set(figures["attempts"]) == set(result.applied)
    assert figures["lock_wait_ms_total"] == sum(result.lock_wait_ms.values())
    assert "; 2 attempt(s) retried after a lock wait (" in result.headline()
    timed_out = [r.getMessage() for r in retries.records if _is_retry(r)]
    assert len(timed_out) == 2
    assert all(f"pid {blocker.pid}" in m and BLOCKER_APP in m for m in timed_out), timed_out
    assert all("orders (AccessExclusiveLock)" in m for m in timed_out), timed_out
    assert any(f"waiting for pid {blocker.pid} ({BLOCKER_APP})" in d for d in progress.shown)
    assert _column_exists(conn, "orders", "builderAddress")
    assert _lock_row(conn) == 0


class _Descriptions:
    """A progress display that keeps every description it was given."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def start_task(self, description: str, total: int | None) -> None:
        self.shown.append(description)

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        if description:
            self.shown.append(description)


def test_a_lock_held_past_the_budget_fails_cleanly_naming_the_blocker(
    conn: Connection, db_settings: Settings
) -> None:
    """The read never ends: the step fails once the retry budget would be passed; the
    message names the session (pid, application_name, its query); nothing of the batch is
    applied and Knex's lock row is free."""
    start = _index(ORDERS_CHANGE)
    migrator.migrate(conn, KNOWN[:start])
    before = _recorded(conn)
    blocker = Blocker(db_settings, "orders")
    started = time.monotonic()
    try:
        with pytest.raises(MigrationError) as failure:
            migrator.migrate(
                conn, KNOWN[: start + 1], locks=LockPolicy(timeout_ms=200, retry_budget_ms=1_500)
            )
    finally:
        blocker.release()
    elapsed = time.monotonic() - started
    message = str(failure.value)
    assert f"Migration {ORDERS_CHANGE} (up) could not take its locks" in message
    assert f"pid {blocker.pid}" in message and BLOCKER_APP in message
    assert "LOCK TABLE" in message  # the start of the blocker's query
    assert "BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS" in message
    assert "nothing was applied and the lock is free" in message
    assert elapsed < 10, elapsed
    assert _recorded(conn) == before
    assert not _column_exists(conn, "orders", "builderAddress")
    assert _lock_row(conn) == 0


def test_a_concurrent_index_build_held_past_the_budget_fails_cleanly(
    conn: Connection, db_settings: Settings
) -> None:
    """CREATE INDEX CONCURRENTLY (a no-transaction migration) behind another session's DDL
    lock on perpetual_positions: one attempt that waits the whole retry budget (its waits block
    no one, and a retry would build again), then a clean failure naming that session, the
    migration not recorded, no index (valid or not) left, the lock row free; once the session
    is gone, the next run applies it."""
    migrator.migrate(conn, _upto(CONCURRENT_INDEX))
    known = KNOWN[: _index(CONCURRENT_INDEX) + 1]
    blocker = Blocker(db_settings, "perpetual_positions", "SHARE UPDATE EXCLUSIVE")
    started = time.monotonic()
    try:
        with pytest.raises(MigrationError) as failure:
            migrator.migrate(conn, known, locks=LockPolicy(timeout_ms=200, retry_budget_ms=1_000))
    finally:
        blocker.release()
    assert 0.9 < time.monotonic() - started < 10
    message = str(failure.value)
    assert f"Migration {CONCURRENT_INDEX} (up) could not take its locks" in message
    assert "its concurrent statement waited 1000 ms, the whole retry budget" in message
    assert f"pid {blocker.pid}" in message and BLOCKER_APP in message
    assert "perpetual_positions (ShareUpdateExclusiveLock)" in message
    assert "0 migration(s) of this batch were applied before it" in message
    assert _lock_row(conn) == 0
    assert CONCURRENT_INDEX not in _names(conn)
    assert _index_valid(conn, "perpetual_positions_oi_open_idx") is None
    result = migrator.migrate(conn, known, locks=FAST)
    assert result.applied == (CONCURRENT_INDEX,)
    assert _index_valid(conn, "perpetual_positions_oi_open_idx") is True


def test_a_concurrent_index_build_waits_in_one_attempt_longer_than_the_timeout(
    conn: Connection, db_settings: Settings
) -> None:
    migrator.migrate(conn, _upto(CONCURRENT_INDEX))
    blocker = Blocker(db_settings, "perpetual_positions", "SHARE UPDATE EXCLUSIVE")
    timer = threading.Timer(1.0, blocker.release)
    timer.start()
    try:
        result = migrator.migrate(conn, KNOWN[: _index(CONCURRENT_INDEX) + 1], locks=FAST)
    finally:
        timer.cancel()
        blocker.release()
    assert result.attempts == {CONCURRENT_INDEX: 1}
    assert _index_valid(conn, "perpetual_positions_oi_open_idx") is True
    # The session's lock_timeout is back to the server's default after the migration.
    row = conn.execute("SHOW lock_timeout").fetchone()
    assert row is not None and row[0] == "0"


def test_a_no_transaction_migration_retries_its_statement_until_the_lock_is_free(
    conn: Connection, db_settings: Settings, retries: RecordingHandler
) -> None:
    """The oracle_prices index built without CONCURRENTLY (SHARE: blocks writes) behind a
    writer: its statement times out, is retried, and succeeds at the 2nd attempt."""
    migrator.migrate(conn, _upto(PLAIN_INDEX))
    blocker = Blocker(db_settings, "oracle_prices", "ROW EXCLUSIVE")
    _release_after(retries, blocker, 1)
    try:
        result = migrator.migrate(conn, KNOWN[: _index(PLAIN_INDEX) + 1], locks=FAST)
    finally:
        blocker.release()
    assert result.attempts == {PLAIN_INDEX: 2}
    assert result.lock_wait_ms[PLAIN_INDEX] >= FAST.timeout_ms
    assert _index_valid(conn, "oracle_prices_market_height_desc_inc_price") is True
    row = conn.execute("SHOW lock_timeout").fetchone()
    assert row is not None and row[0] == "0"


def test_rollback_retries_too(
    conn: Connection, db_settings: Settings, retries: RecordingHandler
) -> None:
    start = _index(ORDERS_CHANGE)
    migrator.migrate(conn, KNOWN[:start])
    migrator.migrate(conn, KNOWN[: start + 1])
    blocker = Blocker(db_settings, "orders")
    _release_after(retries, blocker, 1)
    try:
        result = migrator.rollback(conn, KNOWN[: start + 1], locks=FAST)
    finally:
        blocker.release()
    assert result.rolled_back == (ORDERS_CHANGE,)
    assert result.attempts == {ORDERS_CHANGE: 2}
    assert not _column_exists(conn, "orders", "builderAddress")


def test_timeout_zero_waits_as_knex_does_and_names_the_blocker_while_waiting(
    conn: Connection, db_settings: Settings
) -> None:
    """``0``: one attempt that waits for the reader, however long; while it waits, the log
    names the reader."""
    start = _index(ORDERS_CHANGE)
    migrator.migrate(conn, KNOWN[:start])
    waiting = RecordingHandler()
    logger = logging.getLogger("bazooka.postgres.lock_wait")
    logger.addHandler(waiting)
    logger.setLevel(logging.INFO)
    blocker = Blocker(db_settings, "orders")
    timer = threading.Timer(1.5, blocker.release)
    timer.start()
    started = time.monotonic()
    try:
        result = migrator.migrate(conn, KNOWN[: start + 1], locks=lock_wait.WAIT_FOREVER)
    finally:
        timer.cancel()
        blocker.release()
        logger.removeHandler(waiting)
    assert time.monotonic() - started >= 1.4
    assert result.attempts == {ORDERS_CHANGE: 1}
    said = [r.getMessage() for r in waiting.records]
    assert any(
        f"waiting for orders (AccessExclusiveLock) held by pid {blocker.pid}" in m for m in said
    ), said


def test_the_run_reports_attempts_and_lock_waits_and_reads_the_settings(
    scratch_db: dict[str, str], db_settings: Settings
) -> None:
    """Through the CLI: the settings reach the migrator and the report carries the figures."""
    start = _index(ORDERS_CHANGE)
    with connect(db_settings) as c:
        migrator.migrate(c, KNOWN[:start])
    blocker = Blocker(db_settings, "orders")
    try:
        env = {
            **scratch_db,
            "BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS": "100",
            "BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS": "600",
        }
        done = cli(env, "run", "--migrate", "--json")
    finally:
        blocker.release()
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert f"pid {blocker.pid}" in report["error"]
    assert "each waited 100 ms (BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS)" in report["error"]
    done = cli(scratch_db, "run", "--migrate", "--json")
    assert done.returncode == 0
    details = json.loads(done.stdout)["steps"][0]["details"]
    assert details["attempts"][ORDERS_CHANGE] == 1
    assert details["lock_wait_ms"][ORDERS_CHANGE] == 0
    assert details["lock_wait_ms_total"] == 0


def _names(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM knex_migrations")}


def _index_valid(conn: Connection, name: str) -> bool | None:
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s",
        (name,),
    ).fetchone()
    return None if row is None else bool(row[0])


def test_clear_db_and_reset_db_bound_their_lock_waits_too(
    conn: Connection, db_settings: Settings, retries: RecordingHandler
) -> None:
    """clear_db's TRUNCATE and reset_db's DROP SCHEMA lock every table: behind a long read
    they retry, then fail cleanly naming it, having removed nothing."""
    migrator.migrate(conn, KNOWN)
    conn.execute(
        'INSERT INTO assets (id, symbol, "atomicResolution", "hasMarket") '
        "VALUES ('9', 'X', -6, false)"
    )
    blocker = Blocker(db_settings, "orders")
    try:
        with pytest.raises(PostgresError) as failure:
            maintenance.clear_data(
                conn,
                maintenance.plan_clear(conn),
                LockPolicy(timeout_ms=100, retry_budget_ms=500),
            )
        message = str(failure.value)
        assert "clear_db could not take its locks" in message
        assert f"pid {blocker.pid}" in message and BLOCKER_APP in message
        assert _count(conn, "assets") == 1
        with pytest.raises(PostgresError) as failure:
            maintenance.reset_schema(
                conn, maintenance.plan_reset(conn), LockPolicy(timeout_ms=100, retry_budget_ms=300)
            )
        assert "reset_db could not take its locks" in str(failure.value)
        assert _count(conn, "assets") == 1
        _release_after(retries, blocker, len([r for r in retries.records if _is_retry(r)]) + 1)
        cleared = maintenance.clear_data(conn, maintenance.plan_clear(conn), FAST)
    finally:
        blocker.release()
    assert cleared.rows_removed["assets"] == 1
    assert _count(conn, "assets") == 0


def _count(conn: Connection, table: str) -> int:
    row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(row[0]) if row else 0


def test_the_lambda_time_bounds_the_retries(conn: Connection, db_settings: Settings) -> None:
    """With little Lambda time left above the reserve, the first timed-out attempt is the last:
    the failure says the Lambda time, not the retry budget, ended the retries."""
    start = _index(ORDERS_CHANGE)
    migrator.migrate(conn, KNOWN[:start])
    blocker = Blocker(db_settings, "orders")
    try:
        with pytest.raises(MigrationError) as failure:
            migrator.migrate(
                conn,
                KNOWN[: start + 1],
                budget=TimeBudget(lambda: 1_200, reserve_ms=1_000),
                locks=LockPolicy(timeout_ms=200, retry_budget_ms=60_000),
            )
    finally:
        blocker.release()
    message = str(failure.value)
    assert "1 attempt(s) each waited 200 ms" in message
    assert "the Lambda time left (200 ms above the reserve)" in message
    assert f"pid {blocker.pid}" in message
    assert _lock_row(conn) == 0
