"""Knex's record of applied migrations, exactly as Knex 0.21 keeps it: read and write its rows.

``knex_migrations(id serial, name varchar(255), batch integer, migration_time timestamptz)``
holds one row per applied migration. Keeping it byte-for-byte lets a database move between the
TypeScript Bazooka, the Knex CLI and this one in either direction. The other table Knex keeps,
``knex_migrations_lock``, and the creation of both tables are :mod:`bazooka.postgres.lock`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from bazooka.errors import UnknownMigrations
from bazooka.postgres.connection import Connection
from bazooka.postgres.migrations_source import Direction, Migration

TABLE = "knex_migrations"
# Knex's own statement for its table (the baseline writes exactly the same).
CREATE_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS knex_migrations ("
    "id serial primary key, name varchar(255), batch integer, migration_time timestamptz)"
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
    """What ``knex_migrations`` says, compared with the migrations we know."""

    exists: bool  # knex_migrations exists
    applied: list[AppliedMigration]
    unknown: list[str]

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
    known_names = {m.name for m in known}
    return Bookkeeping(
        exists=exists,
        applied=applied,
        unknown=[m.name for m in applied if m.name not in known_names],
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


def status(
    conn: Connection, known: Sequence[Migration], *, locked: bool | None, lock_rows: int
) -> MigrationStatus:
    """Applied, pending and unknown migrations, with the lock state the caller read
    (:func:`bazooka.postgres.lock.state`). Changes nothing."""
    state = read(conn, known)
    return MigrationStatus(
        bookkeeping_exists=state.exists,
        applied=state.applied,
        pending=[m.name for m in known if m.name not in state.done],
        unknown=state.unknown,
        locked=locked,
        lock_rows=lock_rows,
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


def names_in_batch(conn: Connection, batch: int) -> list[str]:
    """The names recorded in ``batch``, in the order they were applied (none without the
    table)."""
    if not table_exists(conn, TABLE):
        return []
    rows = conn.execute(
        "SELECT name FROM knex_migrations WHERE batch = %s ORDER BY id", (batch,)
    ).fetchall()
    return [str(r[0]) for r in rows]


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
