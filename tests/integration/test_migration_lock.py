"""The migration lock against real PostgreSQL (and a real Knex client): a stale lock is
released, a live one never is, and a lost connection releases this run's own lock."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bazooka.errors import MigrationError, MigrationLocked
from bazooka.event import BazookaEvent
from bazooka.postgres import lock, migrator
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import Migration, bundled, load_from
from bazooka.runner import run
from bazooka.settings import Settings
from tests.helpers import MIGRATIONS, ROOT, RecordingHandler, cli

KNEX_DIR = ROOT / "scripts" / "knex"
MIGRATIONS_DIR = ROOT / "src" / "bazooka" / "postgres" / "migrations"
Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def conn(db_settings: Settings) -> Iterator[Conn]:
    with connect(db_settings) as connection:
        yield connection


def rows(conn: Conn, query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


def _left_by_a_dead_run(settings: Settings) -> None:
    """The lock row set by a session that then ended, as a killed run leaves it."""
    with connect(settings) as dead:
        dead.execute("UPDATE knex_migrations_lock SET is_locked = 1")


@pytest.fixture
def warnings() -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    logger = logging.getLogger("bazooka")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_a_lock_left_by_a_dead_run_is_released_reported_and_logged(
    db_settings: Settings, conn: Conn, warnings: RecordingHandler
) -> None:
    known = bundled()
    migrator.migrate(conn, known[:10])
    _left_by_a_dead_run(db_settings)
    report = run(BazookaEvent(migrate=True), db_settings)
    assert report.ok, report.failure
    details = report.steps[0].details
    assert details["applied_count"] == MIGRATIONS - 10
    recovered = details["recovered_stale_lock"]
    assert recovered["found"] == "knex_migrations_lock.is_locked = 1"
    assert "no session holds Bazooka's advisory lock" in recovered["evidence"]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]
    assert report.steps[0].headline().endswith("; released a stale lock left by a dead run")
    lines = [r for r in warnings.records if r.levelno == logging.WARNING]
    assert any("Released a stale migration lock" in r.getMessage() for r in lines)
    # A run that found the lock free says nothing about it.
    _left_by_a_dead_run(db_settings)
    assert "recovered_stale_lock" in migrator.rollback(conn, known).to_dict()
    assert "recovered_stale_lock" not in migrator.migrate(conn, known).to_dict()


def test_a_live_bazooka_run_is_named_and_its_lock_never_released(
    db_settings: Settings, conn: Conn, scratch_db: dict[str, str]
) -> None:
    migrator.migrate(conn, bundled()[:5])
    # A live run: its session holds Bazooka's advisory lock, then the row.
    live = psycopg.connect(
        f"host={db_settings.db_hostname} port={db_settings.db_port} "
        f"dbname={db_settings.db_name} user={db_settings.db_username} "
        f"password={db_settings.db_password.get_secret_value()} application_name=bazooka-live",
        autocommit=True,
    )
    try:
        pid = rows(live, "SELECT pg_backend_pid()")[0][0]
        live.execute("SELECT pg_advisory_lock(%s, %s)", (lock.ADVISORY_CLASS, lock.ADVISORY_OBJECT))
        live.execute("UPDATE knex_migrations_lock SET is_locked = 1")
        live.execute("SELECT 'migrating', pg_sleep(0)")
        for action in (migrator.migrate, migrator.rollback):
            with pytest.raises(MigrationLocked) as err:
                action(conn, bundled(), lock_wait_s=0.5)
            message = str(err.value)
            assert "locked by a live Bazooka run" in message
            holder = f"session pid {pid} (application_name 'bazooka-live', client 127.0.0.1"
            assert holder in message, message
            assert "backend started 20" in message and "pg_sleep(0)" in message
            assert "Do not unlock" in message
        assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(1,)]
    finally:
        live.close()
    # Once that session has ended, the row it left is provably stale.
    assert migrator.migrate(conn, bundled()).recovered_stale_lock is not None


def test_a_session_holding_a_lock_on_the_knex_tables_keeps_the_lock(
    db_settings: Settings, conn: Conn
) -> None:
    migrator.migrate(conn, bundled()[:5])
    _left_by_a_dead_run(db_settings)
    other = connect(db_settings, autocommit=False)
    try:
        other.execute("LOCK TABLE knex_migrations IN SHARE MODE")
        with pytest.raises(MigrationLocked) as err:
            migrator.migrate(conn, bundled())
    finally:
        other.close()
    message = str(err.value)
    assert "cannot prove the lock stale" in message
    assert "another session holds a lock on Knex's tables" in message
    assert "Knex client" in message and "bazooka unlock" in message
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(1,)]
    assert rows(conn, "SELECT count(*) FROM knex_migrations") == [(5,)]


def test_a_schema_changing_while_watched_keeps_the_lock(db_settings: Settings, conn: Conn) -> None:
    migrator.migrate(conn, bundled()[:5])
    _left_by_a_dead_run(db_settings)
    stop = threading.Event()

    def busy_migrator() -> None:  # idle between short DDL statements, holding nothing
        with connect(db_settings) as other:
            for i in range(200):
                if stop.is_set():
                    return
                other.execute(f"CREATE TABLE busy_{i} (x int)")
                time.sleep(0.2)

    worker = threading.Thread(target=busy_migrator)
    worker.start()
    try:
        time.sleep(0.3)
        with pytest.raises(MigrationLocked) as err:
            migrator.migrate(conn, bundled())
    finally:
        stop.set()
        worker.join()
    assert "the schema of public changed within 2 s" in str(err.value)
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(1,)]


@pytest.fixture(scope="session")
def knex_installed() -> Path:
    """scripts/knex's pinned packages, installed with npm ci when missing."""
    if not (KNEX_DIR / "node_modules" / "knex").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed for the Knex tests (install Node.js and npm)")
        done = subprocess.run(
            [npm, "ci", "--prefix", str(KNEX_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return KNEX_DIR / "node_modules"


def test_a_live_knex_migration_keeps_its_lock(
    knex_installed: Path, scratch_db: dict[str, str], db_settings: Settings, conn: Conn
) -> None:
    conn.execute("CREATE TABLE bz_gate (x int)")
    gate = connect(db_settings, autocommit=False)
    gate.execute("LOCK TABLE bz_gate IN ACCESS EXCLUSIVE MODE")
    node = shutil.which("node")
    assert node is not None, "node is needed for the Knex tests"
    knex = subprocess.Popen(
        [node, str(Path(__file__).with_name("knex_migrating.js")), str(MIGRATIONS_DIR), "bz_gate"],
        env={**scratch_db, "NODE_PATH": str(knex_installed)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while rows(
            conn,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE '%bz_gate%'",
        ) != [(1,)]:
            assert knex.poll() is None, knex.communicate()
            assert time.monotonic() < deadline, "Knex never reached its second migration"
            time.sleep(0.1)
        assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(1,)]
        second = cli(scratch_db, "run", "--migrate", "--json")
        report = json.loads(second.stdout)
        assert second.returncode == 1, report
        assert "cannot prove the lock stale" in report["error"]
        assert "bazooka unlock" in report["error"]
        assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(1,)]
    finally:
        gate.rollback()
        gate.close()
        out, err = knex.communicate(timeout=60)
    assert knex.returncode == 0, out + err
    assert json.loads(out.strip().splitlines()[-1])["applied"] == [
        "20220719024035_create_block_table.js",
        "20220719024039_create_subaccount_table.js",
    ]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]
    after = cli(scratch_db, "run", "--migrate", "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    details = json.loads(after.stdout)["steps"][0]["details"]
    assert details["applied_count"] == MIGRATIONS - 2 and "recovered_stale_lock" not in details


def _write(directory: Path, stems: dict[str, tuple[str, bool]]) -> tuple[Migration, ...]:
    for stem, (up, transactional) in stems.items():
        marker = "" if transactional else "-- bazooka:no-transaction\n"
        (directory / f"{stem}.up.sql").write_text(marker + up)
        (directory / f"{stem}.down.sql").write_text(marker + "select 1;")
    return load_from(directory)


def _terminate_when_waiting(settings: Settings, gate_table: str) -> threading.Thread:
    """Terminate the Bazooka session once it waits on ``gate_table`` (the server ends it)."""

    def terminate() -> None:
        with connect(settings) as killer:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                found = killer.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE %s",
                    (f"%{gate_table}%",),
                ).fetchall()
                if found:
                    killer.execute("SELECT pg_terminate_backend(%s)", (found[0][0],))
                    return
                time.sleep(0.05)

    thread = threading.Thread(target=terminate)
    thread.start()
    return thread


@pytest.mark.parametrize("transactional", [False, True], ids=["per migration", "one transaction"])
def test_a_lost_connection_fails_clearly_releases_the_lock_and_says_what_was_applied(
    db_settings: Settings, conn: Conn, tmp_path: Path, transactional: bool
) -> None:
    conn.execute("CREATE TABLE gate_x (x int)")
    known = _write(
        tmp_path,
        {
            "20000101000001_a": ("create table a (x int);", True),
            "20000101000002_b": ("create table b (x int);", transactional),
            "20000101000003_c": ("create table c (x int); select count(*) from gate_x;", True),
        },
    )
    gate = connect(db_settings, autocommit=False)
    gate.execute("LOCK TABLE gate_x IN ACCESS EXCLUSIVE MODE")
    killer = _terminate_when_waiting(db_settings, "gate_x")
    try:
        with connect(db_settings) as victim, pytest.raises(MigrationError) as err:
            migrator.migrate(victim, known, reconnect=lambda: connect(db_settings))
    finally:
        killer.join()
        gate.rollback()
        gate.close()
    message = str(err.value)
    assert "20000101000003_c.js (up): lost the connection to PostgreSQL" in message
    assert "this run's lock was released" in message
    expected = [] if transactional else ["20000101000001_a.js", "20000101000002_b.js"]
    assert err.value.details is not None
    assert err.value.details.to_dict()["applied"] == expected
    assert rows(conn, "SELECT name FROM knex_migrations ORDER BY id") == [(n,) for n in expected]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]
    # The next run finishes without anyone.
    assert migrator.migrate(conn, known).applied_count == 3 - len(expected)


def test_leftovers_of_an_interrupted_no_transaction_migration_are_repaired(
    conn: Conn, tmp_path: Path, warnings: RecordingHandler
) -> None:
    known = _write(
        tmp_path,
        {
            "20000101000001_t": ("create table t (x int); insert into t values (1), (1);", True),
            "20000101000002_i": ("create index concurrently if not exists t_x on t (x);", False),
            "20000101000003_j": ("create index concurrently t_y on t (x);", False),
        },
    )
    migrator.migrate(conn, known[:1])
    # An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index (a failed unique one too).
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_x ON t (x)")
    # A run that created t_y and died before recording its migration.
    conn.execute("CREATE INDEX CONCURRENTLY t_y ON t (x)")
    assert rows(conn, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(1,)]
    result = migrator.migrate(conn, known)
    assert result.applied == ("20000101000002_i.js", "20000101000003_j.js")
    assert result.invalid_indexes == ()
    assert rows(
        conn,
        "SELECT c.relname, i.indisvalid, i.indisunique FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('t_x', 't_y') ORDER BY 1",
    ) == [("t_x", True, False), ("t_y", True, False)]
    said = " ".join(r.getMessage() for r in warnings.records if r.levelno == logging.WARNING)
    assert "Dropping invalid index t_x" in said and "Index t_y already exists" in said
