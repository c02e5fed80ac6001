"""The Knex-compatible migrator against real PostgreSQL: schema parity, bookkeeping, lock,
transaction policy, take-over from Knex, concurrency, interrupted runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bazooka.errors import MigrationError, MigrationLocked, UnknownMigrations
from bazooka.event import BazookaEvent
from bazooka.postgres import lock, migrator
from bazooka.postgres.catalog import read_catalog
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import Migration, bundled, load_from
from bazooka.postgres.schema_model import canonical, without_bookkeeping
from bazooka.postgres.schema_steps import bundled_model
from bazooka.report import StepStatus
from bazooka.runner import run
from bazooka.settings import Settings
from tests.helpers import MIGRATIONS, ROOT, cli, make_settings
from tests.knex_fixture import knex_database
from tools.schema_dump import dump, fingerprint, normalize

SNAPSHOTS = ROOT / "tests" / "snapshots"
STEPS = json.loads((SNAPSHOTS / "steps.json").read_text())
NO_TRANSACTION = {
    "20230707104421",
    "20230710102643",
    "20230918143243",
    "20230922141210",
    "20240122143649",
    "20240202084811",
    "20240208153050",
    "20240208161948",
    "20240304115004",
    "20240628141851",
    "20240717142808",
    "20240717171246",
    "20240829161450",
    "20240906134410",
    "20240926133526",
    "20250226144411",
    "20250306153101",
    "20250310121018",
    "20250425155808",
    "20250502154753",
    "20250505153439",
    "20250506164832",
    "20250509125707",
    "20250509164342",
    "20250623170556",
    "20260112170004",
    "20260115131341",
}


@pytest.fixture
def conn(db_settings: Settings) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    with connect(db_settings) as connection:
        yield connection


def rows(conn: psycopg.Connection[tuple[Any, ...]], query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


def test_bundled_migrations_are_the_113_knex_names_in_order() -> None:
    known = bundled()
    assert [m.name for m in known] == list(STEPS["migrations"].values())
    assert len(known) == 113
    assert known[15].name == "20230110150025_create_markets_table.ts.js"
    assert known[21].name == "20230404124353_create_pnl_ticks_table.ts.js"
    assert {m.name[:14] for m in known if not m.transaction} == NO_TRANSACTION


def test_migrate_from_empty_gives_the_reference_schema_and_knex_bookkeeping(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]]
) -> None:
    details = migrator.migrate(conn, bundled(), replay=True).to_dict()
    assert details["applied_count"] == MIGRATIONS and details["batch"] == 1
    # 27 migrations opt out of transactions, so (as Knex) each runs on its own.
    assert details["mode"] == "one transaction per migration"
    assert normalize(dump(db_settings)) == (SNAPSHOTS / "schema.sql").read_text()
    recorded = rows(
        conn, "SELECT id, name, batch, migration_time IS NOT NULL FROM knex_migrations ORDER BY id"
    )
    assert [(r[0], r[1], r[2], r[3]) for r in recorded] == [
        (i + 1, name, 1, True) for i, name in enumerate(STEPS["migrations"].values())
    ]
    assert rows(conn, "SELECT index, is_locked FROM knex_migrations_lock") == [(1, 0)]
    # Running again applies nothing.
    again = migrator.migrate(conn, bundled()).to_dict()
    assert again["applied_count"] == 0 and again["batch"] is None
    assert rows(conn, "SELECT max(batch), count(*) FROM knex_migrations") == [(1, MIGRATIONS)]


def test_walk_up_and_down_one_at_a_time_matches_every_reference_step(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]]
) -> None:
    # The shipped schema model of `bazooka verify` is checked against the same real replay.
    known, model = bundled(), bundled_model()

    def catalog() -> dict[Any, Any]:
        return without_bookkeeping(canonical(read_catalog(conn)))

    assert fingerprint(dump(db_settings, exclude_knex=True)) == STEPS["up"]["000"]
    assert catalog() == model.state(0, "up")
    for i in range(1, len(known) + 1):
        migrator.migrate(conn, known[:i])  # exactly the i-th migration, as batch i
        got = fingerprint(dump(db_settings, exclude_knex=True))
        assert got == STEPS["up"][f"{i:03d}"], f"schema after up {i:03d} ({known[i - 1].name})"
        assert catalog() == model.state(i, "up"), f"model after up {i:03d}"
    assert rows(conn, "SELECT max(batch) FROM knex_migrations") == [(MIGRATIONS,)]
    for i in range(len(known) - 1, -1, -1):
        result = migrator.rollback(conn, known).to_dict()  # the latest batch = one migration
        assert result["rolled_back"] == [known[i].name]
        got = fingerprint(dump(db_settings, exclude_knex=True))
        assert got == STEPS["down"][f"{i:03d}"], f"schema after down to {i:03d} ({known[i].name})"
        assert catalog() == model.state(i, "down"), f"model after down to {i:03d}"
    assert rows(conn, "SELECT count(*) FROM knex_migrations") == [(0,)]


def test_rollback_removes_exactly_the_latest_batch(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]]
) -> None:
    known = bundled()
    migrator.migrate(conn, known[:100])
    second = migrator.migrate(conn, known).to_dict()
    assert second["batch"] == 2 and second["applied_count"] == MIGRATIONS - 100
    result = migrator.rollback(conn, known).to_dict()
    assert result["batch"] == 2
    assert result["rolled_back"] == [m.name for m in reversed(known[100:])]
    assert rows(conn, "SELECT count(*), max(batch) FROM knex_migrations") == [(100, 1)]
    assert fingerprint(dump(db_settings, exclude_knex=True)) == STEPS["down"]["100"]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]


def test_takes_over_a_database_migrated_by_knex(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]]
) -> None:
    known = bundled()
    knex_database(conn, known)
    assert migrator.migrate(conn, known).applied_count == 0
    assert rows(conn, "SELECT count(*) FROM knex_migrations") == [(MIGRATIONS,)]
    result = migrator.rollback(conn, known).to_dict()
    assert result["rolled_back_count"] == MIGRATIONS and result["batch"] == 1
    assert fingerprint(dump(db_settings, exclude_knex=True)) == STEPS["down"]["000"]
    # ...and our bookkeeping is Knex's: same columns, one idle lock row.
    assert rows(conn, "SELECT index, is_locked FROM knex_migrations_lock") == [(1, 0)]


def test_knex_can_take_over_from_us(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]], scratch_db: dict[str, str]
) -> None:
    """Our bookkeeping tables are identical (columns, keys, sequences) to the ones Knex creates."""
    migrator.migrate(conn, bundled())
    ours = [line for line in normalize(dump(db_settings)).splitlines() if "knex_" in line]
    with connect(db_settings) as other:
        other.execute("DROP TABLE knex_migrations, knex_migrations_lock")
        _create_knex_tables_like_knex(other)
    theirs = [line for line in normalize(dump(db_settings)).splitlines() if "knex_" in line]
    assert ours == theirs and ours


def _create_knex_tables_like_knex(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    conn.execute(
        'create table "knex_migrations" ("id" serial primary key, "name" varchar(255), '
        '"batch" integer, "migration_time" timestamptz)'
    )
    conn.execute(
        'create table "knex_migrations_lock" ("index" serial primary key, "is_locked" integer)'
    )


def test_unknown_recorded_migration_is_an_error_and_changes_nothing(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]]
) -> None:
    known = bundled()
    migrator.migrate(conn, known[:50])
    conn.execute(
        "INSERT INTO knex_migrations (name, batch, migration_time) "
        "VALUES ('20990101000000_from_the_future.js', 2, now())"
    )
    before = fingerprint(dump(db_settings))
    for action in (migrator.migrate, migrator.rollback):
        with pytest.raises(UnknownMigrations) as err:
            action(conn, known)
        assert "20990101000000_from_the_future.js" in str(err.value)
        assert "corrupt" in str(err.value)
        assert "This Bazooka is behind that database" in str(err.value)
        assert f"newest bundled migration is {known[-1].name}" in str(err.value)
        assert "docs/maintainers.md" in str(err.value)
    assert fingerprint(dump(db_settings)) == before


def test_held_lock_fails_clearly_and_unlock_releases_it(
    conn: psycopg.Connection[tuple[Any, ...]], db_settings: Settings
) -> None:
    known = bundled()
    migrator.migrate(conn, known[:10])
    conn.execute("UPDATE knex_migrations_lock SET is_locked = 1")
    # Another session in the middle of Knex's bookkeeping: the lock cannot be proven stale.
    other = connect(db_settings, autocommit=False)
    other.execute("LOCK TABLE knex_migrations IN SHARE MODE")
    try:
        for action in (migrator.migrate, migrator.rollback):
            with pytest.raises(MigrationLocked) as err:
                action(conn, known)
            assert "already locked" in str(err.value) and "bazooka unlock" in str(err.value)
    finally:
        other.close()
    assert rows(conn, "SELECT count(*) FROM knex_migrations") == [(10,)]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [
        (1,)
    ]  # never freed silently
    assert lock.unlock(conn).to_dict() == {"was_locked": True, "lock_table_exists": True}
    assert rows(conn, "SELECT index, is_locked FROM knex_migrations_lock") != []
    assert migrator.migrate(conn, known).applied_count == MIGRATIONS - 10


def _write_migrations(
    directory: Path, stems: dict[str, tuple[str, str, bool]]
) -> tuple[Migration, ...]:
    for stem, (up, down, transactional) in stems.items():
        marker = "" if transactional else "-- bazooka:no-transaction\n"
        (directory / f"{stem}.up.sql").write_text(marker + up)
        (directory / f"{stem}.down.sql").write_text(marker + down)
    return load_from(directory)


def test_a_migration_directory_with_a_half_pair_or_a_half_marker_is_refused(
    conn: psycopg.Connection[tuple[Any, ...]], tmp_path: Path
) -> None:
    (tmp_path / "20000101000001_a.up.sql").write_text("create table a (x int);")
    with pytest.raises(
        MigrationError, match=re.escape("without both .up.sql and .down.sql: 20000101000001_a")
    ):
        load_from(tmp_path)
    (tmp_path / "20000101000001_a.down.sql").write_text("-- bazooka:no-transaction\ndrop table a;")
    known = load_from(tmp_path)  # listing reads no SQL; the check runs before anything is applied
    with pytest.raises(
        MigrationError, match=re.escape("20000101000001_a.js: '-- bazooka:no-transaction' must")
    ):
        migrator.migrate(conn, known)
    assert rows(conn, "SELECT to_regclass('a'), count(*) FROM knex_migrations") == [(None, 0)]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]


def test_all_transactional_batch_is_all_or_nothing(
    conn: psycopg.Connection[tuple[Any, ...]], tmp_path: Path
) -> None:
    known = _write_migrations(
        tmp_path,
        {
            "20000101000001_a": ("create table a (x int);", "drop table a;", True),
            "20000101000002_b": ("create table b (x int);", "drop table b;", True),
            "20000101000003_c": ("create table c (x int); select 1/0;", "drop table c;", True),
        },
    )
    with pytest.raises(MigrationError) as err:
        migrator.migrate(conn, known)
    assert "20000101000003_c.js (up) failed" in str(err.value)
    assert "nothing was applied" in str(err.value)
    assert rows(conn, "SELECT to_regclass('a'), to_regclass('b')") == [(None, None)]
    assert rows(conn, "SELECT count(*) FROM knex_migrations") == [(0,)]
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]


def test_per_migration_transactions_keep_earlier_ones_and_free_the_lock(
    conn: psycopg.Connection[tuple[Any, ...]], tmp_path: Path
) -> None:
    known = _write_migrations(
        tmp_path,
        {
            "20000101000001_a": ("create table a (x int);", "drop table a;", True),
            "20000101000002_i": ("create index concurrently ai on a (x);", "drop index ai;", False),
            "20000101000003_c": ("create table c (x int); select 1/0;", "drop table c;", True),
        },
    )
    with pytest.raises(MigrationError) as err:
        migrator.migrate(conn, known)
    assert "20000101000003_c.js (up) failed" in str(err.value)
    assert "2 migration(s) of this batch were applied before it" in str(err.value)
    assert rows(conn, "SELECT name FROM knex_migrations ORDER BY id") == [
        ("20000101000001_a.js",),
        ("20000101000002_i.js",),
    ]
    assert rows(conn, "SELECT to_regclass('c')") == [(None,)]  # its own transaction rolled back
    assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]


def test_two_concurrent_first_migrations_apply_each_migration_once(
    db_settings: Settings,
) -> None:
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        with connect(db_settings) as c:
            barrier.wait()
            try:
                outcomes.append(migrator.migrate(c, bundled()).applied_count)
            except MigrationLocked as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    applied = [o for o in outcomes if isinstance(o, int)]
    assert sum(applied) == MIGRATIONS, outcomes
    assert all(isinstance(o, int | MigrationLocked) for o in outcomes)
    with connect(db_settings) as c:
        assert rows(c, "SELECT count(*), count(DISTINCT name) FROM knex_migrations") == [
            (MIGRATIONS, MIGRATIONS)
        ]
        assert rows(c, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]


def test_concurrent_single_transaction_batches_wait_and_apply_once(
    db_settings: Settings, tmp_path: Path
) -> None:
    known = bundled()
    with connect(db_settings) as c:
        migrator.migrate(c, known[:-1])  # the last one is transactional: one-transaction mode
        c.execute("CREATE TABLE slow_gate (x int)")
    gate = connect(db_settings, autocommit=False)
    gate.execute("LOCK TABLE slow_gate")  # holds the first runner inside its transaction
    (slow,) = _write_migrations(
        tmp_path, {"20990101000000_slow": ("SELECT count(*) FROM slow_gate;", "", True)}
    )
    results: list[Any] = []

    def attempt(migrations: tuple[Migration, ...]) -> None:
        with connect(db_settings) as c:
            try:
                results.append(migrator.migrate(c, migrations).to_dict()["applied"])
            except Exception as exc:  # noqa: BLE001 - recorded for the assertion
                results.append(exc)

    first = threading.Thread(target=attempt, args=((*known, slow),))
    first.start()
    time.sleep(0.5)
    second = threading.Thread(target=attempt, args=((*known, slow),))
    second.start()
    time.sleep(0.5)
    gate.rollback()
    gate.close()
    first.join(30)
    second.join(30)
    assert sorted(map(len, results)) == [0, 2], results  # one applied both, the other nothing
    with connect(db_settings) as c:
        assert rows(c, "SELECT count(*), count(DISTINCT name) FROM knex_migrations") == [
            (MIGRATIONS + 1, MIGRATIONS + 1)
        ]


def test_a_killed_run_is_completed_or_reported_by_the_next_one(
    scratch_db: dict[str, str], db_settings: Settings
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bazooka", "run", "--migrate", "--json", "--replay"],
        env=scratch_db,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with connect(db_settings) as c:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            exists = rows(c, "SELECT to_regclass('knex_migrations') IS NOT NULL")[0][0]
            if exists and rows(c, "SELECT count(*) FROM knex_migrations")[0][0] >= 20:
                break
            time.sleep(0.005)
        proc.kill()
        proc.wait()
        # The server may still finish a COMMIT the client sent just before it died: read the
        # count once the killed run's backend is gone.
        while rows(
            c,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'bazooka' AND pid <> pg_backend_pid()",
        )[0][0]:
            assert time.monotonic() < deadline + 30, "the killed run's backend never ended"
            time.sleep(0.05)
        applied = rows(c, "SELECT count(*) FROM knex_migrations")[0][0]
        assert 20 <= applied < MIGRATIONS, "the run finished before it could be killed"
    # No person: a lock the killed run held is proven stale and released by the next run,
    # and what an interrupted CREATE INDEX CONCURRENTLY left is repaired.
    second = cli(scratch_db, "run", "--migrate", "--json")
    assert second.returncode == 0, second.stdout + second.stderr
    step = json.loads(second.stdout)["steps"][0]["details"]
    assert step["applied_count"] == MIGRATIONS - applied
    assert "invalid_indexes" not in step
    assert normalize(dump(db_settings)) == (SNAPSHOTS / "schema.sql").read_text()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"DB_PORT": "1"}, "Cannot connect to PostgreSQL 127.0.0.1:1"),
        ({"DB_PASSWORD": "wrong-password-x"}, "password authentication failed"),
        ({"DB_NAME": "bz_no_such_database"}, 'database "bz_no_such_database" does not exist'),
    ],
)
def test_bad_connection_settings_are_one_line_errors_without_secrets(
    base_env: dict[str, str], override: dict[str, str], expected: str
) -> None:
    env = {**base_env, "DB_HOSTNAME": "127.0.0.1", **override}
    result = cli(env, "run", "--migrate", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["failed_step"] == "migrate"
    assert expected in report["error"] and "\n" not in report["error"]
    for secret in (env["DB_PASSWORD"], "wrong-password-x"):
        assert secret not in result.stdout and secret not in result.stderr


def test_migrate_step_reports_unknown_migrations_through_the_runner(
    db_settings: Settings, conn: psycopg.Connection[tuple[Any, ...]]
) -> None:
    migrator.migrate(conn, bundled())
    conn.execute("INSERT INTO knex_migrations (name, batch) VALUES ('x_unknown.js', 9)")
    report = run(BazookaEvent(migrate=True), db_settings)
    assert report.steps[0].status == StepStatus.FAILED
    assert "x_unknown.js" in (report.steps[0].error or "")


def test_rollback_and_migrate_in_one_event(scratch_db: dict[str, str]) -> None:
    settings = make_settings(scratch_db, PREVENT_BREAKING_CHANGES_WITHOUT_FORCE="false")
    first = run(BazookaEvent(migrate=True), settings)
    assert first.ok
    both = run(BazookaEvent(rollback=True, migrate=True), settings)
    assert both.ok
    details = {s.name: s.details for s in both.steps}
    assert details["rollback"]["rolled_back_count"] == MIGRATIONS
    assert details["migrate"]["applied_count"] == MIGRATIONS and details["migrate"]["batch"] == 1
