"""`bazooka verify` against real PostgreSQL: clean databases verify clean, every kind of drift
is caught and named, the step is the recorded one, and the catalog is read in one round trip."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from bazooka.errors import MigrationError, PostgresError, UnknownMigrations
from bazooka.postgres import migrator
from bazooka.postgres.catalog import read_catalog
from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled, load_from
from bazooka.postgres.schema_model import canonical, without_bookkeeping
from bazooka.postgres.schema_steps import SchemaModel
from bazooka.postgres.verify import SchemaReport, verify
from bazooka.settings import Settings
from tests.helpers import admin_dsn, cli, make_settings
from tests.knex_fixture import knex_database

Connection = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture
def conn(db_settings: Settings) -> Iterator[Connection]:
    with connect(db_settings) as connection:
        yield connection


@pytest.fixture
def migrated(conn: Connection) -> Connection:
    migrator.migrate(conn, bundled())
    return conn


def found(report: SchemaReport) -> set[tuple[str, str]]:
    return {(d.object, d.status) for d in report.differences}


@pytest.mark.parametrize("replay", [False, True], ids=["baseline", "replay"])
def test_a_freshly_migrated_database_verifies_clean(conn: Connection, replay: bool) -> None:
    migrator.migrate(conn, bundled(), replay=replay)
    report = verify(conn, bundled())
    assert report.ok, report.headline()
    assert report.step == 113 and report.walk == "up"
    assert report.objects_expected == report.objects_live == 511
    assert report.headline().startswith("schema matches step 113 (20260302120000_add_created_at")


def interrupted_concurrent_index(settings: Settings, statement: str) -> None:
    """Run CREATE INDEX CONCURRENTLY and cancel it while it waits: PostgreSQL leaves the index
    INVALID, as after a killed deploy. A writer's open transaction makes it wait."""
    with connect(settings, autocommit=False) as writer, connect(settings) as builder:
        writer.execute("LOCK TABLE fills IN ROW EXCLUSIVE MODE")
        builder.execute("SET statement_timeout = '1s'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            builder.execute(statement)
        writer.rollback()


DRIFTS: dict[str, tuple[str, set[tuple[str, str]]]] = {
    "dropped index": (
        "DROP INDEX fills_createdat_index",
        {("index fills_createdat_index", "missing")},
    ),
    "extra index": (
        "CREATE INDEX orders_size_by_hand ON orders (size)",
        {("index orders_size_by_hand", "unexpected")},
    ),
    "changed column type": (
        "ALTER TABLE orders ALTER COLUMN size TYPE numeric(20, 2)",
        {("column orders.size", "changed")},
    ),
    "dropped NOT NULL": (
        "ALTER TABLE orders ALTER COLUMN status DROP NOT NULL",
        {("column orders.status", "changed")},
    ),
    "added column": (
        "ALTER TABLE fills ADD COLUMN note text",
        {("column fills.note", "unexpected")},
    ),
    "extra table": ("CREATE TABLE scratch (x int)", {("table scratch", "unexpected")}),
    "dropped table": ("DROP TABLE persistent_cache", {("table persistent_cache", "missing")}),
    "changed default": (
        'ALTER TABLE affiliate_info ALTER COLUMN "affiliateEarnings" SET DEFAULT 1',
        {("column affiliate_info.affiliateEarnings", "changed")},
    ),
    "dropped default": (
        'ALTER TABLE compliance_data ALTER COLUMN "updatedAt" DROP DEFAULT',
        {("column compliance_data.updatedAt", "changed")},
    ),
    "dropped check": (
        "ALTER TABLE orders DROP CONSTRAINT orders_type_check",
        {("constraint orders.orders_type_check", "missing")},
    ),
    "validated NOT VALID check": (
        "ALTER TABLE orders VALIDATE CONSTRAINT orders_status_check",
        {("constraint orders.orders_status_check", "changed")},
    ),
    "check made NOT VALID": (
        "ALTER TABLE candles DROP CONSTRAINT candles_resolution_check; ALTER TABLE candles ADD "
        "CONSTRAINT candles_resolution_check CHECK (resolution = ANY (ARRAY['1MIN'::text, "
        "'5MINS'::text, '15MINS'::text, '30MINS'::text, '1HOUR'::text, '4HOURS'::text, "
        "'1DAY'::text])) NOT VALID",
        {("constraint candles.candles_resolution_check", "changed")},
    ),
    "dropped foreign key": (
        "ALTER TABLE fills DROP CONSTRAINT fills_orderid_foreign",
        {("constraint fills.fills_orderid_foreign", "missing")},
    ),
    "materialized view left unpopulated": (
        "REFRESH MATERIALIZED VIEW vaults_daily_pnl WITH NO DATA",
        {("materialized view vaults_daily_pnl", "changed")},
    ),
    "replaced materialized view": (
        "DROP MATERIALIZED VIEW vaults_daily_pnl; CREATE MATERIALIZED VIEW vaults_daily_pnl AS "
        "SELECT * FROM pnl_ticks; CREATE UNIQUE INDEX ON vaults_daily_pnl (id)",
        {("materialized view vaults_daily_pnl", "changed")},
    ),
    "extra view": (
        "CREATE VIEW open_orders AS SELECT id FROM orders",
        {("view open_orders", "unexpected")},
    ),
    "extra function": (
        "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        {("function one()", "unexpected")},
    ),
    "extra trigger": (
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
        "'BEGIN RETURN NEW; END'; CREATE TRIGGER orders_touch BEFORE UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION touch()",
        {("function touch()", "unexpected"), ("trigger orders.orders_touch", "unexpected")},
    ),
    "extra sequence": ("CREATE SEQUENCE ticket_seq", {("sequence ticket_seq", "unexpected")}),
    "changed sequence": (
        "ALTER SEQUENCE firebase_notification_tokens_id_seq INCREMENT BY 10",
        {("sequence firebase_notification_tokens_id_seq", "changed")},
    ),
    "extra type": ("CREATE TYPE mood AS ENUM ('ok', 'sad')", {("type mood", "unexpected")}),
    "extra extension": (
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        {("extension pg_trgm", "unexpected")},
    ),
    "unlogged table": ("ALTER TABLE candles SET UNLOGGED", {("table candles", "changed")}),
    "renamed index": (
        "ALTER INDEX fills_createdat_index RENAME TO fills_created_at_idx",
        {("index fills_createdat_index", "missing"), ("index fills_created_at_idx", "unexpected")},
    ),
    "changed partial index": (
        "DROP INDEX blocks_time_since_march2025_idx; CREATE INDEX blocks_time_since_march2025_idx "
        'ON blocks ("time") WHERE "time" >= \'2025-04-01\'',
        {("index blocks_time_since_march2025_idx", "changed")},
    ),
    "foreign keys disabled": (
        "ALTER TABLE fills DISABLE TRIGGER ALL",
        {
            ("constraint fills.fills_orderid_foreign", "changed"),
            ("constraint fills.fills_subaccountid_foreign", "changed"),
            ("constraint fills.fills_createdatheight_foreign", "changed"),
            ("constraint fills.fills_eventid_foreign", "changed"),
        },
    ),
    "replica identity": ("ALTER TABLE orders REPLICA IDENTITY FULL", {("table orders", "changed")}),
    "column storage": (
        "ALTER TABLE orders ALTER COLUMN type SET STORAGE EXTERNAL",
        {("column orders.type", "changed")},
    ),
    "extra operator": (
        "CREATE FUNCTION near(int, int) RETURNS bool LANGUAGE sql AS 'SELECT abs($1 - $2) < 2';"
        "CREATE OPERATOR ~~~ (LEFTARG = int, RIGHTARG = int, FUNCTION = near)",
        {
            ("function near(integer, integer)", "unexpected"),
            ("operator ~~~(integer,integer)", "unexpected"),
        },
    ),
    "extra collation": (
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        {("collation ci", "unexpected")},
    ),
    "event trigger": (
        "CREATE FUNCTION audit() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END';"
        "CREATE EVENT TRIGGER audit_ddl ON ddl_command_start EXECUTE FUNCTION audit()",
        {("function audit()", "unexpected"), ("event trigger audit_ddl", "unexpected")},
    ),
    "row level security": (
        "ALTER TABLE wallets ENABLE ROW LEVEL SECURITY",
        {("table wallets", "changed")},
    ),
    "owner's privilege revoked": (
        "REVOKE TRUNCATE ON orders FROM CURRENT_USER",
        {("table orders", "changed")},
    ),
}


@pytest.mark.parametrize("drift", list(DRIFTS), ids=list(DRIFTS))
def test_each_kind_of_drift_is_caught_and_named(
    migrated: Connection, db_settings: Settings, scratch_db: dict[str, str], drift: str
) -> None:
    statement, expected = DRIFTS[drift]
    migrated.execute(statement.encode())
    report = verify(migrated, bundled())
    assert found(report) == expected, report.headline()
    result = cli(scratch_db, "verify")
    assert result.returncode == 1, result.stdout + result.stderr
    for object_name, status in expected:
        assert f"{status.upper():<10} {object_name}" in result.stdout, result.stdout


def test_an_index_left_invalid_by_an_interrupted_concurrent_build(
    migrated: Connection, db_settings: Settings
) -> None:
    # A new index, and an expected one rebuilt: both left INVALID by a cancelled build.
    interrupted_concurrent_index(
        db_settings, "CREATE INDEX CONCURRENTLY fills_by_hand ON fills (fee)"
    )
    migrated.execute("DROP INDEX fills_createdat_index")
    interrupted_concurrent_index(
        db_settings, 'CREATE INDEX CONCURRENTLY fills_createdat_index ON fills ("createdAt")'
    )
    report = verify(migrated, bundled())
    assert found(report) == {
        ("index fills_by_hand", "unexpected"),
        ("index fills_createdat_index", "changed"),
    }
    rebuilt = next(d for d in report.differences if d.name == "fills_createdat_index")
    assert rebuilt.fields == ("invalid",) and "INVALID" in rebuilt.note
    assert "INVALID" in next(d for d in report.differences if d.name == "fills_by_hand").note


def test_a_replaced_function_is_caught(conn: Connection, tmp_path: Path) -> None:
    """The indexer's migrations create no function, so this one comes from a test migration
    set with its own model, built the way the snapshot tool builds the shipped one."""
    (tmp_path / "20000101000001_f.up.sql").write_text(
        "CREATE TABLE t (x int);\n"
        "CREATE FUNCTION twice(v int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT v * 2';\n"
    )
    (tmp_path / "20000101000001_f.down.sql").write_text("DROP FUNCTION twice(int); DROP TABLE t;")
    known = load_from(tmp_path)
    empty = without_bookkeeping(canonical(read_catalog(conn)))
    migrator.migrate(conn, known)
    head = without_bookkeeping(canonical(read_catalog(conn)))
    model = SchemaModel.from_walks(
        [m.name for m in known], "x", "test", [empty, head], [empty, head]
    )
    assert verify(conn, known, model).ok
    conn.execute(
        "CREATE OR REPLACE FUNCTION twice(v int) RETURNS int LANGUAGE sql IMMUTABLE "
        "AS 'SELECT v + v'"
    )
    report = verify(conn, known, model)
    assert found(report) == {("function twice(v integer)", "changed")}
    assert report.differences[0].fields == ("definition",)
    assert "v + v" in report.differences[0].live["definition"]  # type: ignore[index]


def test_grants_and_comments_beyond_the_migrations_are_information_not_drift(
    migrated: Connection, scratch_db: dict[str, str]
) -> None:
    migrated.execute("GRANT SELECT ON orders TO PUBLIC")
    migrated.execute('GRANT SELECT ("orderId") ON fills TO PUBLIC')
    migrated.execute("GRANT USAGE ON SCHEMA public TO pg_read_all_data")
    migrated.execute("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO pg_read_all_data")
    migrated.execute("COMMENT ON TABLE wallets IS 'kept by ops'")
    report = verify(migrated, bundled())
    assert report.ok, report.headline()
    assert report.information == (
        "schema public: pg_read_all_data USAGE (not granted by the migrations)",
        "default privileges for (migrator) on tables: pg_read_all_data SELECT (not granted by "
        "the migrations)",
        "table orders: PUBLIC SELECT (not granted by the migrations)",
        "table wallets: a comment the migrations did not write",
        "column fills.orderId: PUBLIC SELECT (not granted by the migrations)",
    )
    result = cli(scratch_db, "verify", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and len(document["information"]) == 5
    human = cli(scratch_db, "verify")
    assert human.returncode == 0
    assert "information: table orders: PUBLIC SELECT (not granted by the migrations)" in (
        human.stdout
    )


def test_ender_runtime_functions_are_listed_not_counted(migrated: Connection) -> None:
    migrated.execute(
        "CREATE FUNCTION dydx_from_uuid(id uuid) RETURNS text LANGUAGE sql AS 'SELECT 1'"
    )
    report = verify(migrated, bundled())
    assert report.ok and report.runtime_functions == ("dydx_from_uuid(id uuid)",)
    assert "ender" in report.notes[0]


def test_a_database_at_step_60_is_verified_against_step_60(conn: Connection) -> None:
    known = bundled()
    migrator.migrate(conn, known[:60])
    report = verify(conn, known)
    assert report.ok and report.step == 60 and report.latest_migration == known[59].name
    assert report.objects_expected < 511
    conn.execute("DROP INDEX candles_started_at_index")
    report = verify(conn, known)
    assert found(report) == {("index candles_started_at_index", "missing")}
    assert "step 60 (" in report.headline()


def test_a_rolled_back_database_is_compared_with_the_rolled_back_state(conn: Connection) -> None:
    """Rolled back from 113 to 60: several downs are not inverses, so it is not the
    migrated-up schema of step 60, but the rolled-back one, and verifies clean as such."""
    known = bundled()
    migrator.migrate(conn, known[:60])
    migrator.migrate(conn, known)  # batch 2: 53 migrations
    migrator.rollback(conn, known)
    report = verify(conn, known)
    assert report.ok and report.step == 60 and report.walk == "down", report.headline()
    assert "as rolled back" in report.headline()


def test_a_database_migrated_by_knex_verifies_clean(conn: Connection) -> None:
    knex_database(conn, bundled())
    report = verify(conn, bundled())
    assert report.ok and report.step == 113, report.headline()


def count_round_trips(conn: Connection, action: Callable[[], Any]) -> int:
    """Round trips, counted from libpq's protocol trace: one ReadyForQuery ends each."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    return sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery" in line)


def test_the_catalog_is_read_in_one_round_trip_whatever_the_number_of_tables(
    migrated: Connection, scratch_db: dict[str, str]
) -> None:
    assert count_round_trips(migrated, lambda: read_catalog(migrated)) == 1
    assert count_round_trips(migrated, lambda: verify(migrated, bundled())) == 3
    migrated.execute(
        "".join(f"CREATE TABLE extra_{i} (id int PRIMARY KEY, v text);" for i in range(40))
    )
    assert count_round_trips(migrated, lambda: read_catalog(migrated)) == 1
    report = verify(migrated, bundled())
    assert len(report.differences) == 40
    # Inside a caller's transaction it uses a savepoint and leaves the caller's settings alone.
    with migrated.transaction():
        migrated.execute("SET LOCAL TimeZone = 'Asia/Tokyo'")
        assert count_round_trips(migrated, lambda: read_catalog(migrated)) == 1
        assert migrated.execute("SHOW TimeZone").fetchone() == ("Asia/Tokyo",)
    # A connection without autocommit: read inside the transaction psycopg opens.
    with connect(make_settings(scratch_db), autocommit=False) as manual:
        assert canonical(read_catalog(manual)) == canonical(read_catalog(migrated))
        assert manual.info.transaction_status == pq.TransactionStatus.INTRANS


def test_session_settings_do_not_change_what_is_read(migrated: Connection) -> None:
    plain = canonical(read_catalog(migrated))
    migrated.execute(
        "SET TimeZone = 'America/New_York'; SET DateStyle = 'SQL, DMY'; "
        "SET IntervalStyle = 'iso_8601'; SET search_path = pg_catalog"
    )
    assert canonical(read_catalog(migrated)) == plain
    assert verify(migrated, bundled()).ok


def test_a_database_that_records_no_step_of_ours_cannot_be_verified(
    migrated: Connection, scratch_db: dict[str, str]
) -> None:
    migrated.execute("INSERT INTO knex_migrations (name, batch) VALUES ('20990101_future.js', 2)")
    with pytest.raises(UnknownMigrations, match=r"20990101_future\.js"):
        verify(migrated, bundled())
    result = cli(scratch_db, "verify", "--json")
    assert result.returncode == 2
    assert "20990101_future.js" in json.loads(result.stdout)["error"]
    migrated.execute("DELETE FROM knex_migrations WHERE name LIKE '2099%' OR id = 50")
    with pytest.raises(MigrationError, match="does not record the first 112 migrations"):
        verify(migrated, bundled())


def test_cli_verify_json_and_status_summary(
    migrated: Connection, scratch_db: dict[str, str]
) -> None:
    result = cli(scratch_db, "verify", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["step"] == 113 and document["differences"] == []
    migrated.execute("ALTER TABLE orders ALTER COLUMN size TYPE numeric(20, 2)")
    result = cli(scratch_db, "verify", "--json")
    assert result.returncode == 1
    difference = json.loads(result.stdout)["differences"][0]
    assert difference["object"] == "column orders.size" and difference["status"] == "changed"
    assert (difference["expected"]["type"], difference["live"]["type"]) == (
        "numeric",
        "numeric(20,2)",
    )
    human = cli(scratch_db, "verify")
    assert "type   numeric   numeric(20,2)" in human.stdout, human.stdout
    status = json.loads(cli(scratch_db, "status", "--json").stdout)
    assert status["postgres"]["schema"]["ok"] is False
    assert status["postgres"]["schema"]["headline"].startswith("DRIFT against step 113")
    text = cli(scratch_db, "status").stdout
    assert "schema: ✘ DRIFT against step 113" in text


def test_the_verify_schema_step_passes_on_a_match_and_fails_on_drift_with_the_report(
    migrated: Connection, scratch_db: dict[str, str]
) -> None:
    clean = cli(scratch_db, "run", "--verify-schema", "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (step,) = json.loads(clean.stdout)["steps"]
    assert (step["name"], step["status"], step["destructive"]) == (
        "verify_schema",
        "succeeded",
        False,
    )
    assert step["details"]["ok"] is True and step["details"]["step"] == 113
    migrated.execute("CREATE INDEX orders_by_hand ON orders (size)")
    drifted = cli(scratch_db, "run", "--verify-schema", "--json")
    assert drifted.returncode == 1
    report = json.loads(drifted.stdout)
    (step,) = report["steps"]
    assert step["status"] == "failed" and report["failed_step"] == "verify_schema"
    assert "DRIFT against step 113" in step["error"] and "orders_by_hand" in step["error"]
    assert [d["object"] for d in step["details"]["differences"]] == ["index orders_by_hand"]


def test_a_plan_of_migrate_then_verify_expects_the_last_step(scratch_db: dict[str, str]) -> None:
    planned = cli(scratch_db, "plan", "--migrate", "--verify-schema", "--json")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    details = {s["name"]: s["details"] for s in json.loads(planned.stdout)["steps"]}
    assert details["verify_schema"] == {
        "step": len(bundled()),
        "latest_migration": bundled()[-1].name,
    }
    done = cli(scratch_db, "run", "--migrate", "--verify-schema", "--json")
    assert done.returncode == 0, done.stdout
    assert [s["status"] for s in json.loads(done.stdout)["steps"]] == ["succeeded", "succeeded"]


def test_a_table_held_by_another_session_is_named_with_that_session(
    migrated: Connection, db_settings: Settings
) -> None:
    """verify waits for DDL holding a table, then says which table and which session, as the
    migration lock does, instead of "canceling statement due to lock timeout"."""
    holder = psycopg.connect(admin_dsn(db_settings, db_settings.db_name), autocommit=False)
    try:
        holder.execute("SET application_name = 'someone-migrating'")
        holder.execute("LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        with pytest.raises(PostgresError) as err:
            verify(migrated, bundled(), lock_timeout_s=0.5)
        message = str(err.value)
        assert (
            "waited 0.5 s for a table of schema public locked in ACCESS EXCLUSIVE mode" in message
        )
        assert f"table public.blocks is held by session pid {pid} " in message
        assert "application_name 'someone-migrating'" in message
        assert "idle in transaction, query started 20" in message
        assert "current query: 'LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE'" in message
        assert "canceling statement" not in message
    finally:
        holder.close()
    assert verify(migrated, bundled()).ok  # the connection is usable again
