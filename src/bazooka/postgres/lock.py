"""The migration lock: Knex's row, guarded by a session-level advisory lock of Bazooka's own.

This module owns ``knex_migrations_lock(index serial, is_locked integer)``: every statement
that reads or writes it (Knex's ``UPDATE knex_migrations_lock SET is_locked = 1 WHERE
is_locked = 0``, which must touch exactly one row; the release; ``bazooka unlock``; the state
``status`` shows) and the creation of Knex's two tables, which Knex makes together with the
idle lock row. What ``knex_migrations`` records is :mod:`bazooka.postgres.bookkeeping`'s.

Knex's lock (``knex_migrations_lock.is_locked``) is a row, so it outlives the process that set
it: a run killed while holding it leaves it set, and Knex (like the original) then refuses every
later run until a person runs ``unlock``. Bazooka keeps that row, which the original and the Knex
CLI respect, and adds what Flyway relies on: every run that takes the row first holds a
session-level advisory lock, which PostgreSQL releases when the session ends, however it ends.

When the row is found set, :class:`MigrationGuard` decides (see ``docs/operators.md``):

* a session holds Bazooka's advisory lock: a live Bazooka run owns the row. The error names that
  session; the row is never released.
* no session holds it and, over an observation window, nothing shows a live migrator
  (:func:`signs_of_a_live_migrator`): the row was left by a dead run. It is released, with a
  WARNING line and a :class:`StaleLockRecovery` in the step's result, and the run proceeds.
* otherwise (typically a live Knex client, which takes no advisory lock) the row cannot be proven
  stale: the run fails saying so and pointing to ``bazooka unlock``.

The guard also takes the row as Knex does and remembers the row version it wrote, so that after
a lost connection it can reconnect once and release exactly its own lock, never somebody else's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from bazooka.errors import MigrationLocked
from bazooka.logs import emit
from bazooka.postgres import bookkeeping
from bazooka.postgres.connection import Connection, one_line
from bazooka.postgres.liveness import SESSION_COLUMNS, LiveMigratorCheck, Session

log = logging.getLogger(__name__)

LOCK_TABLE = "knex_migrations_lock"
# How long a run waits for a lock row held inside another run's open transaction.
LOCK_WAIT = "60s"
# Knex's own statements for its lock (the baseline writes exactly the same).
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

# Bazooka's advisory lock, in the two-int4 key space (pg_locks.objsubid = 2), which the
# one-bigint key of CREATION_LOCK cannot collide with: "bzka", 1 = the migration lock.
ADVISORY_CLASS = 0x627A6B61
ADVISORY_OBJECT = 1
# How long a run waits for the advisory lock. A killed run's backend keeps it until the
# statement it was running ends, so the next run waits for that rather than failing.
ADVISORY_WAIT_S = 60.0
# How long the state is watched before a set lock row is judged stale.
OBSERVATION_S = 2.0
# After a lost connection: how long to keep trying to reconnect (a restarting server refuses
# connections while it recovers), to release the lock this run holds.
RECONNECT_WITHIN_S = 30.0
RECONNECT_PAUSE_S = 0.5
# While it holds the lock, a session idle this long is a frozen or vanished client: the server
# ends it, which releases the advisory lock (PostgreSQL >= 14: idle_session_timeout).
IDLE_WHILE_LOCKED = "5min"
IDLE_SESSION_TIMEOUT_SINCE = 140_000


@dataclass(frozen=True)
class StaleLockRecovery:
    """A lock row left by a dead run, released by this one (``recovered_stale_lock``)."""

    lock_row_version: str  # xmin of the row: the transaction that set is_locked
    observed_s: float
    released_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "found": f"{LOCK_TABLE}.is_locked = 1",
            "set_by_transaction": self.lock_row_version,
            "evidence": (
                "no session holds Bazooka's advisory lock, and for "
                f"{self.observed_s:g} s nothing showed a live migrator"
            ),
            "released_at": self.released_at.isoformat(timespec="milliseconds"),
        }


@dataclass(frozen=True)
class LockState:
    """What ``knex_migrations_lock`` holds."""

    locked: bool | None  # None: no lock table
    rows: int


def state(conn: Connection) -> LockState:
    """Whether the lock is held (None without a lock table) and how many lock rows there are."""
    if not bookkeeping.table_exists(conn, LOCK_TABLE):
        return LockState(None, 0)
    rows = conn.execute(sql.SQL("SELECT is_locked FROM {}").format(sql.Identifier(LOCK_TABLE)))
    values = [r[0] for r in rows.fetchall()]
    return LockState(any(v != 0 for v in values), len(values))


def ensure_tables(conn: Connection) -> None:
    """Create Knex's two tables and the idle lock row when missing (serialised between runs).

    Knex creates them together; they live here because the lock row is what they are made
    for, and this module may read :mod:`~bazooka.postgres.bookkeeping`, not the reverse.
    """
    if bookkeeping.table_exists(conn, bookkeeping.TABLE) and bookkeeping.table_exists(
        conn, LOCK_TABLE
    ):
        row = conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(LOCK_TABLE)))
        if row.fetchone() is not None:
            return
    with conn.transaction():
        # Two first runs at once must not both create the tables: serialise on a fixed key.
        conn.execute(CREATION_LOCK)
        conn.execute(bookkeeping.CREATE_MIGRATIONS_TABLE)
        conn.execute(CREATE_LOCK_TABLE)
        conn.execute(INSERT_LOCK_ROW)


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
    if not bookkeeping.table_exists(conn, LOCK_TABLE):
        return UnlockResult(lock_table_exists=False, was_locked=False)
    with conn.transaction():
        table = sql.Identifier(LOCK_TABLE)
        rows = conn.execute(sql.SQL("SELECT is_locked FROM {} FOR UPDATE").format(table))
        was_locked = any(r[0] != 0 for r in rows.fetchall())
        conn.execute(sql.SQL("DELETE FROM {}").format(table))
        conn.execute(sql.SQL("INSERT INTO {} (is_locked) VALUES (0)").format(table))
    # The log lines keep the place they always named, for filters that match on it.
    if was_locked:
        emit(log, logging.WARNING, "bookkeeping#unlock", "Released the migration lock")
    else:
        emit(log, logging.INFO, "bookkeeping#unlock", "The migration lock was already free")
    return UnlockResult(lock_table_exists=True, was_locked=was_locked)


def advisory_holders(conn: Connection) -> list[Session]:
    """The other sessions holding Bazooka's advisory migration lock in this database."""
    rows = conn.execute(
        f"""
        SELECT {SESSION_COLUMNS}
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s::oid
          AND l.objid = %s::oid AND l.objsubid = 2 AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        (ADVISORY_CLASS, ADVISORY_OBJECT),
    ).fetchall()
    return [Session(*row) for row in rows]


class MigrationGuard:
    """The advisory lock and Knex's row for one migrate or rollback, on one connection.

    ``reconnect`` opens a new connection with the run's settings; without it, a lost
    connection leaves the row for the next run to recover.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        reconnect: Callable[[], Connection] | None = None,
        wait_s: float = ADVISORY_WAIT_S,
        observe_s: float = OBSERVATION_S,
    ) -> None:
        self.conn = conn
        self.reconnect = reconnect
        self.wait_s = wait_s
        self.observe_s = observe_s
        self.recovered: StaleLockRecovery | None = None
        self._guarding = False
        self._row_version: str | None = None  # xmin of the lock row this run wrote

    # --- before the batch -------------------------------------------------------------------

    def acquire(self) -> None:
        """Hold the advisory lock, then make sure the row is free or provably stale."""
        self._hold_advisory()
        try:
            state = _lock_rows(self.conn)
            if len(state) == 1 and state[0][1] != 0:
                self.recovered = self._recover_stale(state[0][0])
        except BaseException:
            self.release()
            raise

    def _hold_advisory(self) -> None:
        try:
            with self.conn.transaction():
                local_lock_timeout(self.conn, self._wait)
                self.conn.execute(
                    "SELECT pg_advisory_lock(%s, %s)", (ADVISORY_CLASS, ADVISORY_OBJECT)
                )
        except psycopg.errors.LockNotAvailable as exc:
            holders = advisory_holders(self.conn)
            who = "; ".join(h.describe() for h in holders) or "a session that has just ended"
            raise MigrationLocked(
                f"Migration table is already locked by a live Bazooka run: {who} holds "
                f"Bazooka's migration lock (waited {self.wait_s:g} s). It is migrating now; "
                "let it finish. Do not unlock a lock a live run holds."
            ) from exc
        self._guarding = True
        if self.conn.info.server_version >= IDLE_SESSION_TIMEOUT_SINCE:
            self.conn.execute(
                sql.SQL("SET idle_session_timeout = {}").format(sql.Literal(IDLE_WHILE_LOCKED))
            )

    def _recover_stale(self, version: str) -> StaleLockRecovery:
        """Release a row no live run can own; raise :class:`MigrationLocked` when unsure."""
        check = LiveMigratorCheck(self.conn)
        signs = check.watch(self.observe_s)
        if not signs and _release_row(self.conn, version) != 1:
            signs = ["the lock row changed while it was being released"]
        if signs:
            raise MigrationLocked(
                f"Migration table is already locked ({LOCK_TABLE}.is_locked = 1) and Bazooka "
                "cannot prove the lock stale: no Bazooka run holds it, but "
                + "; ".join(signs)
                + ". It may belong to a live migration by a Knex client (such as the TypeScript "
                "Bazooka), which takes no advisory lock, so Bazooka leaves it alone. " + UNLOCK_HINT
            )
        recovery = StaleLockRecovery(version, self.observe_s, datetime.now(UTC))
        emit(
            log,
            logging.WARNING,
            "lock#recover_stale",
            "Released a stale migration lock left by a dead run: no session holds Bazooka's "
            f"advisory lock and nothing showed a live migrator for {self.observe_s:g} s",
            recoveredStaleLock=recovery.to_dict(),
        )
        return recovery

    @property
    def _wait(self) -> str:
        """``wait_s`` as a ``lock_timeout`` value."""
        return f"{int(self.wait_s * 1000)}ms"

    # --- the row itself ---------------------------------------------------------------------

    def take(self) -> None:
        """Knex's lock statement, inside the caller's transaction (remembering the row version)."""
        self._row_version = take_lock(self.conn)

    def free(self) -> None:
        """Release the row (Knex frees it after success and after a failed migration)."""
        free_lock(self.conn)
        self._row_version = None

    def release(self) -> None:
        """Let go of the advisory lock (nothing to do when the session is gone)."""
        if not self._guarding:
            return
        self._guarding = False
        if self.conn.closed:
            return
        try:
            if self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                self.conn.execute("RESET idle_session_timeout")
                self.conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (ADVISORY_CLASS, ADVISORY_OBJECT)
                )
        except psycopg.Error as exc:
            emit(log, logging.DEBUG, "lock#release", "advisory lock not released", error=exc)

    # --- after a lost connection ------------------------------------------------------------

    def after_lost_connection(self, batch: int | None) -> list[str] | None:
        """Reconnect once: release the row if it is still the version this run wrote, and
        return the names recorded in ``batch`` (None when PostgreSQL could not be reached)."""
        self._guarding = False  # the session that held the advisory lock is gone
        if self.reconnect is None:
            return None
        fresh = self._reconnect()
        if fresh is None:
            return None
        try:
            with fresh:
                return self._release_own_row(fresh, batch)
        except psycopg.Error as exc:
            emit(
                log,
                logging.ERROR,
                "lock#after_lost_connection",
                "Reconnected, but could not release the migration lock. The next run will "
                f"release it once it proves it stale. {UNLOCK_HINT}",
                error=exc,
            )
            return None

    def _reconnect(self) -> Connection | None:
        assert self.reconnect is not None
        deadline = time.monotonic() + RECONNECT_WITHIN_S
        while True:
            try:
                return self.reconnect()
            except Exception as exc:  # noqa: BLE001 - the connect error is logged, then retried
                if time.monotonic() + RECONNECT_PAUSE_S > deadline:
                    emit(
                        log,
                        logging.ERROR,
                        "lock#after_lost_connection",
                        f"Could not reconnect within {RECONNECT_WITHIN_S:g} s to release the "
                        "migration lock. The next run will release it once it proves it stale.",
                        error=one_line(exc),
                    )
                    return None
                time.sleep(RECONNECT_PAUSE_S)

    def _release_own_row(self, fresh: Connection, batch: int | None) -> list[str]:
        with fresh.transaction():
            local_lock_timeout(fresh, self._wait)
            fresh.execute("SELECT pg_advisory_xact_lock(%s, %s)", (ADVISORY_CLASS, ADVISORY_OBJECT))
            released = 0
            if self._row_version is not None:
                released = _release_row(fresh, self._row_version)
            names = bookkeeping.names_in_batch(fresh, batch) if batch is not None else []
        emit(
            log,
            logging.WARNING,
            "lock#after_lost_connection",
            "Reconnected after losing the connection: "
            + ("released the migration lock" if released else "the migration lock was not ours")
            + f"; {len(names)} migration(s) recorded in batch {batch}",
        )
        self._row_version = None
        return names


def _release_row(conn: Connection, version: str) -> int:
    """Free the lock row if it is still set and still the version ``version``; rows freed."""
    return conn.execute(
        sql.SQL("UPDATE {} SET is_locked = 0 WHERE is_locked <> 0 AND xmin::text = %s").format(
            sql.Identifier(LOCK_TABLE)
        ),
        (version,),
    ).rowcount


def _lock_rows(conn: Connection) -> list[tuple[str, int]]:
    """(xmin, is_locked) of each row of the lock table (none without the table)."""
    if not bookkeeping.table_exists(conn, LOCK_TABLE):
        return []
    rows = conn.execute(
        sql.SQL("SELECT xmin::text, is_locked FROM {}").format(sql.Identifier(LOCK_TABLE))
    ).fetchall()
    return [(str(r[0]), int(r[1] or 0)) for r in rows]
