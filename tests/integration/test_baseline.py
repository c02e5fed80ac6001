"""The atomic baseline against real PostgreSQL: the same end state as the replay (schema and
bookkeeping), the same behaviour afterwards, all or nothing, and only on an empty database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bazooka.errors import MigrationError, MigrationLocked
from bazooka.postgres import baseline, migrator
from bazooka.postgres.catalog import read_catalog
from bazooka.postgres.connection import Connection, connect
from bazooka.postgres.migrations_source import Migration, bundled, load_from
from bazooka.postgres.schema_model import canonical
from bazooka.postgres.schema_steps import migrations_digest
from bazooka.settings import Settings
from tests.helpers import MIGRATIONS, ROOT, cli, make_settings
from tools.schema_dump import baseline_text, dump, normalize, prove_same, state_dump

SNAPSHOT = (ROOT / "tests" / "snapshots" / "schema.sql").read_text()
SHIPPED = ROOT / "src" / "bazooka" / "postgres" / "data" / "baseline.sql"


@pytest.fixture
def conn(db_settings: Settings) -> Iterator[Connection]:
    with connect(db_settings) as connection:
        yield connection


@pytest.fixture
def other(scratch_db: dict[str, str], base_env: dict[str, str]) -> Iterator[Settings]:
    """A second empty database, for side-by-side comparisons with the replay."""
    import uuid

    name = f"bz_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin(base_env), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    try:
        yield make_settings({**base_env, "DB_NAME": name})
    finally:
        with psycopg.connect(_admin(base_env), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def _admin(env: dict[str, str]) -> str:
    s = make_settings(env)
    return (
        f"host={s.db_hostname} port={s.db_port} dbname=postgres user={s.db_username} "
        f"password={s.db_password.get_secret_value()}"
    )


def bookkeeping(conn: Connection) -> dict[str, Any]:
    """Knex's rows and sequences, timestamps aside."""
    return {
        "migrations": conn.execute(
            "SELECT id, name, batch, migration_time IS NOT NULL FROM knex_migrations ORDER BY id"
        ).fetchall(),
        "lock": conn.execute("SELECT index, is_locked FROM knex_migrations_lock").fetchall(),
        "sequences": conn.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' "
            "ORDER BY 1"
        ).fetchall(),
        "matviews": conn.execute(
            "SELECT matviewname, ispopulated FROM pg_matviews ORDER BY 1"
        ).fetchall(),
    }


def test_the_baseline_ends_exactly_where_the_replay_ends(
    conn: Connection, db_settings: Settings, other: Settings
) -> None:
    details = migrator.migrate(conn, bundled()).to_dict()
    assert details["path"] == "baseline" and details["batch"] == 1
    assert details["applied"] == [m.name for m in bundled()]
    with connect(other) as replayed:
        assert migrator.migrate(replayed, bundled(), replay=True).to_dict()["path"] == "replay"
        assert bookkeeping(conn) == bookkeeping(replayed)
        assert canonical(read_catalog(conn)) == canonical(read_catalog(replayed))
    assert normalize(dump(db_settings)) == normalize(dump(other)) == SNAPSHOT
    # The proof the regeneration runs: schema with comments, privileges and owners, every row,
    # sequence positions, materialized views' rows.
    prove_same(other, db_settings)
    facts = bookkeeping(conn)
    assert facts["migrations"][-1] == (113, "20260302120000_add_created_at_to_orders.js", 1, True)
    assert facts["lock"] == [(1, 0)]
    assert facts["matviews"] == [("vaults_daily_pnl", True), ("vaults_hourly_pnl", True)]
    assert ("knex_migrations_id_seq", 113) in facts["sequences"]
    # Running again: nothing pending, by the replay path.
    again = migrator.migrate(conn, bundled()).to_dict()
    assert again["applied_count"] == 0 and again["path"] == "replay"


def _with_extra(tmp_path: Path) -> tuple[Migration, ...]:
    """The bundled migrations plus a newer one, as after upgrading Bazooka."""
    for m in bundled():
        stem = m.name.removesuffix(".js")
        (tmp_path / f"{stem}.up.sql").write_text(m.up_sql)
        (tmp_path / f"{stem}.down.sql").write_text(m.down_sql)
    (tmp_path / "20990101000000_add_x.up.sql").write_text("ALTER TABLE orders ADD COLUMN x int;")
    (tmp_path / "20990101000000_add_x.down.sql").write_text("ALTER TABLE orders DROP COLUMN x;")
    return load_from(tmp_path)


def test_a_later_migration_and_rollbacks_behave_as_after_a_replay(
    conn: Connection, db_settings: Settings, other: Settings, tmp_path: Path
) -> None:
    newer = _with_extra(tmp_path)
    with connect(other) as replayed:
        migrator.migrate(conn, bundled())
        migrator.migrate(replayed, bundled(), replay=True)
        steps: list[Callable[[Connection], dict[str, Any]]] = [
            lambda c: migrator.migrate(c, newer).to_dict(),
            lambda c: migrator.rollback(c, newer).to_dict(),
            lambda c: migrator.rollback(c, newer).to_dict(),
        ]
        for step in steps:
            outcome = step(conn)
            assert step(replayed) == outcome
            assert bookkeeping(conn) == bookkeeping(replayed)
            assert normalize(dump(db_settings)) == normalize(dump(other))
    assert outcome["rolled_back_count"] == MIGRATIONS and outcome["batch"] == 1
    assert conn.execute("SELECT count(*) FROM knex_migrations").fetchone() == (0,)


