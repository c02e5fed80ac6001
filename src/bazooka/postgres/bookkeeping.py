"""Knex's bookkeeping tables, exactly as Knex 0.21 keeps them: read, create, lock, record.

``knex_migrations(id serial, name varchar(255), batch integer, migration_time timestamptz)``
holds one row per applied migration; ``knex_migrations_lock(index serial, is_locked integer)``
holds one row, ``0`` when idle. The lock is Knex's statement
``UPDATE knex_migrations_lock SET is_locked = 1 WHERE is_locked = 0``, which must touch exactly
one row. Keeping these byte-for-byte lets a database move between the TypeScript Bazooka, the
Knex CLI and this one in either direction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bazooka.errors import MigrationLocked, UnknownMigrations
from bazooka.logs import emit
from bazooka.postgres.connection import Connection
from bazooka.postgres.migrations_source import Direction, Migration

log = logging.getLogger(__name__)

TABLE = "knex_migrations"
LOCK_TABLE = "knex_migrations_lock"
# How long a run waits for a lock row held inside another run's open transaction.
LOCK_WAIT = "60s"
# Knex's own statements for its tables and its lock (the baseline writes exactly the same).
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
# Serialises the creation of the tables (and the baseline's load) between first runs.
CREATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('bazooka:knex_migrations'))"
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


@dataclass(frozen=True)
class Bookkeeping:
    """What ``knex_migrations`` and its lock say, compared with the migrations we know."""

    exists: bool  # knex_migrations exists
    applied: list[AppliedMigration]
    unknown: list[str]
    locked: bool | None  # None: no lock table
    lock_rows: int

    @property
    def ready(self) -> bool:
        """Both tables and the lock row exist: nothing to create before locking."""
        return self.exists and self.lock_rows > 0

    @property
    def done(self) -> frozenset[str]:
        """Names of the applied migrations."""
        return frozenset(m.name for m in self.applied)

    @property
    def latest_batch(self) -> int:
        """The highest batch number recorded (0 when none)."""
        return max((m.batch for m in self.applied), default=0)

    @property
    def latest_batch_migrations(self) -> list[str]:
        """The names of the latest batch, in the order they were applied."""
        latest = self.latest_batch
        return [m.name for m in self.applied if latest and m.batch == latest]


def read(conn: Connection, known: Sequence[Migration]) -> Bookkeeping:
    """The bookkeeping as it is; changes nothing (a database without it reads as empty)."""
    exists = table_exists(conn, TABLE)
    applied = _applied(conn) if exists else []
    locked, lock_rows = _lock_state(conn)
    known_names = {m.name for m in known}
    return Bookkeeping(
        exists=exists,
        applied=applied,
        unknown=[m.name for m in applied if m.name not in known_names],
        locked=locked,
        lock_rows=lock_rows,
    )


@dataclass
class MigrationStatus:
    """``bazooka status``: applied, pending and unknown migrations, the lock, invalid indexes."""

    bookkeeping_exists: bool
    applied: list[AppliedMigration]
    pending: list[str]
    unknown: list[str]
    locked: bool | None  # None: no lock table
    lock_rows: int
    invalid_indexes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        batches: dict[int, int] = {}
        for migration in self.applied:
            batches[migration.batch] = batches.get(migration.batch, 0) + 1
        latest = max((m.batch for m in self.applied), default=0)
        return {
            "bookkeeping_exists": self.bookkeeping_exists,
            "applied_count": len(self.applied),
            "batches": {str(batch): count for batch, count in sorted(batches.items())},
            "applied": [{"name": m.name, "batch": m.batch} for m in self.applied],
            "pending_count": len(self.pending),
            "latest_batch": latest,
            "latest_batch_migrations": [
                m.name for m in self.applied if latest and m.batch == latest
            ],
            "pending": self.pending,
            "unknown": self.unknown,
            "locked": self.locked,
            "lock_rows": self.lock_rows,
            "invalid_indexes": self.invalid_indexes,
        }


def status(conn: Connection, known: Sequence[Migration]) -> MigrationStatus:
    """Applied, pending and unknown migrations and the lock state. Changes nothing."""
    state = read(conn, known)
    return MigrationStatus(
        bookkeeping_exists=state.exists,
        applied=state.applied,
        pending=[m.name for m in known if m.name not in state.done],
        unknown=state.unknown,
        locked=state.locked,
        lock_rows=state.lock_rows,
        invalid_indexes=invalid_indexes(conn),
    )


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


def table_exists(conn: Connection, name: str) -> bool:
    """Whether ``public.<name>`` exists."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",)).fetchone()
    return bool(row and row[0])


def _applied(conn: Connection) -> list[AppliedMigration]:
    rows = conn.execute(
        sql.SQL("SELECT id, name, batch, migration_time FROM {} ORDER BY id").format(
            sql.Identifier(TABLE)
        )
    ).fetchall()
    return [AppliedMigration(int(r[0]), str(r[1]), int(r[2] or 0), r[3]) for r in rows]


def _lock_state(conn: Connection) -> tuple[bool | None, int]:
    """(whether the lock is held, None without a lock table; how many lock rows there are)."""
    if not table_exists(conn, LOCK_TABLE):
        return None, 0
    rows = conn.execute(sql.SQL("SELECT is_locked FROM {}").format(sql.Identifier(LOCK_TABLE)))
    values = [r[0] for r in rows.fetchall()]
    return any(v != 0 for v in values), len(values)


