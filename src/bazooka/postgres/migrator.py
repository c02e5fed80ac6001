"""A small Knex-compatible migration engine (Knex 0.21 semantics, as the original pins).

Why our own: the bookkeeping must be byte-for-byte Knex's (``knex_migrations``,
``knex_migrations_lock``, names ending in ``.js``, batches) so that a database can move
between the TypeScript Bazooka and this one in either direction; no Python migration tool
speaks that format. What it keeps from Knex:

* tables created when missing, with Knex's columns; one lock row ``(1, 0)`` when idle;
* the lock: ``UPDATE knex_migrations_lock SET is_locked = 1 WHERE is_locked = 0`` must touch
  exactly one row, else :class:`MigrationLocked`; released after success and after a failed
  migration, never after a lock failure;
* ``migrate`` = all pending migrations as batch ``max(batch) + 1``, in file-name order, in ONE
  transaction when every pending migration is transactional, else one transaction per
  migration (none for those marked no-transaction); ``rollback`` = the latest batch, newest
  first, one transaction per migration;
* a recorded migration this project does not know is an error
  (Knex: "The migration directory is corrupt").

What it does better: the completed list is re-read after the lock is taken, so two runs can
never apply a migration twice; each transactional migration commits together with its
bookkeeping row; and every error names the migration and what was left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bazooka.errors import MigrationError, MigrationLocked, UnknownMigrations
from bazooka.logs import emit
from bazooka.postgres.connection import one_line
from bazooka.postgres.migrations_source import Migration
from bazooka.postgres.sqlsplit import split_statements

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


def _ignore(_: object) -> None:
    """Default observer callback."""


@dataclass(frozen=True)
class Observer:
    """What a caller hears while a batch runs (progress display, time budget)."""

    starting: Callable[[int], None] = _ignore  # how many migrations are about to run
    before_each: Callable[[str], None] = _ignore  # may raise to stop cleanly before one
    after_each: Callable[[str], None] = _ignore  # one finished (committed or, in a batch, done)


QUIET = Observer()

TABLE = "knex_migrations"
LOCK_TABLE = "knex_migrations_lock"
# How long a run waits for a lock row held inside another run's open transaction.
LOCK_WAIT = "60s"
# Knex's bookkeeping DDL and lock statements (the baseline writes exactly the same).
CREATE_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS knex_migrations ("
    "id serial primary key, name varchar(255), batch integer, migration_time timestamptz)"
)
CREATE_LOCK_TABLE = (
    "CREATE TABLE IF NOT EXISTS knex_migrations_lock (index serial primary key, is_locked integer)"
)
INSERT_LOCK_ROW = (
    "INSERT INTO knex_migrations_lock (is_locked) SELECT 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM knex_migrations_lock)"
)
TAKE_LOCK = "UPDATE knex_migrations_lock SET is_locked = 1 WHERE is_locked = 0"
FREE_LOCK = "UPDATE knex_migrations_lock SET is_locked = 0"
UNLOCK_HINT = (
    "If no other migration is running (e.g. a previous run was killed), release it with "
    "`bazooka unlock` (same as `knex migrate:unlock`)."
)


@dataclass
class AppliedMigration:
    """A row of ``knex_migrations``."""

    id: int
    name: str
    batch: int
    migration_time: datetime | None


@dataclass
class MigrationStatus:
    """Read-only view of the bookkeeping compared with the migrations we know."""

    bookkeeping_exists: bool
    applied: list[AppliedMigration]
    pending: list[str]
    unknown: list[str]
    locked: bool | None  # None: no lock table
    lock_rows: int
    invalid_indexes: list[str] = field(default_factory=list)

    @property
    def latest_batch(self) -> int:
        """The highest batch number recorded (0 when none)."""
        return max((m.batch for m in self.applied), default=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        batches: dict[int, int] = {}
        for migration in self.applied:
            batches[migration.batch] = batches.get(migration.batch, 0) + 1
        return {
            "bookkeeping_exists": self.bookkeeping_exists,
            "applied_count": len(self.applied),
            "batches": {str(batch): count for batch, count in sorted(batches.items())},
            "applied": [{"name": m.name, "batch": m.batch} for m in self.applied],
            "pending_count": len(self.pending),
            "latest_batch": self.latest_batch,
            "latest_batch_migrations": [
                m.name for m in self.applied if m.batch == self.latest_batch and m.batch
            ],
            "pending": self.pending,
            "unknown": self.unknown,
            "locked": self.locked,
            "lock_rows": self.lock_rows,
            "invalid_indexes": self.invalid_indexes,
        }


def status(conn: Connection, known: Sequence[Migration]) -> MigrationStatus:
    """Applied, pending and unknown migrations and the lock state. Changes nothing."""
    exists = _table_exists(conn, TABLE)
    applied = _applied(conn) if exists else []
    applied_names = {m.name for m in applied}
    known_names = {m.name for m in known}
    lock_exists = _table_exists(conn, LOCK_TABLE)
    locked: bool | None = None
    lock_rows = 0
    if lock_exists:
        rows = conn.execute(sql.SQL("SELECT is_locked FROM {}").format(sql.Identifier(LOCK_TABLE)))
        values = [r[0] for r in rows.fetchall()]
        lock_rows = len(values)
        locked = any(v != 0 for v in values)
    return MigrationStatus(
        bookkeeping_exists=exists,
        applied=applied,
        pending=[m.name for m in known if m.name not in applied_names],
        unknown=[m.name for m in applied if m.name not in known_names],
        locked=locked,
        lock_rows=lock_rows,
        invalid_indexes=invalid_indexes(conn),
    )


def migrate(
    conn: Connection,
    known: Sequence[Migration],
    observer: Observer = QUIET,
    *,
    replay: bool = False,
) -> dict[str, Any]:
    """Apply every pending migration as one new batch (Knex ``migrate.latest``).

    An empty database gets the baseline instead (:mod:`bazooka.postgres.baseline`): the same
    end state in one transaction. ``replay`` forces the step-by-step path.
    """
    if not replay:
        from bazooka.postgres.baseline import load_baseline  # noqa: PLC0415

        loaded = load_baseline(conn, known, observer)
        if loaded is not None:
            return loaded
    _ensure_bookkeeping(conn)
    pending = _pending(conn, known)
    all_transactional = all(m.transaction for m in pending)
    if all_transactional:
        applied, batch = _migrate_in_one_transaction(conn, known, observer)
    else:
        applied, batch = _run_batch(conn, known, "up", observer)
    details: dict[str, Any] = {
        "batch": batch if applied else None,
        "applied": applied,
        "applied_count": len(applied),
        "mode": "one transaction" if all_transactional else "one transaction per migration",
        "path": "replay",
    }
    bad = invalid_indexes(conn)
    if bad:
        details["invalid_indexes"] = bad
    emit(
        log,
        logging.INFO,
        "migrator#migrate",
        f"Applied {len(applied)} migration(s)" + (f" as batch {batch}" if applied else ""),
        batch=batch if applied else None,
    )
    return details


def rollback(
    conn: Connection,
    known: Sequence[Migration],
    observer: Observer = QUIET,
) -> dict[str, Any]:
    """Roll back the latest batch, newest first (Knex ``migrate.rollback``)."""
    _ensure_bookkeeping(conn)
    _validate_recorded(conn, known)
    reverted, batch = _run_batch(conn, known, "down", observer)
    emit(
        log,
        logging.INFO,
        "migrator#rollback",
        f"Rolled back {len(reverted)} migration(s)" + (f" of batch {batch}" if reverted else ""),
        batch=batch if reverted else None,
    )
    return {
        "batch": batch if reverted else None,
        "rolled_back": reverted,
        "rolled_back_count": len(reverted),
    }


def unlock(conn: Connection) -> dict[str, Any]:
    """Force-release the lock (Knex ``migrate:unlock``): the lock table becomes one row ``0``."""
    if not _table_exists(conn, LOCK_TABLE):
        return {"was_locked": False, "lock_table_exists": False}
    with conn.transaction():
        table = sql.Identifier(LOCK_TABLE)
        rows = conn.execute(sql.SQL("SELECT is_locked FROM {} FOR UPDATE").format(table))
        was_locked = any(r[0] != 0 for r in rows.fetchall())
        conn.execute(sql.SQL("DELETE FROM {}").format(table))
        conn.execute(sql.SQL("INSERT INTO {} (is_locked) VALUES (0)").format(table))
    emit(
        log, logging.WARNING, "migrator#unlock", "Released the migration lock", wasLocked=was_locked
    )
    return {"was_locked": was_locked, "lock_table_exists": True}


def invalid_indexes(conn: Connection) -> list[str]:
    """Indexes in ``public`` left invalid (e.g. by an interrupted CREATE INDEX CONCURRENTLY)."""
    rows = conn.execute(
        """
        SELECT c.relname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT i.indisvalid ORDER BY 1
        """
    ).fetchall()
    return [r[0] for r in rows]


# --- internals -------------------------------------------------------------------------


def _table_exists(conn: Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",)).fetchone()
    return bool(row and row[0])


def _applied(conn: Connection) -> list[AppliedMigration]:
    rows = conn.execute(
        sql.SQL("SELECT id, name, batch, migration_time FROM {} ORDER BY id").format(
            sql.Identifier(TABLE)
        )
    ).fetchall()
    return [AppliedMigration(int(r[0]), str(r[1]), int(r[2] or 0), r[3]) for r in rows]


def _ensure_bookkeeping(conn: Connection) -> None:
    """Create Knex's tables and the idle lock row when missing (serialised between runs)."""
    if _table_exists(conn, TABLE) and _table_exists(conn, LOCK_TABLE):
        row = conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(LOCK_TABLE)))
        if row.fetchone() is not None:
            return
    with conn.transaction():
        # Two first runs at once must not both create the tables: serialise on a fixed key.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('bazooka:knex_migrations'))")
        conn.execute(CREATE_MIGRATIONS_TABLE)
        conn.execute(CREATE_LOCK_TABLE)
        conn.execute(INSERT_LOCK_ROW)


