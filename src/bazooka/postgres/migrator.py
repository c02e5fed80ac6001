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

Each operation is planned first (``plan_migrate``, ``plan_rollback``: read-only, typed, what a
dry run shows), then applied (``apply_migrate``, ``apply_rollback``), which carries out that
plan. The tables, the lock and the rows themselves are :mod:`bazooka.postgres.bookkeeping`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg

from bazooka.errors import MigrationError, MigrationLocked
from bazooka.logs import emit
from bazooka.outcome import EarlierSteps
from bazooka.postgres import baseline, bookkeeping, leftovers
from bazooka.postgres.bookkeeping import UNLOCK_HINT
from bazooka.postgres.connection import Connection, one_line
from bazooka.postgres.lock import ADVISORY_WAIT_S, MigrationGuard, StaleLockRecovery
from bazooka.postgres.migrations_source import Direction, Migration
from bazooka.postgres.sqlsplit import split_statements

log = logging.getLogger(__name__)


def _ignore(_: object) -> None:
    """Default observer callback."""


@dataclass(frozen=True)
class Observer:
    """What a caller hears while a batch runs (progress display, time budget)."""

    starting: Callable[[int], None] = _ignore  # how many migrations are about to run
    before_each: Callable[[str], None] = _ignore  # may raise to stop cleanly before one
    after_each: Callable[[str], None] = _ignore  # one finished (committed or, in a batch, done)


QUIET = Observer()
_STALE_NOTE = "; released a stale lock left by a dead run"


class MigratePath(StrEnum):
    """How ``migrate`` gets the database to the latest migration."""

    REPLAY = "replay"  # migration by migration, as Knex runs them
    BASELINE = "baseline"  # an empty database: the final schema at once (postgres/baseline.py)


class TransactionMode(StrEnum):
    """How a batch runs, decided as Knex 0.21 decides it (or the baseline, at once)."""

    ONE = "one transaction"  # every migration of the batch is transactional
    PER_MIGRATION = "one transaction per migration"  # some opt out: none for those
    BASELINE = "baseline: the final schema and its bookkeeping in one transaction"

    @classmethod
    def of(cls, migrations: Sequence[Migration]) -> TransactionMode:
        """ONE when every migration is transactional (reads each one's marker)."""
        return cls.ONE if all(m.transaction for m in migrations) else cls.PER_MIGRATION


# --- migrate --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MigratePlan:
    """``migrate``: the pending migrations, applied as one new batch."""

    migrations: tuple[Migration, ...]
    locked: bool
    unknown: tuple[str, ...]
    bookkeeping_ready: bool  # Knex's tables and the lock row exist
    path: MigratePath = MigratePath.REPLAY

    @property
    def mode(self) -> TransactionMode:
        """The batch's transaction policy (the one place it is decided)."""
        if self.path is MigratePath.BASELINE:
            return TransactionMode.BASELINE
        return TransactionMode.of(self.migrations)

    @property
    def problem(self) -> str | None:
        """Why ``migrate`` would be refused: the database records migrations we do not ship."""
        return _unknown_problem("migrate", self.unknown)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "migrations_to_apply": [m.name for m in self.migrations],
            "count": len(self.migrations),
            "path": self.path.value,
            "mode": self.mode.value,
            "locked": self.locked,
            "unknown_recorded_migrations": list(self.unknown),
        }

    def headline(self) -> str:
        """``would apply N migration(s) (mode)``."""
        return f"would apply {len(self.migrations)} migration(s) ({self.mode.value})"

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """Later steps of a dry run find every migration applied."""
        return earlier.with_migrated()


