"""Destructive database maintenance: ``reset_db`` (drop schema) and ``clear_db`` (empty tables)."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from bazooka.logs import emit
from bazooka.postgres.connection import translated
from bazooka.settings import Settings

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]

# Every table the indexer's migrations create (the final schema). clear_db empties exactly
# these; the Knex bookkeeping tables and anything else in the database are left alone.
INDEXER_TABLES: tuple[str, ...] = (
    "affiliate_info",
    "affiliate_referred_users",
    "asset_positions",
    "assets",
    "blocks",
    "bridge_information",
    "candles",
    "compliance_data",
    "compliance_status",
    "fills",
    "firebase_notification_tokens",
    "funding_index_updates",
    "funding_payments",
    "leaderboard_pnl",
    "liquidity_tiers",
    "markets",
    "oracle_prices",
    "orders",
    "permission_approval",
    "perpetual_markets",
    "perpetual_positions",
    "persistent_cache",
    "pnl",
    "pnl_ticks",
    "subaccount_usernames",
    "subaccounts",
    "tendermint_events",
    "trading_reward_aggregations",
    "trading_rewards",
    "transactions",
    "transfers",
    "turnkey_users",
    "vaults",
    "wallets",
)
MATERIALIZED_VIEWS: tuple[str, ...] = ("vaults_hourly_pnl", "vaults_daily_pnl")


def public_relations(conn: Connection) -> dict[str, list[str]]:
    """Tables, materialized views and views currently in schema ``public``, by kind."""
    rows = conn.execute(
        """
        SELECT c.relkind::text, c.relname FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm', 'v')
        ORDER BY c.relname
        """
    ).fetchall()
    kinds = {"r": "tables", "p": "tables", "m": "materialized_views", "v": "views"}
    out: dict[str, list[str]] = {"tables": [], "materialized_views": [], "views": []}
    for relkind, name in rows:
        out[kinds[relkind]].append(name)
    return out


def reset_schema(conn: Connection, settings: Settings) -> dict[str, Any]:
    """``DROP SCHEMA public CASCADE; CREATE SCHEMA public`` in one transaction.

    Other schemas are untouched. Migrations are not re-run (that is ``migrate``'s job).
    """
    with translated("reset_db (drop and recreate schema public)", settings), conn.transaction():
        before = public_relations(conn)
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    emit(
        log,
        logging.INFO,
        "maintenance#reset_schema",
        "Reset schema public",
        tablesDropped=len(before["tables"]),
    )
    return {
        "tables_dropped": len(before["tables"]),
        "materialized_views_dropped": len(before["materialized_views"]),
        "views_dropped": len(before["views"]),
    }


def preview_reset(conn: Connection, settings: Settings) -> dict[str, Any]:
    """What ``reset_db`` would drop."""
    with translated("inspecting schema public", settings):
        before = public_relations(conn)
    return {
        "tables_to_drop": len(before["tables"]),
        "materialized_views_to_drop": len(before["materialized_views"]),
        "tables": before["tables"],
    }


def count_rows(conn: Connection, tables: list[str]) -> dict[str, int]:
    """Exact row counts of ``tables``, in one round trip."""
    if not tables:
        return {}
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {name}, count(*) FROM {table}").format(
            name=sql.Literal(t), table=sql.Identifier(t)
        )
        for t in tables
    )
    return {name: int(count) for name, count in conn.execute(query).fetchall()}


def _referencing(conn: Connection, tables: list[str]) -> dict[str, set[str]]:
    """table -> the tables (among ``tables``) whose foreign keys reference it."""
    rows = conn.execute(
        """
        SELECT referenced.relname, referencing.relname FROM pg_constraint c
        JOIN pg_class referencing ON referencing.oid = c.conrelid
        JOIN pg_class referenced ON referenced.oid = c.confrelid
        JOIN pg_namespace n ON n.oid = referencing.relnamespace
        WHERE c.contype = 'f' AND n.nspname = 'public'
        """
    ).fetchall()
    graph: dict[str, set[str]] = {t: set() for t in tables}
    for referenced, referencing in rows:
        if referenced in graph and referencing in graph:
            graph[referenced].add(referencing)
    return graph


def _with_referencing(seeds: set[str], graph: dict[str, set[str]]) -> set[str]:
    """``seeds`` plus every table referencing them, transitively (TRUNCATE needs them all)."""
    found = set(seeds)
    todo = list(seeds)
    while todo:
        for child in graph.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def clear_data(conn: Connection, settings: Settings) -> dict[str, Any]:
    """Empty every indexer table in one transaction, then refresh stale materialized views.

    The tables are locked and counted together, so the counts are exactly what was removed;
    bookkeeping tables are kept. Only tables holding rows are truncated (with the tables whose
    foreign keys reference them): TRUNCATE replaces each table's and index's files, which is
    the whole cost on an empty database. Unlike the original, a materialized view still showing
    rows is refreshed, so it no longer reports data of the tables just emptied.
    """
    with translated("clear_db", settings), conn.transaction():
        present = public_relations(conn)
        tables = [t for t in INDEXER_TABLES if t in present["tables"]]
        views = [v for v in MATERIALIZED_VIEWS if v in present["materialized_views"]]
        removed, views_state = _lock_and_inspect(conn, tables, views)
        holding = {t for t, n in removed.items() if n}
        if holding:
            doomed = sorted(_with_referencing(holding, _referencing(conn, tables)))
            conn.execute(
                sql.SQL("TRUNCATE TABLE {}").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in doomed)
                )
            )
        refreshed = [view for view in views if _stale(conn, view, *views_state[view])]
        for view in refreshed:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(view)))
    emit(
        log,
        logging.INFO,
        "maintenance#clear_data",
        "Cleared database",
        rowsRemoved=sum(removed.values()),
        tables=len(tables),
    )
    return {
        "tables_cleared": len(tables),
        "rows_removed": {t: n for t, n in removed.items() if n},
        "total_rows_removed": sum(removed.values()),
        "materialized_views_refreshed": refreshed,
        "missing_tables": [t for t in INDEXER_TABLES if t not in present["tables"]],
    }


def _lock_and_inspect(
    conn: Connection, tables: list[str], views: list[str]
) -> tuple[dict[str, int], dict[str, tuple[bool, bool]]]:
    """Lock ``tables``; return their exact row counts and, per view, (populated, has pages).

    The lock and a look at the catalog go in one round trip. A plain table whose heap has no
    pages holds no rows, so only the others are counted: on an empty database no table is
    scanned (planning a count of every table costs more than the rest of the step).
    """
    names = [*tables, *views]
    if not names:
        return {}, {}
    inspect = sql.SQL(
        "SELECT c.relname, c.relkind::text, c.relispopulated, pg_relation_size(c.oid) > 0 "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relname IN ({})"
    ).format(sql.SQL(", ").join(sql.Literal(name) for name in names))
    if tables:
        lock = sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE; ").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        )
        cur = conn.execute(lock + inspect)
        cur.nextset()
    else:
        cur = conn.execute(inspect)
    state = {name: (kind, bool(populated), bool(pages)) for name, kind, populated, pages in cur}
    # A partitioned table has no pages of its own: count it like any table with pages.
    to_count = [t for t in tables if state[t][0] != "r" or state[t][2]]
    counts = count_rows(conn, to_count)
    return (
        {t: counts.get(t, 0) for t in tables},
        {v: (state[v][1], state[v][2]) for v in views},
    )


def _stale(conn: Connection, view: str, populated: bool, has_pages: bool) -> bool:
    """A view to refresh: unpopulated, or still holding rows (every source table is now empty)."""
    if not populated:
        return True
    if not has_pages:
        return False
    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(view)))
    found = row.fetchone()
    return bool(found and found[0])


def preview_clear(conn: Connection, settings: Settings) -> dict[str, Any]:
    """What ``clear_db`` would remove: rows per indexer table."""
    with translated("counting rows for clear_db", settings):
        present = public_relations(conn)
        tables = [t for t in INDEXER_TABLES if t in present["tables"]]
        counts = count_rows(conn, tables)
    return {
        "tables_to_clear": len(tables),
        "rows_to_remove": {t: n for t, n in counts.items() if n},
        "total_rows_to_remove": sum(counts.values()),
    }