def test_a_failed_baseline_leaves_the_database_empty(conn: Connection) -> None:
    shipped = baseline.bundled_baseline()
    broken = baseline.Baseline(shipped.migrations, shipped.digest, shipped.sql + "SELECT 1/0;")
    with pytest.raises(MigrationError, match="nothing was created, the database is still empty"):
        migrator.load_baseline(conn, bundled(), source=broken)
    assert baseline.database_is_empty(conn)
    assert migrator.migrate(conn, bundled()).to_dict()["path"] == "baseline"


def test_an_interrupted_baseline_leaves_nothing_behind(
    conn: Connection, db_settings: Settings
) -> None:
    """The loading session is killed half way (as a Lambda timeout or a crash would)."""
    errors: list[BaseException] = []

    def load() -> None:
        with connect(db_settings) as loader:
            try:
                migrator.migrate(loader, bundled())
            except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                errors.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Half way: the loader holds locks on dozens of relations it has created.
        row = conn.execute(
            "SELECT a.pid, count(l.*) FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
            "WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() "
            "AND l.locktype = 'relation' GROUP BY a.pid"
        ).fetchone()
        if row and row[1] >= 40:
            conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            break
    thread.join(30)
    assert errors, "the baseline finished before it could be interrupted"
    assert baseline.database_is_empty(conn)
    assert conn.execute("SELECT to_regclass('knex_migrations')").fetchone() == (None,)
    assert migrator.migrate(conn, bundled()).to_dict()["path"] == "baseline"


@pytest.mark.parametrize(
    "leftover",
    [
        "CREATE TABLE stray (x int)",
        "CREATE FUNCTION stray() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE TYPE stray AS ENUM ('a')",
        "CREATE TABLE knex_migrations (id serial primary key, name varchar(255), batch integer, "
        "migration_time timestamptz)",
    ],
    ids=["stray table", "function", "type", "empty knex table"],
)
def test_a_database_that_is_not_empty_always_takes_the_replay(
    conn: Connection, leftover: str
) -> None:
    conn.execute(leftover)
    assert not baseline.database_is_empty(conn)
    details = migrator.migrate(conn, bundled()).to_dict()
    assert details["path"] == "replay" and details["applied_count"] == MIGRATIONS


def test_replay_is_forced_by_flag_and_environment_and_the_plan_says_which_path(
    scratch_db: dict[str, str],
) -> None:
    def planned(*flags: str, env: dict[str, str] = scratch_db) -> dict[str, Any]:
        result = cli(env, "plan", "--json", "--migrate", *flags)
        assert result.returncode == 0, result.stderr
        details: dict[str, Any] = json.loads(result.stdout)["steps"][0]["details"]
        return details

    assert planned()["path"] == "baseline" and planned()["count"] == MIGRATIONS
    assert planned("--replay")["path"] == "replay"
    assert planned(env={**scratch_db, "BAZOOKA_MIGRATE_REPLAY": "true"})["path"] == "replay"
    human = cli(scratch_db, "plan", "--migrate")
    assert "would apply 113 migration(s) (baseline" in human.stdout, human.stdout
    ran = cli({**scratch_db, "BAZOOKA_MIGRATE_REPLAY": "true"}, "run", "--json", "--migrate")
    assert json.loads(ran.stdout)["steps"][0]["details"]["path"] == "replay"
    reset = cli(scratch_db, "plan", "--json", "--reset-db", "--migrate", "--force")
    assert json.loads(reset.stdout)["steps"][1]["details"]["path"] == "baseline"


def test_two_first_runs_at_once_load_the_baseline_once(db_settings: Settings) -> None:
    outcomes: list[Any] = []
    barrier = threading.Barrier(2)

    def attempt() -> None:
        with connect(db_settings) as c:
            barrier.wait()
            try:
                details = migrator.migrate(c, bundled()).to_dict()
                outcomes.append((details["path"], details["applied_count"]))
            except (MigrationLocked, MigrationError) as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    applied = sorted(o for o in outcomes if isinstance(o, tuple))
    assert sum(count for _, count in applied) == MIGRATIONS, outcomes
    assert ("baseline", 113) in applied
    with connect(db_settings) as c:
        rows = c.execute("SELECT count(*), count(DISTINCT name), max(id) FROM knex_migrations")
        assert rows.fetchone() == (113, 113, 113)
        assert c.execute("SELECT is_locked FROM knex_migrations_lock").fetchall() == [(0,)]


def test_the_shipped_baseline_is_what_the_snapshot_tool_makes_from_a_replay(
    conn: Connection, db_settings: Settings
) -> None:
    """Regenerate and compare: a stale or hand-edited baseline fails here."""
    known = bundled()
    migrator.migrate(conn, known, replay=True)
    regenerated = baseline_text(
        state_dump(db_settings),
        [m.name for m in known],
        migrations_digest(known),
        db_settings.db_username,
    )
    assert regenerated == SHIPPED.read_text(), "run tools/update_snapshots.py"