@dataclass(frozen=True)
class MigrateResult:
    """The batch ``migrate`` applied."""

    batch: int | None
    applied: tuple[str, ...]
    mode: TransactionMode
    invalid_indexes: tuple[str, ...] = ()
    path: MigratePath = MigratePath.REPLAY
    recovered_stale_lock: StaleLockRecovery | None = None

    @property
    def applied_count(self) -> int:
        """How many migrations were applied."""
        return len(self.applied)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``invalid_indexes``, ``recovered_stale_lock`` only when there are some)."""
        out: dict[str, Any] = {
            "batch": self.batch,
            "applied": list(self.applied),
            "applied_count": self.applied_count,
            "mode": self.mode.value,
            "path": self.path.value,
        }
        if self.invalid_indexes:
            out["invalid_indexes"] = list(self.invalid_indexes)
        if self.recovered_stale_lock is not None:
            out["recovered_stale_lock"] = self.recovered_stale_lock.to_dict()
        return out

    def headline(self) -> str:
        """``applied N migration(s) as batch B`` or ``already up to date`` (and, when it did,
        ``; released a stale lock``)."""
        line = (
            f"applied {self.applied_count} migration(s) as batch {self.batch}"
            if self.applied
            else "already up to date"
        )
        return line + _STALE_NOTE if self.recovered_stale_lock is not None else line


def plan_migrate(
    conn: Connection,
    known: Sequence[Migration],
    *,
    also_pending: frozenset[str] = frozenset(),
    replay: bool = False,
) -> MigratePlan:
    """The migrations ``migrate`` would apply, and how; ``also_pending``: names an earlier step
    of a dry run would roll back; ``replay``: never the baseline. Reads only: the bookkeeping
    tables are created by the apply."""
    state = bookkeeping.read(conn, known)
    empty = not also_pending and not replay and baseline.applies(conn, known)
    return MigratePlan(
        migrations=tuple(m for m in known if m.name not in state.done - also_pending),
        locked=bool(state.locked),
        unknown=tuple(state.unknown),
        bookkeeping_ready=state.ready,
        path=MigratePath.BASELINE if empty else MigratePath.REPLAY,
    )


def plan_migrate_from_empty(known: Sequence[Migration], *, replay: bool = False) -> MigratePlan:
    """What ``migrate`` would do on an empty schema (after ``reset_db`` in a dry run)."""
    path = MigratePath.BASELINE if not replay and baseline.applies(None, known) else None
    return MigratePlan(
        tuple(known),
        locked=False,
        unknown=(),
        bookkeeping_ready=False,
        path=path or MigratePath.REPLAY,
    )


def apply_migrate(
    conn: Connection,
    known: Sequence[Migration],
    plan: MigratePlan,
    observer: Observer = QUIET,
    *,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
) -> MigrateResult:
    """Apply the planned migrations as one new batch (Knex ``migrate.latest``), or load the
    baseline when the plan says the database is empty.

    The lock is taken first (a stale one released, see :mod:`bazooka.postgres.lock`); a planned
    migration that another run applied meanwhile is not applied again. A database no longer
    empty when the baseline is due takes the replay. ``reconnect`` opens a new connection, used
    once if this one is lost, to release the lock and read what was recorded.
    """
    guard = MigrationGuard(conn, reconnect=reconnect, wait_s=lock_wait_s)
    if plan.path is MigratePath.BASELINE:
        guard.acquire()
        try:
            loaded = baseline.load_baseline(conn, known, observer)
        finally:
            guard.release()
        if loaded is not None:
            return _result(
                1, loaded, TransactionMode.BASELINE, conn, path=MigratePath.BASELINE, guard=guard
            )
        plan = plan_migrate(conn, known, replay=True)
    if not plan.bookkeeping_ready:
        bookkeeping.ensure(conn)
    if plan.unknown:
        bookkeeping.completed(conn, known)  # raises, naming them
    mode = plan.mode
    guard.acquire()
    try:
        if mode is TransactionMode.ONE:
            applied, batch = _migrate_in_one_transaction(conn, known, plan, guard, observer)
        else:
            applied, batch = _run_batch(conn, known, _Work.up(plan.migrations), guard, observer)
    finally:
        guard.release()
    return _result(batch, tuple(applied), mode, conn, path=MigratePath.REPLAY, guard=guard)


def _result(
    batch: int,
    applied: tuple[str, ...],
    mode: TransactionMode,
    conn: Connection,
    *,
    path: MigratePath,
    guard: MigrationGuard,
) -> MigrateResult:
    result = MigrateResult(
        batch=batch if applied else None,
        applied=applied,
        mode=mode,
        invalid_indexes=tuple(bookkeeping.invalid_indexes(conn)),
        path=path,
        recovered_stale_lock=guard.recovered,
    )
    emit(
        log,
        logging.INFO,
        "migrator#migrate",
        f"Applied {len(applied)} migration(s)" + (f" as batch {batch}" if applied else ""),
        batch=result.batch,
        path=path.value,
    )
    return result


def migrate(
    conn: Connection,
    known: Sequence[Migration],
    observer: Observer = QUIET,
    *,
    replay: bool = False,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
) -> MigrateResult:
    """Plan, then apply every pending migration as one new batch (Knex ``migrate.latest``);
    an empty database gets the baseline unless ``replay``."""
    plan = plan_migrate(conn, known, replay=replay)
    return apply_migrate(conn, known, plan, observer, reconnect=reconnect, lock_wait_s=lock_wait_s)


# --- rollback -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackPlan:
    """``rollback``: the latest batch, newest first."""

    batch: int | None
    migrations: tuple[Migration, ...]  # newest first
    locked: bool
    unknown: tuple[str, ...]
    note: str | None = None  # why there is nothing to roll back, when an earlier step says so
    unknown_in_batch: tuple[str, ...] = ()  # of the latest batch: no down shipped for them

    @property
    def problem(self) -> str | None:
        """Why ``rollback`` would be refused: a migration of the latest batch has no down here
        (this Bazooka does not ship it), or the database records others it does not ship."""
        if self.unknown_in_batch:
            return (
                f"the latest batch ({self.batch}) holds {len(self.unknown_in_batch)} "
                f"migration(s) this Bazooka does not ship, so it has no down for them "
                f"({', '.join(self.unknown_in_batch)}): rollback would be refused, nothing "
                "rolled back (use a Bazooka that bundles them; docs/maintainers.md)"
            )
        return _unknown_problem("rollback", self.unknown)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        names = [m.name for m in self.migrations]
        if self.note is not None:
            return {"migrations_to_roll_back": names, "note": self.note}
        return {
            "batch": self.batch,
            "migrations_to_roll_back": names,
            "locked": self.locked,
            "unknown_recorded_migrations": list(self.unknown),
            "unknown_in_latest_batch": list(self.unknown_in_batch),
        }

    def headline(self) -> str:
        """``would roll back N migration(s)``."""
        return f"would roll back {len(self.migrations)} migration(s)"

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """Later steps of a dry run find these migrations pending again."""
        return earlier.with_rolled_back(frozenset(m.name for m in self.migrations))


@dataclass(frozen=True)
class RollbackResult:
    """The batch ``rollback`` reverted."""

    batch: int | None
    rolled_back: tuple[str, ...]
    recovered_stale_lock: StaleLockRecovery | None = None

    @property
    def rolled_back_count(self) -> int:
        """How many migrations were rolled back."""
        return len(self.rolled_back)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``recovered_stale_lock`` only when there is one)."""
        out: dict[str, Any] = {
            "batch": self.batch,
            "rolled_back": list(self.rolled_back),
            "rolled_back_count": self.rolled_back_count,
        }
        if self.recovered_stale_lock is not None:
            out["recovered_stale_lock"] = self.recovered_stale_lock.to_dict()
        return out

    def headline(self) -> str:
        """``rolled back N migration(s) of batch B`` or ``nothing to roll back`` (and, when it
        did, ``; released a stale lock``)."""
        line = (
            f"rolled back {self.rolled_back_count} migration(s) of batch {self.batch}"
            if self.rolled_back
            else "nothing to roll back"
        )
        return line + _STALE_NOTE if self.recovered_stale_lock is not None else line


