"""clear_db on real PostgreSQL: what is emptied, what is kept, what is reported, and refusal."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from bazooka.event import BazookaEvent
from bazooka.postgres.bookkeeping import TABLE
from bazooka.postgres.connection import connect
from bazooka.postgres.lock import LOCK_TABLE
from bazooka.postgres.maintenance import INDEXER_TABLES, MATERIALIZED_VIEWS
from bazooka.report import StepStatus
from bazooka.runner import run
from bazooka.settings import Settings
from tests.helpers import MIGRATIONS, cli

VAULT = "dydx1vaultaddress"

SEED = f"""
INSERT INTO blocks VALUES (1, now()), (2, now()), (3, now());
INSERT INTO vaults VALUES ('{VAULT}', 0, 'QUOTING', now(), now());
INSERT INTO subaccounts (id, address, "subaccountNumber", "updatedAt", "updatedAtHeight")
VALUES (md5('s1')::uuid, '{VAULT}', 0, now(), 1), (md5('s2')::uuid, 'dydx1other', 0, now(), 1);
INSERT INTO pnl_ticks (id, "subaccountId", equity, "totalPnl", "netTransfers", "createdAt",
    "blockHeight", "blockTime")
SELECT md5('p' || i)::uuid, md5('s1')::uuid, 1, 1, 1, now(), i, now() - i * interval '2 hours'
FROM generate_series(1, 5) i;
-- Pages but no rows: counted, reported as nothing removed.
INSERT INTO wallets (address, "totalTradingRewards", "totalVolume") VALUES ('dydx1gone', 0, 0);
DELETE FROM wallets;
"""


def rows(conn: psycopg.Connection[tuple[Any, ...]], query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


def counts(conn: psycopg.Connection[tuple[Any, ...]], tables: tuple[str, ...]) -> dict[str, int]:
    return {t: rows(conn, f'SELECT count(*) FROM "{t}"')[0][0] for t in tables}


def test_the_indexer_tables_clear_db_knows_are_exactly_those_the_migrations_create(
    db_settings: Settings,
) -> None:
    """Both directions: a table added by a new migration must join INDEXER_TABLES."""
    assert run(BazookaEvent(migrate=True), db_settings).ok
    with connect(db_settings) as conn:
        kinds = rows(
            conn,
            "SELECT c.relkind::text, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm')",
        )
    tables = {name for kind, name in kinds if kind in ("r", "p")} - {TABLE, LOCK_TABLE}
    assert tables == set(INDEXER_TABLES)
    assert {name for kind, name in kinds if kind == "m"} == set(MATERIALIZED_VIEWS)


def test_clear_db_empties_the_indexer_keeps_the_rest_and_refreshes_stale_views(
    db_settings: Settings,
) -> None:
    run(BazookaEvent(migrate=True), db_settings)
    with connect(db_settings) as conn:
        conn.execute(SEED)
        conn.execute("REFRESH MATERIALIZED VIEW vaults_hourly_pnl")  # holds rows from now on
        conn.execute("REFRESH MATERIALIZED VIEW vaults_daily_pnl WITH NO DATA")  # unpopulated
        conn.execute(
            "CREATE TABLE operator_notes (note text); INSERT INTO operator_notes VALUES ('x')"
        )
        assert rows(conn, "SELECT count(*) FROM vaults_hourly_pnl") == [(5,)]

    report = run(BazookaEvent(clear_db=True, force=True), db_settings)

    assert report.ok, report.failure
    details = report.steps[0].details
    assert details["rows_removed"] == {"blocks": 3, "pnl_ticks": 5, "subaccounts": 2, "vaults": 1}
    assert details["total_rows_removed"] == 11
    assert details["tables_cleared"] == len(INDEXER_TABLES) and details["missing_tables"] == []
    assert sorted(details["materialized_views_refreshed"]) == [
        "vaults_daily_pnl",
        "vaults_hourly_pnl",
    ]
    with connect(db_settings) as conn:
        assert set(counts(conn, INDEXER_TABLES).values()) == {0}
        assert counts(conn, ("vaults_hourly_pnl", "vaults_daily_pnl")) == {
            "vaults_hourly_pnl": 0,
            "vaults_daily_pnl": 0,  # populated again: it can be read
        }
        assert rows(conn, "SELECT count(*) FROM knex_migrations") == [(MIGRATIONS,)]
        assert rows(conn, "SELECT is_locked FROM knex_migrations_lock") == [(0,)]
        assert rows(conn, "SELECT note FROM operator_notes") == [("x",)]

    again = run(BazookaEvent(clear_db=True, force=True), db_settings)
    assert again.ok
    assert again.steps[0].details["rows_removed"] == {}
    assert again.steps[0].details["materialized_views_refreshed"] == []


def test_clear_db_counts_a_table_that_gains_rows_after_it_was_emptied(
    db_settings: Settings,
) -> None:
    """A table truncated earlier has no pages; rows written since must still be found."""
    run(BazookaEvent(migrate=True), db_settings)
    with connect(db_settings) as conn:
        conn.execute("INSERT INTO blocks VALUES (1, now())")
    assert run(BazookaEvent(clear_db=True, force=True), db_settings).ok
    with connect(db_settings) as conn:
        conn.execute("INSERT INTO blocks VALUES (7, now()), (8, now())")
    report = run(BazookaEvent(clear_db=True, force=True), db_settings)
    assert report.steps[0].details["rows_removed"] == {"blocks": 2}


def test_clear_db_refuses_to_cascade_into_a_foreign_table_and_changes_nothing(
    scratch_db: dict[str, str], db_settings: Settings
) -> None:
    run(BazookaEvent(migrate=True), db_settings)
    with connect(db_settings) as conn:
        conn.execute(SEED)
        conn.execute(
            "CREATE TABLE audit (sub uuid REFERENCES subaccounts (id)); "
            "INSERT INTO audit VALUES (md5('s1')::uuid)"
        )
    result = cli(scratch_db, "run", "--clear-db", "--force", "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    step = report["steps"][0]
    assert step["name"] == "clear_db" and step["status"] == StepStatus.FAILED.value
    assert "clear_db failed" in step["error"] and "audit" in step["error"]
    assert "\n" not in step["error"]
    with connect(db_settings) as conn:  # one transaction: nothing was emptied
        assert counts(conn, ("blocks", "subaccounts", "pnl_ticks", "vaults", "audit")) == {
            "blocks": 3,
            "subaccounts": 2,
            "pnl_ticks": 5,
            "vaults": 1,
            "audit": 1,
        }
