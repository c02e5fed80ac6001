"""Is anyone migrating this database right now? The "sign of a live migrator" test.

Used only when Knex's lock row is set and no session holds Bazooka's advisory lock: the row was
set either by a run that has died, or by a live migrator that takes no advisory lock (a Knex
client such as the TypeScript Bazooka, the Knex CLI, or an older Bazooka). A live migrator
cannot hide all of these for the whole observation window:

1. **Locks on Knex's tables.** Knex reads and writes ``knex_migrations`` and
   ``knex_migrations_lock`` inside its transactions; another session holding or awaiting any
   lock on them is in the middle of that bookkeeping.
2. **Schema-changing locks.** DDL takes ``SHARE UPDATE EXCLUSIVE`` or stronger on what it
   changes (``CREATE INDEX CONCURRENTLY`` included) and keeps it to the end of its transaction;
   so does a relation created in a transaction not yet committed, which other sessions cannot
   even see in the catalog. Ordinary application traffic (reads, inserts, updates) takes weaker
   locks, and autovacuum is not a client backend, so neither counts.
3. **DDL running.** Another client session's current statement is DDL.
4. **Changes during the window.** ``knex_migrations`` (rows, highest id), the lock row, and the
   catalog of schema ``public`` (tables, indexes, columns, constraints, types: row versions) are
   read at the start and at the end of the window. A migrator between two migrations — its
   session idle for a moment, holding nothing — still records a migration or changes the schema
   within the window; a dead one changes nothing.
5. **A long writing transaction.** A transaction open across the whole window that writes to a
   table of schema ``public`` (a long data migration takes only row locks).

Any sign, or a read that fails, means "cannot prove": the lock is left alone. What this cannot
see is a migrator frozen for longer than the window with nothing open, which is
indistinguishable from a dead one; ``docs/operators.md`` says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from bazooka.postgres.connection import Connection

SHOWN_QUERY = 120  # characters of another session's query quoted in a message
SCHEMA_CHANGING_MODES = (
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
WRITE_MODES = ("RowExclusiveLock", *SCHEMA_CHANGING_MODES)
DDL_PATTERN = (
    r"^\s*(create|alter|drop|comment|refresh|reindex|cluster|truncate|rename|grant|revoke)\M"
)


@dataclass(frozen=True)
class Session:
    """Another backend, as ``pg_stat_activity`` shows it."""

    pid: int
    application_name: str
    client_addr: str | None
    backend_start: datetime | None
    state: str | None
    query: str
    query_start: datetime | None = None

    def describe(self) -> str:
        """``session pid 123 (application_name 'bazooka', client 10.0.0.5, started ..., ...)``."""
        started = self.backend_start.isoformat(timespec="seconds") if self.backend_start else "?"
        since = (
            f", query started {self.query_start.isoformat(timespec='seconds')}"
            if self.query_start
            else ""
        )
        query = " ".join(self.query.split())
        if len(query) > SHOWN_QUERY:
            query = query[: SHOWN_QUERY - 3] + "..."
        return (
            f"session pid {self.pid} (application_name {self.application_name!r}, client "
            f"{self.client_addr or 'local socket'}, backend started {started}, "
            f"{self.state or 'unknown state'}{since}, current query: {query or '(none)'!r})"
        )


# The columns of a :class:`Session`, from ``pg_stat_activity a``.
SESSION_COLUMNS = """
    a.pid, coalesce(a.application_name, ''), a.client_addr::text, a.backend_start, a.state,
    coalesce(a.query, ''), a.query_start
"""

_EXCLUSIVE_HOLDERS = f"""
SELECT n.nspname || '.' || c.relname, {SESSION_COLUMNS}
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.granted AND l.mode = 'AccessExclusiveLock'
  AND l.pid <> pg_backend_pid() AND n.nspname = %(schema)s
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY 1, 2
"""


def exclusive_holders(conn: Connection, schema: str = "public") -> list[tuple[str, Session]]:
    """The tables of ``schema`` another session holds in ACCESS EXCLUSIVE mode (DDL, as a
    migration takes), with that session: what a reader of the catalog waits for."""
    rows = conn.execute(_EXCLUSIVE_HOLDERS, {"schema": schema}).fetchall()
    return [(str(table), Session(*columns)) for table, *columns in rows]


_LOCK_SIGNS = f"""
SELECT DISTINCT {SESSION_COLUMNS},
       CASE WHEN c.relname IN ('knex_migrations', 'knex_migrations_lock')
                 AND n.nspname = 'public' THEN 'knex'
            WHEN l.mode = ANY(%(schema_changing)s) THEN 'ddl'
            ELSE 'write' END AS kind,
       a.xact_start
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND (n.nspname = 'public' OR c.oid IS NULL)
  AND (l.mode = ANY(%(write)s)
       OR c.relname IN ('knex_migrations', 'knex_migrations_lock'))