def _validate_recorded(conn: Connection, known: Sequence[Migration]) -> list[str]:
    """Completed names, in id order; raise :class:`UnknownMigrations` for names we lack."""
    completed = [m.name for m in _applied(conn)]
    known_names = {m.name for m in known}
    unknown = [name for name in completed if name not in known_names]
    if unknown:
        raise UnknownMigrations(
            f"The database records {len(unknown)} migration(s) this Bazooka does not know: "
            f"{', '.join(unknown)} (Knex: the migration directory is corrupt). It was migrated "
            "by a newer version; run that version, or one that ships these migrations. "
            "Nothing was changed."
        )
    return completed


def _pending(conn: Connection, known: Sequence[Migration]) -> list[Migration]:
    completed = set(_validate_recorded(conn, known))
    return [m for m in known if m.name not in completed]


def _take_lock(conn: Connection) -> None:
    """The Knex lock statement; must touch exactly one row."""
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_WAIT)))
    try:
        cur = conn.execute(TAKE_LOCK)
    except psycopg.errors.LockNotAvailable as exc:
        raise MigrationLocked(
            f"Migration table is already locked: another run has held {LOCK_TABLE} for more "
            f"than {LOCK_WAIT} inside its transaction. Try again when it has finished."
        ) from exc
    # The wait bound is for the lock row only, not for the migrations that follow.
    conn.execute("SET LOCAL lock_timeout TO DEFAULT")
    if cur.rowcount != 1:
        raise MigrationLocked(
            f"Migration table is already locked ({LOCK_TABLE}.is_locked = 1): another "
            f"migration run is in progress or was killed. {UNLOCK_HINT}"
        )