def plan_rollback(conn: Connection, known: Sequence[Migration]) -> RollbackPlan:
    """The latest batch, as ``rollback`` would revert it."""
    state = bookkeeping.read(conn, known)
    by_name = {m.name: m for m in known}
    return RollbackPlan(
        batch=state.latest_batch or None,
        migrations=tuple(
            by_name[n] for n in reversed(state.latest_batch_migrations) if n in by_name
        ),
        locked=bool(state.locked),
        unknown=tuple(state.unknown),
        unknown_in_batch=tuple(n for n in state.latest_batch_migrations if n not in by_name),
    )


def _unknown_problem(step: str, unknown: tuple[str, ...]) -> str | None:
    """Why ``step`` would be refused when the database records ``unknown`` migrations."""
    if not unknown:
        return None
    return (
        f"the database records {len(unknown)} migration(s) this Bazooka does not ship "
        f"({', '.join(unknown)}): {step} would be refused, nothing changed (this Bazooka is "
        "behind that database; docs/maintainers.md)"
    )


def plan_rollback_after_reset() -> RollbackPlan:
    """After ``reset_db`` in a dry run: no bookkeeping, nothing to roll back."""
    return RollbackPlan(None, (), False, (), note="reset_db leaves no migration to roll back")


def apply_rollback(
    conn: Connection,
    known: Sequence[Migration],
    plan: RollbackPlan,
    observer: Observer = QUIET,
    *,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
) -> RollbackResult:
    """Roll back the planned batch, newest first, one transaction per migration (Knex
    ``migrate.rollback``). Refuses, changing nothing, when the latest batch is no longer the
    planned one by the time the lock is held. The lock as for :func:`apply_migrate`."""
    bookkeeping.ensure(conn)
    bookkeeping.completed(conn, known)  # raises on a migration this Bazooka does not know
    guard = MigrationGuard(conn, reconnect=reconnect, wait_s=lock_wait_s)
    guard.acquire()
    try:
        reverted, batch = _run_batch(conn, known, _Work.down(plan), guard, observer)
    finally:
        guard.release()
    emit(
        log,
        logging.INFO,
        "migrator#rollback",
        f"Rolled back {len(reverted)} migration(s)" + (f" of batch {batch}" if reverted else ""),
        batch=batch if reverted else None,
    )
    return RollbackResult(
        batch=batch if reverted else None,
        rolled_back=tuple(reverted),
        recovered_stale_lock=guard.recovered,
    )


