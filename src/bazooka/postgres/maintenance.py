"""Destructive database maintenance: ``reset_db`` (drop schema) and ``clear_db`` (empty tables).

Each is planned from the catalog first (what it will drop or empty, with numbers), then applied.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from bazooka.budget import TimeBudget
from bazooka.logs import emit
from bazooka.outcome import EarlierSteps, NoLaterEffect
from bazooka.postgres.connection import Connection
from bazooka.postgres.lock_wait import LockPolicy, in_bounded_transaction
from bazooka.progress import TaskProgress

log = logging.getLogger(__name__)
DEFAULT_LOCKS = LockPolicy()

# Every table the indexer's migrations create (the final schema). clear_db empties exactly
# these; the Knex bookkeeping tables and anything else in the database are left alone. A test
# checks this list against a migrated database in both directions.
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

_TABLE_KINDS = ("r", "p")  # plain and partitioned tables


@dataclass(frozen=True)
class Relation:
    """A table or view of schema ``public`` as the catalog describes it."""

    name: str
    kind: str  # pg_class.relkind: r, p (tables), m (materialized view), v (view)
    populated: bool
    has_pages: bool

    @property
    def maybe_holds_rows(self) -> bool:
        """False only when the relation provably holds no row (a plain table without pages)."""
        return self.kind != "r" or self.has_pages


def public_relations(conn: Connection, names: Sequence[str] | None = None) -> dict[str, Relation]:
    """Tables, materialized views and views of schema ``public`` (optionally only ``names``)."""
    query = sql.SQL(
        "SELECT c.relname, c.relkind::text, c.relispopulated, pg_relation_size(c.oid) > 0 "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm', 'v'){} ORDER BY c.relname"
    ).format(_only(names))
    return {row[0]: Relation(*row) for row in conn.execute(query)}


def _only(names: Sequence[str] | None) -> sql.Composable:
    if names is None:
        return sql.SQL("")
    return sql.SQL(" AND c.relname IN ({})").format(
        sql.SQL(", ").join(sql.Literal(name) for name in names)
    )


def _of_kind(relations: Mapping[str, Relation], *kinds: str) -> tuple[str, ...]:
    return tuple(name for name, r in relations.items() if r.kind in kinds)


# --- reset_db -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetPlan:
    """``reset_db``: drop schema ``public`` with everything in it, then recreate it empty."""

    tables: tuple[str, ...]
    materialized_views: tuple[str, ...]
    views: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tables_to_drop": len(self.tables),
            "materialized_views_to_drop": len(self.materialized_views),
            "tables": list(self.tables),
        }

    def headline(self) -> str:
        """``would drop N table(s)``."""
        return f"would drop {len(self.tables)} table(s)"

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """Later steps find an empty schema."""
        return earlier.with_schema_reset()


@dataclass(frozen=True)
class ResetResult:
    """What ``reset_db`` dropped."""

    tables_dropped: int
    materialized_views_dropped: int
    views_dropped: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tables_dropped": self.tables_dropped,
            "materialized_views_dropped": self.materialized_views_dropped,
            "views_dropped": self.views_dropped,
        }

    def headline(self) -> str:
        """``dropped N table(s)``."""
        return f"dropped {self.tables_dropped} table(s)"


def plan_reset(conn: Connection) -> ResetPlan:
    """What ``reset_db`` would drop."""
    present = public_relations(conn)
    return ResetPlan(
        tables=_of_kind(present, *_TABLE_KINDS),
        materialized_views=_of_kind(present, "m"),
        views=_of_kind(present, "v"),
    )


def reset_schema(
    conn: Connection,
    plan: ResetPlan,
    locks: LockPolicy = DEFAULT_LOCKS,
    progress: TaskProgress | None = None,
    budget: TimeBudget | None = None,
) -> ResetResult:
    """``DROP SCHEMA public CASCADE; CREATE SCHEMA public`` in one transaction.

    Other schemas are untouched. Migrations are not re-run (that is ``migrate``'s job). The
    drop locks every table: its lock waits are bounded and retried as a migration's are.
    """

    def drop() -> None:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")

    in_bounded_transaction(conn, locks, "reset_db", drop, progress=progress, budget=budget)
    emit(
        log,
        logging.INFO,
        "maintenance#reset_schema",
        "Reset schema public",
        tablesDropped=len(plan.tables),
    )
    return ResetResult(len(plan.tables), len(plan.materialized_views), len(plan.views))


# --- clear_db -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearDbPlan(NoLaterEffect):
    """``clear_db``: the indexer tables present and what they hold, the views to refresh."""

    tables: tuple[str, ...]
    views: tuple[str, ...]
    missing_tables: tuple[str, ...]
    rows: Mapping[str, int]  # rows per table when planned

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tables_to_clear": len(self.tables),
            "rows_to_remove": {t: n for t, n in self.rows.items() if n},
            "total_rows_to_remove": sum(self.rows.values()),
        }

    def headline(self) -> str:
        """``would remove N row(s)``."""
        return f"would remove {sum(self.rows.values())} row(s)"


@dataclass(frozen=True)
class ClearResult:
    """What ``clear_db`` removed, table by table, and the views it refreshed."""

    tables_cleared: int
    rows_removed: Mapping[str, int]
    materialized_views_refreshed: tuple[str, ...]
    missing_tables: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "tables_cleared": self.tables_cleared,
            "rows_removed": {t: n for t, n in self.rows_removed.items() if n},
            "total_rows_removed": sum(self.rows_removed.values()),
            "materialized_views_refreshed": list(self.materialized_views_refreshed),
            "missing_tables": list(self.missing_tables),
        }

    def headline(self) -> str:
        """``removed N row(s) from M table(s)``."""
        return (
            f"removed {sum(self.rows_removed.values())} row(s) from {self.tables_cleared} table(s)"
        )


def plan_clear(conn: Connection) -> ClearDbPlan:
    """The indexer tables present, with their rows now, and the materialized views."""
    present = public_relations(conn, [*INDEXER_TABLES, *MATERIALIZED_VIEWS])
    tables = tuple(t for t in INDEXER_TABLES if t in present and present[t].kind in _TABLE_KINDS)
    return ClearDbPlan(
        tables=tables,
        views=tuple(v for v in MATERIALIZED_VIEWS if v in present and present[v].kind == "m"),
        missing_tables=tuple(t for t in INDEXER_TABLES if t not in tables),
        rows=_row_counts(conn, {t: present[t] for t in tables}),
    )


def clear_data(
    conn: Connection,
    plan: ClearDbPlan,
    locks: LockPolicy = DEFAULT_LOCKS,
    progress: TaskProgress | None = None,
    budget: TimeBudget | None = None,
) -> ClearResult:
    """Empty the planned tables in one transaction, then refresh stale materialized views.

    The tables are locked and counted together, so the counts are exactly what was removed;
    bookkeeping tables are kept. Only tables holding rows are truncated (with the tables whose
    foreign keys reference them): TRUNCATE replaces each table's and index's files, which is
    the whole cost on an empty database. Unlike the original, a materialized view still showing
    rows is refreshed, so it no longer reports data of the tables just emptied.
    The tables' lock waits are bounded and retried as a migration's are.
    """

    def clear() -> tuple[dict[str, int], tuple[str, ...]]:
        state = _lock_and_inspect(conn, plan.tables, plan.views)
        removed = _row_counts(conn, {t: state[t] for t in plan.tables})
        holding = {t for t, n in removed.items() if n}
        if holding:
            doomed = sorted(_with_referencing(holding, _referencing(conn, plan.tables)))
            conn.execute(
                sql.SQL("TRUNCATE TABLE {}").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in doomed)
                )
            )
        refreshed = tuple(view for view in plan.views if _stale(conn, state[view]))
        for view in refreshed:
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(sql.Identifier(view)))
        return removed, refreshed

    removed, refreshed = in_bounded_transaction(
        conn, locks, "clear_db", clear, progress=progress, budget=budget
    )
    emit(
        log,
        logging.INFO,
        "maintenance#clear_data",
        "Cleared database",
        rowsRemoved=sum(removed.values()),
        tables=len(plan.tables),
    )
    return ClearResult(len(plan.tables), removed, refreshed, plan.missing_tables)


def _lock_and_inspect(
    conn: Connection, tables: Sequence[str], views: Sequence[str]
) -> dict[str, Relation]:
    """Lock ``tables`` and describe them and ``views``, in one round trip."""
    names = [*tables, *views]
    if not names:
        return {}
    if not tables:
        return public_relations(conn, names)
    lock = sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
        sql.SQL(", ").join(sql.Identifier(t) for t in tables)
    )
    query = sql.SQL(
        "{}; SELECT c.relname, c.relkind::text, c.relispopulated, pg_relation_size(c.oid) > 0 "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public'{}"
    ).format(lock, _only(names))
    cur = conn.execute(query)
    cur.nextset()
    return {row[0]: Relation(*row) for row in cur}


def _row_counts(conn: Connection, tables: Mapping[str, Relation]) -> dict[str, int]:
    """Exact row counts, in one round trip; a plain table without pages is known empty.

    Planning a count of every table costs more than the rest of clear_db on an empty database,
    so only the tables that may hold rows are counted.
    """
    to_count = [name for name, relation in tables.items() if relation.maybe_holds_rows]
    counts: dict[str, int] = {}
    if to_count:
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {name}, count(*) FROM {table}").format(
                name=sql.Literal(t), table=sql.Identifier(t)
            )
            for t in to_count
        )
        counts = {name: int(count) for name, count in conn.execute(query).fetchall()}
    return {name: counts.get(name, 0) for name in tables}


def _referencing(conn: Connection, tables: Sequence[str]) -> dict[str, set[str]]:
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


def _stale(conn: Connection, view: Relation) -> bool:
    """A view to refresh: unpopulated, or still holding rows (every source table is now empty)."""
    if not view.populated:
        return True
    if not view.has_pages:
        return False
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(view.name))
    ).fetchone()
    return bool(row and row[0])