def ensure(conn: Connection) -> None:
    """Create Knex's tables and the idle lock row when missing (serialised between runs)."""
    if table_exists(conn, TABLE) and table_exists(conn, LOCK_TABLE):
        row = conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(LOCK_TABLE)))
        if row.fetchone() is not None:
            return
    with conn.transaction():
        # Two first runs at once must not both create the tables: serialise on a fixed key.
        conn.execute(CREATION_LOCK)
        conn.execute(CREATE_MIGRATIONS_TABLE)
        conn.execute(CREATE_LOCK_TABLE)
        conn.execute(INSERT_LOCK_ROW)


def completed(conn: Connection, known: Sequence[Migration]) -> list[str]:
    """Applied names, in id order; raise :class:`UnknownMigrations` for names we lack."""
    names = [m.name for m in _applied(conn)]
    known_names = {m.name for m in known}
    unknown = [name for name in names if name not in known_names]
    if unknown:
        newest = known[-1].name if known else "none"
        raise UnknownMigrations(
            f"The database records {len(unknown)} migration(s) this Bazooka does not bundle: "
            f"{', '.join(unknown)} (Knex: the migration directory is corrupt). This Bazooka is "
            f"behind that database (its newest bundled migration is {newest}): use a Bazooka "
            "that bundles them, or port them from the indexer release that migrated it "
            "(docs/maintainers.md). Nothing was changed."
        )
    return names


def local_lock_timeout(conn: Connection, wait: str) -> None:
    """``SET LOCAL lock_timeout`` to ``wait`` (``'60s'``, ``'500ms'``), for the caller's
    transaction."""
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(wait)))


def take_lock(conn: Connection) -> str:
    """The Knex lock statement, inside the caller's transaction; must touch exactly one row.

    Returns the version (``xmin``) of the row it wrote, by which the lock is known as ours.
    """
    local_lock_timeout(conn, LOCK_WAIT)
    try:
        cur = conn.execute(TAKE_LOCK + " RETURNING xmin::text")
    except psycopg.errors.LockNotAvailable as exc:
        raise MigrationLocked(
            f"Migration table is already locked: another run has held {LOCK_TABLE} for more "
            f"than {LOCK_WAIT} inside its transaction. Try again when it has finished."
        ) from exc
    # The wait bound is for the lock row only, not for the migrations that follow.
    conn.execute("SET LOCAL lock_timeout TO DEFAULT")
    versions = cur.fetchall()
    if len(versions) != 1:
        raise MigrationLocked(
            f"Migration table is already locked ({LOCK_TABLE}.is_locked = 1): another "
            f"migration run is in progress or was killed. {UNLOCK_HINT}"
        )
    return str(versions[0][0])


def free_lock(conn: Connection) -> None:
    """Release the lock (Knex frees it after success and after a failed migration)."""
    conn.execute(FREE_LOCK)


def next_batch(conn: Connection) -> int:
    """``max(batch) + 1``: the number of a new batch."""
    row = conn.execute("SELECT max(batch) FROM knex_migrations").fetchone()
    return int(row[0] or 0) + 1 if row else 1


def latest_batch(conn: Connection) -> tuple[int, list[str]]:
    """The latest batch number (0 when none) and its names, newest first."""
    rows = conn.execute(
        "SELECT name, batch FROM knex_migrations "
        "WHERE batch = (SELECT max(batch) FROM knex_migrations) ORDER BY id DESC"
    ).fetchall()
    return (int(rows[0][1]) if rows else 0), [str(r[0]) for r in rows]


def record(conn: Connection, migration: Migration, direction: Direction, batch: int) -> bytes:
    """The bookkeeping statement for one migration, as Knex writes it (literal values)."""
    match direction:
        case Direction.UP:
            statement = sql.SQL(
                "INSERT INTO knex_migrations (name, batch, migration_time) VALUES ({}, {}, {})"
            ).format(
                sql.Literal(migration.name), sql.Literal(batch), sql.Literal(datetime.now(UTC))
            )
        case Direction.DOWN:
            statement = sql.SQL("DELETE FROM knex_migrations WHERE name = {}").format(
                sql.Literal(migration.name)
            )
    return statement.as_bytes(conn)


@dataclass(frozen=True)
class UnlockResult:
    """What ``bazooka unlock`` found and did."""

    lock_table_exists: bool
    was_locked: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"was_locked": self.was_locked, "lock_table_exists": self.lock_table_exists}

    def headline(self) -> str:
        """One line for the terminal."""
        if not self.lock_table_exists:
            return "No knex_migrations_lock table: nothing to unlock."
        state = "was locked; released" if self.was_locked else "was already free"
        return f"Migration lock {state}."


def unlock(conn: Connection) -> UnlockResult:
    """Force-release the lock (Knex ``migrate:unlock``): the lock table becomes one row ``0``."""
    if not table_exists(conn, LOCK_TABLE):
        return UnlockResult(lock_table_exists=False, was_locked=False)
    with conn.transaction():
        table = sql.Identifier(LOCK_TABLE)
        rows = conn.execute(sql.SQL("SELECT is_locked FROM {} FOR UPDATE").format(table))
        was_locked = any(r[0] != 0 for r in rows.fetchall())
        conn.execute(sql.SQL("DELETE FROM {}").format(table))
        conn.execute(sql.SQL("INSERT INTO {} (is_locked) VALUES (0)").format(table))
    if was_locked:
        emit(log, logging.WARNING, "bookkeeping#unlock", "Released the migration lock")
    else:
        emit(log, logging.INFO, "bookkeeping#unlock", "The migration lock was already free")
    return UnlockResult(lock_table_exists=True, was_locked=was_locked)