def rollback(
    conn: Connection,
    known: Sequence[Migration],
    observer: Observer = QUIET,
    *,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
) -> RollbackResult:
    """Plan, then roll back the latest batch, newest first (Knex ``migrate.rollback``)."""
    plan = plan_rollback(conn, known)
    return apply_rollback(conn, known, plan, observer, reconnect=reconnect, lock_wait_s=lock_wait_s)


@dataclass(frozen=True)
class _Work:
    """What a batch must do once the lock is held: the plan, checked against the database."""

    direction: Direction
    planned: tuple[Migration, ...]
    planned_batch: int | None = None  # rollback: the batch the plan reverts

    @classmethod
    def up(cls, planned: tuple[Migration, ...]) -> _Work:
        """Apply ``planned``."""
        return cls(Direction.UP, planned)

    @classmethod
    def down(cls, plan: RollbackPlan) -> _Work:
        """Revert the plan's batch."""
        return cls(Direction.DOWN, plan.migrations, plan.batch)

    def resolve(self, conn: Connection, known: Sequence[Migration]) -> tuple[list[Migration], int]:
        """The migrations still to run and the batch number, read after taking the lock.

        Up: a planned migration another run applied meanwhile is skipped (re-read after the
        lock, so two runs never apply one twice). Down: the latest batch must still be the
        planned one, or nothing is reverted.
        """
        if self.direction is Direction.UP:
            done = set(bookkeeping.completed(conn, known))
            return [m for m in self.planned if m.name not in done], bookkeeping.next_batch(conn)
        batch, names = bookkeeping.latest_batch(conn)
        planned = [m.name for m in self.planned]
        if names != planned or (batch or None) != self.planned_batch:
            raise MigrationError(
                f"The latest batch changed since it was planned (planned: batch "
                f"{self.planned_batch} with {len(planned)} migration(s); now: batch {batch or None}"
                f" with {len(names)}): another run migrated meanwhile. Nothing was rolled back."
            )
        return list(self.planned), batch