"""

_DDL_RUNNING = f"""
SELECT {SESSION_COLUMNS}
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
  AND a.datname = current_database() AND a.state = 'active' AND a.query ~* %(ddl)s
"""

_STATE = """
SELECT
  (SELECT coalesce(string_agg(xmin::text || ':' || is_locked, ',' ORDER BY index), '')
     FROM knex_migrations_lock),
  (SELECT count(*)::text || ':' || coalesce(max(id), 0)::text FROM knex_migrations),
  (SELECT md5(coalesce(string_agg(s, ',' ORDER BY s), '')) FROM (
     SELECT 'c' || c.oid::text || ':' || c.xmin::text AS s FROM pg_class c
       WHERE c.relnamespace = 'public'::regnamespace
     UNION ALL
     SELECT 'a' || a.attrelid::text || '.' || a.attnum::text || ':' || a.xmin::text
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       WHERE c.relnamespace = 'public'::regnamespace
     UNION ALL
     SELECT 'k' || k.oid::text || ':' || k.xmin::text FROM pg_constraint k
       WHERE k.connamespace = 'public'::regnamespace
     UNION ALL
     SELECT 't' || t.oid::text || ':' || t.xmin::text FROM pg_type t
       WHERE t.typnamespace = 'public'::regnamespace
     UNION ALL
     SELECT 'e' || e.oid::text || ':' || e.xmin::text FROM pg_enum e
       JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = 'public'::regnamespace
  ) catalog)
"""


@dataclass(frozen=True)
class _Snapshot:
    """What one look at the database saw."""

    signs: tuple[str, ...]  # signs that are enough on their own
    writers: frozenset[tuple[int, datetime | None]]  # (pid, xact_start) writing to public
    writer_sessions: dict[int, Session]
    lock_rows: str
    knex_rows: str
    catalog: str


class LiveMigratorCheck:
    """Watches the database for signs of a live migrator (see the module docstring)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def watch(self, window_s: float) -> list[str]:
        """Every sign seen at the start, at the end or across ``window_s`` seconds."""
        first = self._look()
        if first.signs:
            return list(first.signs)
        time.sleep(window_s)
        last = self._look()
        signs = list(last.signs)
        if last.lock_rows != first.lock_rows:
            signs.append(f"the lock row changed within {window_s:g} s")
        if last.knex_rows != first.knex_rows:
            signs.append(f"knex_migrations changed within {window_s:g} s")
        if last.catalog != first.catalog:
            signs.append(f"the schema of public changed within {window_s:g} s")
        for pid, started in sorted(first.writers & last.writers, key=lambda w: w[0]):
            session = last.writer_sessions[pid]
            signs.append(
                f"a transaction open for at least {window_s:g} s (since {started}) writes to "
                f"schema public: {session.describe()}"
            )
        return signs

    def _look(self) -> _Snapshot:
        conn = self.conn
        signs: list[str] = []
        writers: set[tuple[int, datetime | None]] = set()
        writer_sessions: dict[int, Session] = {}
        params = {
            "schema_changing": list(SCHEMA_CHANGING_MODES),
            "write": list(WRITE_MODES),
            "ddl": DDL_PATTERN,
        }
        for *columns, kind, xact_start in conn.execute(_LOCK_SIGNS, params).fetchall():
            session = Session(*columns)
            if kind == "knex":
                signs.append(f"another session holds a lock on Knex's tables: {session.describe()}")
            elif kind == "ddl":
                signs.append(f"another session holds a schema-changing lock: {session.describe()}")
            else:
                writers.add((session.pid, xact_start))
                writer_sessions[session.pid] = session
        for running in conn.execute(_DDL_RUNNING, params).fetchall():
            signs.append(f"another session is running DDL: {Session(*running).describe()}")
        row = conn.execute(_STATE).fetchone()
        lock_rows, knex_rows, catalog = (str(v) for v in row) if row else ("", "", "")
        return _Snapshot(
            tuple(dict.fromkeys(signs)),
            frozenset(writers),
            writer_sessions,
            lock_rows,
            knex_rows,
            catalog,
        )