def _free_lock(conn: Connection) -> None:
    conn.execute(FREE_LOCK)


def _next_batch(conn: Connection) -> int:
    row = conn.execute("SELECT max(batch) FROM knex_migrations").fetchone()
    return int(row[0] or 0) + 1 if row else 1


def _record(conn: Connection, migration: Migration, direction: str, batch: int) -> bytes:
    """The bookkeeping statement for one migration, as Knex writes it (literal values)."""
    if direction == "up":
        statement = sql.SQL(
            "INSERT INTO knex_migrations (name, batch, migration_time) VALUES ({}, {}, {})"
        ).format(sql.Literal(migration.name), sql.Literal(batch), sql.Literal(datetime.now(UTC)))
    else:
        statement = sql.SQL("DELETE FROM knex_migrations WHERE name = {}").format(
            sql.Literal(migration.name)
        )
    return statement.as_bytes(conn)


def _apply(
    conn: Connection, migration: Migration, direction: str, batch: int, *, own_transaction: bool
) -> None:
    """Run one migration and write its bookkeeping row.

    A transactional migration goes as ONE simple query (several statements): its SQL and its
    bookkeeping row together, wrapped in BEGIN/COMMIT when it has its own transaction, so each
    costs one round trip. A no-transaction migration runs statement by statement in autocommit
    (CREATE INDEX CONCURRENTLY refuses a multi-statement query), then its row.
    """
    script = migration.sql(direction)
    if not migration.transaction:
        for statement in split_statements(script):
            conn.execute(statement.encode())
        conn.execute(_record(conn, migration, direction, batch))
        return
    # "\n;" ends a trailing "--" comment line before the next statement.
    body = script.encode() + b"\n;\n" + _record(conn, migration, direction, batch) + b";"
    conn.execute(b"BEGIN;\n" + body + b"\nCOMMIT;" if own_transaction else body)