def _apply(
    conn: Connection,
    migration: Migration,
    direction: Direction,
    batch: int,
    *,
    own_transaction: bool,
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
            if leftovers.still_to_run(conn, statement, migration.name):
                conn.execute(statement.encode())
        conn.execute(bookkeeping.record(conn, migration, direction, batch))
        return
    # "\n;" ends a trailing "--" comment line before the next statement.
    row = bookkeeping.record(conn, migration, direction, batch)
    body = script.encode() + b"\n;\n" + row + b";"
    conn.execute(b"BEGIN;\n" + body + b"\nCOMMIT;" if own_transaction else body)


def _migrate_in_one_transaction(
    conn: Connection,
    known: Sequence[Migration],
    plan: MigratePlan,
    guard: MigrationGuard,
    observer: Observer,
) -> tuple[list[str], int]:
    """Every planned migration is transactional: lock, apply, record, unlock — one commit."""
    applied: list[str] = []
    batch = 0
    current: Migration | None = None
    try:
        with conn.transaction():
            guard.take()
            todo, batch = _Work.up(plan.migrations).resolve(conn, known)
            observer.starting(len(todo))
            for migration in todo:
                observer.before_each(migration.name)
                current = migration
                _apply(conn, migration, Direction.UP, batch, own_transaction=False)
                applied.append(migration.name)
                observer.after_each(migration.name)
            current = None
            guard.free()
    except MigrationLocked:
        raise
    except psycopg.Error as exc:
        where = f"Migration {current.name if current else '(bookkeeping)'} (up)"
        if conn.broken:
            recorded = guard.after_lost_connection(batch or None)
            raise _lost_connection(
                where, exc, recorded=recorded, verb="applied", mode=plan.mode, batch=batch
            ) from exc
        raise MigrationError(
            f"{where} failed: {one_line(exc)}. The batch ran in one transaction: nothing was "
            "applied and the lock is free."
        ) from exc
    return applied, batch


def _run_batch(
    conn: Connection,
    known: Sequence[Migration],
    work: _Work,
    guard: MigrationGuard,
    observer: Observer,
) -> tuple[list[str], int]:
    """One transaction per migration (none for no-transaction ones), lock held throughout.

    The per-migration commits do not wait for the disk (``synchronous_commit = off``): the
    lock release at the end is committed synchronously, which flushes the WAL through every
    earlier commit before anything is reported. A crash in between loses at most a suffix of
    the batch, each migration together with its bookkeeping row, as a crashed Knex run would.
    """
    with conn.transaction():
        guard.take()
    done: list[str] = []
    current: Migration | None = None
    batch = 0
    try:
        conn.execute("SET synchronous_commit = off")
        todo, batch = work.resolve(conn, known)
        observer.starting(len(todo))
        for migration in todo:
            observer.before_each(migration.name)
            current = migration
            _apply(conn, migration, work.direction, batch, own_transaction=True)
            done.append(migration.name)
            current = None
            observer.after_each(migration.name)
    except BaseException as exc:
        if not isinstance(exc, psycopg.Error):
            _release_after_failure(conn, guard)
            raise
        where = f"Migration {current.name if current else '(bookkeeping)'} ({work.direction})"
        verb = "applied" if work.direction is Direction.UP else "rolled back"
        if conn.broken:
            recorded = guard.after_lost_connection(batch or None)
            if work.direction is Direction.DOWN and recorded is not None:
                recorded = [m.name for m in work.planned if m.name not in recorded]
            mode = TransactionMode.PER_MIGRATION
            raise _lost_connection(
                where, exc, recorded=recorded, verb=verb, mode=mode, batch=batch
            ) from exc
        _release_after_failure(conn, guard)
        raise MigrationError(
            f"{where} failed: {one_line(exc)}. {len(done)} migration(s) of this batch were {verb} "
            f"before it and stay so; the lock was released."
        ) from exc
    conn.execute("RESET synchronous_commit")
    guard.free()
    return done, batch


def _lost_connection(
    where: str,
    exc: psycopg.Error,
    *,
    recorded: list[str] | None,
    verb: str,
    mode: TransactionMode,
    batch: int,
) -> MigrationError:
    """The error for a connection lost mid-batch, with what the database says was done."""
    if recorded is None:
        return MigrationError(
            f"{where}: lost the connection to PostgreSQL ({one_line(exc)}) and could not "
            "reconnect to release the lock or read what was done. `bazooka status` shows what "
            "is recorded; the next run releases the lock once it proves it stale."
        )
    details: MigrateResult | RollbackResult
    if verb == "applied":
        details = MigrateResult(batch or None, tuple(recorded), mode)
    else:
        details = RollbackResult(batch or None, tuple(recorded))
    return MigrationError(
        f"{where}: lost the connection to PostgreSQL ({one_line(exc)}). Reconnected: "
        f"{len(recorded)} migration(s) of batch {batch or None} are recorded as {verb} "
        f"({', '.join(recorded) or 'none'}) and stay so; this run's lock was released. Run "
        "again to finish.",
        details=details,
    )


def _release_after_failure(conn: Connection, guard: MigrationGuard) -> None:
    """Free the lock after a failed migration, as Knex does; keep the original error."""
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.execute("RESET synchronous_commit")
        guard.free()
    except psycopg.Error as exc:
        emit(
            log,
            logging.ERROR,
            "migrator#release",
            f"Could not release the migration lock after a failure. {UNLOCK_HINT}",
            error=exc,
        )