def _migrate_in_one_transaction(
    conn: Connection, known: Sequence[Migration], observer: Observer
) -> tuple[list[str], int]:
    """Every pending migration is transactional: lock, apply, record, unlock — one commit."""
    applied: list[str] = []
    batch = 0
    current: Migration | None = None
    try:
        with conn.transaction():
            _take_lock(conn)
            # Another run may have finished while we waited for the lock row.
            pending = _pending(conn, known)
            batch = _next_batch(conn)
            observer.starting(len(pending))
            for migration in pending:
                observer.before_each(migration.name)
                current = migration
                _apply(conn, migration, "up", batch, own_transaction=False)
                applied.append(migration.name)
                observer.after_each(migration.name)
            current = None
            _free_lock(conn)
    except MigrationLocked:
        raise
    except psycopg.Error as exc:
        raise MigrationError(
            f"Migration {current.name if current else '(bookkeeping)'} (up) failed: "
            f"{one_line(exc)}. The batch ran in one transaction: nothing was applied and the "
            "lock is free."
        ) from exc
    return applied, batch


def _run_batch(
    conn: Connection,
    known: Sequence[Migration],
    direction: str,
    observer: Observer,
) -> tuple[list[str], int]:
    """One transaction per migration (none for no-transaction ones), lock held throughout.

    The per-migration commits do not wait for the disk (``synchronous_commit = off``): the
    lock release at the end is committed synchronously, which flushes the WAL through every
    earlier commit before anything is reported. A crash in between loses at most a suffix of
    the batch, each migration together with its bookkeeping row, as a crashed Knex run would.
    """
    with conn.transaction():
        _take_lock(conn)
    conn.execute("SET synchronous_commit = off")
    done: list[str] = []
    current: Migration | None = None
    batch = 0
    try:
        by_name = {m.name: m for m in known}
        if direction == "up":
            todo = _pending(conn, known)
            batch = _next_batch(conn)
        else:
            batch, names = _latest_batch(conn)
            todo = [by_name[name] for name in names]
        observer.starting(len(todo))
        for migration in todo:
            observer.before_each(migration.name)
            current = migration
            _apply(conn, migration, direction, batch, own_transaction=True)
            done.append(migration.name)
            current = None
            observer.after_each(migration.name)
    except BaseException as exc:
        _release_after_failure(conn)
        if isinstance(exc, psycopg.Error):
            verb = "applied" if direction == "up" else "rolled back"
            raise MigrationError(
                f"Migration {current.name if current else '(bookkeeping)'} ({direction}) "
                f"failed: {one_line(exc)}. {len(done)} migration(s) of this batch were {verb} "
                f"before it and stay so; the lock was released."
            ) from exc
        raise
    conn.execute("RESET synchronous_commit")
    _free_lock(conn)
    return done, batch


def _latest_batch(conn: Connection) -> tuple[int, list[str]]:
    rows = conn.execute(
        "SELECT name, batch FROM knex_migrations "
        "WHERE batch = (SELECT max(batch) FROM knex_migrations) ORDER BY id DESC"
    ).fetchall()
    return (int(rows[0][1]) if rows else 0), [str(r[0]) for r in rows]


def _release_after_failure(conn: Connection) -> None:
    """Free the lock after a failed migration, as Knex does; keep the original error."""
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.execute("RESET synchronous_commit")
        _free_lock(conn)
    except psycopg.Error as exc:
        emit(
            log,
            logging.ERROR,
            "migrator#release",
            f"Could not release the migration lock after a failure. {UNLOCK_HINT}",
            error=exc,
        )
