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
plan. Both go through ONE loop (:func:`_run`) over units of work (each migration, or the baseline
standing for all of them), and a context manager (:func:`_begin_transaction`) decides, once per
batch, whether one transaction covers the whole batch or each unit opens its own, as alembic's
``begin_transaction(_per_migration=True)`` does. Knex's lock table and the guard around it are
:mod:`bazooka.postgres.lock`; the ``knex_migrations`` rows are :mod:`bazooka.postgres.bookkeeping`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import psycopg
from psycopg.pq import TransactionStatus

from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.errors import MigrationError, MigrationLocked
from bazooka.logs import emit
from bazooka.outcome import EarlierSteps
from bazooka.postgres import baseline, bookkeeping, leftovers, lock
from bazooka.postgres.connection import Connection, one_line
from bazooka.postgres.lock import ADVISORY_WAIT_S, UNLOCK_HINT, MigrationGuard, StaleLockRecovery
from bazooka.postgres.lock_wait import (
    LockPolicy,
    LockWaitExhaustedError,
    LockWaits,
    blocks_no_one_while_waiting,
    nothing_to_undo,
)
from bazooka.postgres.migrations_source import Direction, Migration
from bazooka.postgres.sqlsplit import split_statements
from bazooka.progress import NullProgress, TaskProgress

if TYPE_CHECKING:  # imports pglast: on the plan path only (postgres/lock_plan.py)
    from bazooka.postgres.lock_plan import LockReport

log = logging.getLogger(__name__)
# Defaults for tools and tests: nothing shown, no deadline.
NULL_PROGRESS: TaskProgress = NullProgress()
NO_DEADLINE: TimeBudget = UnlimitedTime()
IDLE = TransactionStatus.IDLE
# The lock waits of tools and tests: the settings' defaults.
DEFAULT_LOCKS = LockPolicy()


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
    # What each statement will lock, with table sizes and warnings: dry runs only (its parser
    # costs 50 ms to import), replay path only (the baseline runs on an empty database).
    locks: LockReport | None = None

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
        """JSON form (``locks``: the lock report, when the plan has one)."""
        out: dict[str, Any] = {
            "migrations_to_apply": [m.name for m in self.migrations],
            "count": len(self.migrations),
            "path": self.path.value,
            "mode": self.mode.value,
            "locked": self.locked,
            "unknown_recorded_migrations": list(self.unknown),
        }
        if self.locks is not None:
            out["locks"] = self.locks.to_dict()
        return out

    def headline(self) -> str:
        """``would apply N migration(s) (mode)``, and the lock report's warnings if any."""
        line = f"would apply {len(self.migrations)} migration(s) ({self.mode.value})"
        if self.locks is not None and self.locks.warnings:
            line += f"; {len(self.locks.warnings)} lock warning(s): heavy work on large tables"
        return line

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
    attempts: dict[str, int] = field(default_factory=dict)  # migration -> attempts
    lock_wait_ms: dict[str, int] = field(default_factory=dict)  # migration -> time lost to locks

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
            **_lock_figures(self.applied, self.attempts, self.lock_wait_ms),
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
        line += _retries_note(self.applied, self.attempts, self.lock_wait_ms)
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
    held = lock.state(conn)
    empty = not also_pending and not replay and baseline.applies(conn, known)
    return MigratePlan(
        migrations=tuple(m for m in known if m.name not in state.done - also_pending),
        locked=bool(held.locked),
        unknown=tuple(state.unknown),
        bookkeeping_ready=state.exists and held.rows > 0,
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
    progress: TaskProgress = NULL_PROGRESS,
    budget: TimeBudget = NO_DEADLINE,
    *,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
    locks: LockPolicy = DEFAULT_LOCKS,
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
        try:
            loaded = _run_guarded(
                conn, known, _Work.baseline(), guard, progress=progress, budget=budget, locks=locks
            ).names
        except baseline.DoesNotApply:
            plan = plan_migrate(conn, known, replay=True)
        else:
            return _result(
                _Ran(loaded, 1),
                TransactionMode.BASELINE,
                conn,
                path=MigratePath.BASELINE,
                guard=guard,
            )
    if not plan.bookkeeping_ready:
        lock.ensure_tables(conn)
    if plan.unknown:
        bookkeeping.completed(conn, known)  # raises, naming them
    ran = _run_guarded(
        conn, known, _Work.up(plan), guard, progress=progress, budget=budget, locks=locks
    )
    return _result(ran, plan.mode, conn, path=MigratePath.REPLAY, guard=guard)


def load_baseline(
    conn: Connection,
    known: Sequence[Migration],
    progress: TaskProgress = NULL_PROGRESS,
    budget: TimeBudget = NO_DEADLINE,
    source: baseline.Baseline | None = None,
) -> tuple[str, ...] | None:
    """Load ``source`` (the bundled baseline by default) through the loop, without the
    migration guard: for the snapshot tool and the tests. The names recorded as batch 1, or
    None when it does not apply (the database is not empty, or it stands for other migrations).
    """
    try:
        work, guard = _Work.baseline(source), MigrationGuard(conn)
        loaded = _run(conn, known, work, guard, progress=progress, budget=budget).names
    except baseline.DoesNotApply:
        return None
    return loaded


def _result(
    ran: _Ran,
    mode: TransactionMode,
    conn: Connection,
    *,
    path: MigratePath,
    guard: MigrationGuard,
) -> MigrateResult:
    applied, batch = ran.names, ran.batch
    result = MigrateResult(
        batch=batch if applied else None,
        applied=applied,
        mode=mode,
        invalid_indexes=tuple(bookkeeping.invalid_indexes(conn)),
        path=path,
        recovered_stale_lock=guard.recovered,
        attempts=ran.attempts,
        lock_wait_ms=ran.lock_wait_ms,
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
    progress: TaskProgress = NULL_PROGRESS,
    budget: TimeBudget = NO_DEADLINE,
    *,
    replay: bool = False,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
    locks: LockPolicy = DEFAULT_LOCKS,
) -> MigrateResult:
    """Plan, then apply every pending migration as one new batch (Knex ``migrate.latest``);
    an empty database gets the baseline unless ``replay``."""
    plan = plan_migrate(conn, known, replay=replay)
    return apply_migrate(
        conn,
        known,
        plan,
        progress,
        budget,
        reconnect=reconnect,
        lock_wait_s=lock_wait_s,
        locks=locks,
    )


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
    locks: LockReport | None = None  # what each down statement will lock: dry runs only

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
        out: dict[str, Any] = {
            "batch": self.batch,
            "migrations_to_roll_back": names,
            "locked": self.locked,
            "unknown_recorded_migrations": list(self.unknown),
            "unknown_in_latest_batch": list(self.unknown_in_batch),
        }
        if self.locks is not None:
            out["locks"] = self.locks.to_dict()
        return out

    def headline(self) -> str:
        """``would roll back N migration(s)``, and the lock report's warnings if any."""
        line = f"would roll back {len(self.migrations)} migration(s)"
        if self.locks is not None and self.locks.warnings:
            line += f"; {len(self.locks.warnings)} lock warning(s): heavy work on large tables"
        return line

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """Later steps of a dry run find these migrations pending again."""
        return earlier.with_rolled_back(frozenset(m.name for m in self.migrations))


@dataclass(frozen=True)
class RollbackResult:
    """The batch ``rollback`` reverted."""

    batch: int | None
    rolled_back: tuple[str, ...]
    recovered_stale_lock: StaleLockRecovery | None = None
    attempts: dict[str, int] = field(default_factory=dict)
    lock_wait_ms: dict[str, int] = field(default_factory=dict)

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
            **_lock_figures(self.rolled_back, self.attempts, self.lock_wait_ms),
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
        line += _retries_note(self.rolled_back, self.attempts, self.lock_wait_ms)
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
        locked=bool(lock.state(conn).locked),
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
    progress: TaskProgress = NULL_PROGRESS,
    budget: TimeBudget = NO_DEADLINE,
    *,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
    locks: LockPolicy = DEFAULT_LOCKS,
) -> RollbackResult:
    """Roll back the planned batch, newest first, one transaction per migration (Knex
    ``migrate.rollback``). Refuses, changing nothing, when the latest batch is no longer the
    planned one by the time the lock is held. The lock as for :func:`apply_migrate`."""
    lock.ensure_tables(conn)
    bookkeeping.completed(conn, known)  # raises on a migration this Bazooka does not know
    guard = MigrationGuard(conn, reconnect=reconnect, wait_s=lock_wait_s)
    ran = _run_guarded(
        conn, known, _Work.down(plan), guard, progress=progress, budget=budget, locks=locks
    )
    reverted, batch = ran.names, ran.batch
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
        attempts=ran.attempts,
        lock_wait_ms=ran.lock_wait_ms,
    )


def rollback(
    conn: Connection,
    known: Sequence[Migration],
    progress: TaskProgress = NULL_PROGRESS,
    budget: TimeBudget = NO_DEADLINE,
    *,
    reconnect: Callable[[], Connection] | None = None,
    lock_wait_s: float = ADVISORY_WAIT_S,
    locks: LockPolicy = DEFAULT_LOCKS,
) -> RollbackResult:
    """Plan, then roll back the latest batch, newest first (Knex ``migrate.rollback``)."""
    plan = plan_rollback(conn, known)
    return apply_rollback(
        conn,
        known,
        plan,
        progress,
        budget,
        reconnect=reconnect,
        lock_wait_s=lock_wait_s,
        locks=locks,
    )


# --- the one loop ---------------------------------------------------------------------------


class _Unit(Protocol):
    """One unit of a batch's work: a migration (:class:`_Step`), or the baseline standing for
    all of them (:class:`bazooka.postgres.baseline.Load`)."""

    @property
    def names(self) -> tuple[str, ...]:
        """The migrations it records (or un-records), in order."""

    @property
    def label(self) -> str:
        """What it is called when the time budget is checked before it."""

    @property
    def where(self) -> str:
        """How a failure message names it."""

    def apply(
        self, conn: Connection, batch: int, *, own_transaction: bool, waits: LockWaits
    ) -> None:
        """Run it and write its bookkeeping; in a transaction of its own when told so. Lock
        waits are bounded and retried through ``waits`` (see :mod:`lock_wait`)."""


@dataclass(frozen=True)
class _Step:
    """One migration, applied or reverted: the unit of a replay and of a rollback."""

    migration: Migration
    direction: Direction

    @property
    def names(self) -> tuple[str, ...]:
        """Its one name."""
        return (self.migration.name,)

    @property
    def label(self) -> str:
        """Its name."""
        return self.migration.name

    @property
    def where(self) -> str:
        """``Migration <name> (up)``."""
        return f"Migration {self.migration.name} ({self.direction})"

    def apply(
        self, conn: Connection, batch: int, *, own_transaction: bool, waits: LockWaits
    ) -> None:
        """Run the migration and write its bookkeeping row.

        A transactional migration goes as ONE simple query (several statements): its SQL and
        its bookkeeping row together, wrapped in BEGIN/COMMIT when it has its own transaction,
        so each costs one round trip. A no-transaction migration runs statement by statement
        in autocommit (CREATE INDEX CONCURRENTLY refuses a multi-statement query), then its row.

        Lock waits: a migration with its own transaction sets ``lock_timeout`` for it, and is
        retried whole (rolled back first) when a lock wait times out; a no-transaction one
        retries the statement that timed out (what it left is repaired first, see
        :mod:`leftovers`). Inside a one-transaction batch, the batch is retried (:func:`_run`).
        """
        migration, direction = self.migration, self.direction
        script = migration.sql(direction)
        failing = (migration.name, self.where)
        if not migration.transaction:
            conn.execute(waits.policy.set_timeout(local=False))
            try:
                for statement in split_statements(script):
                    run = partial(self._run_statement, conn, statement)
                    if blocks_no_one_while_waiting(statement):
                        waits.once_within_budget(conn, run, failing=failing)
                    else:  # autocommit: a failed statement undid itself
                        waits.attempt(run, nothing_to_undo, failing=lambda: failing)
                conn.execute(bookkeeping.record(conn, migration, direction, batch))
            finally:
                if not conn.broken and conn.info.transaction_status == IDLE:
                    conn.execute("RESET lock_timeout")
            return
        # "\n;" ends a trailing "--" comment line before the next statement.
        row = bookkeeping.record(conn, migration, direction, batch)
        body = script.encode() + b"\n;\n" + row + b";"
        if not own_transaction:
            conn.execute(body)  # the batch's transaction set lock_timeout
            return
        query = b"BEGIN;\n" + waits.policy.set_timeout(local=True) + b";\n" + body + b"\nCOMMIT;"
        waits.attempt(
            lambda: conn.execute(query), lambda: _rollback_quietly(conn), failing=lambda: failing
        )

    def _run_statement(self, conn: Connection, statement: str) -> None:
        if leftovers.still_to_run(conn, statement, self.migration.name):
            conn.execute(statement.encode())


@dataclass(frozen=True)
class _Work:
    """What a batch must do once the lock is held: the plan, checked against the database."""

    direction: Direction
    mode: TransactionMode
    planned: tuple[Migration, ...] = ()
    planned_batch: int | None = None  # rollback: the batch the plan reverts
    source: baseline.Baseline | None = None  # the baseline: the bundled one when None

    @classmethod
    def up(cls, plan: MigratePlan) -> _Work:
        """Apply the plan's migrations (replayed)."""
        return cls(Direction.UP, plan.mode, plan.migrations)

    @classmethod
    def down(cls, plan: RollbackPlan) -> _Work:
        """Revert the plan's batch, one transaction per migration."""
        return cls(Direction.DOWN, TransactionMode.PER_MIGRATION, plan.migrations, plan.batch)

    @classmethod
    def baseline(cls, source: baseline.Baseline | None = None) -> _Work:
        """Load the baseline, as batch 1."""
        return cls(Direction.UP, TransactionMode.BASELINE, source=source)

    @property
    def where(self) -> str:
        """How a failure message names a failure outside any unit."""
        if self.mode is TransactionMode.BASELINE:
            return baseline.LOADING
        return f"Migration (bookkeeping) ({self.direction})"

    @property
    def verb(self) -> str:
        """``applied`` or ``rolled back``."""
        return "applied" if self.direction is Direction.UP else "rolled back"

    @property
    def task(self) -> str:
        """The progress display's name for the batch: ``migrating`` or ``rolling back``."""
        return "migrating" if self.direction is Direction.UP else "rolling back"

    @property
    def doing(self) -> str:
        """What the time budget says it would do next: ``applying`` or ``rolling back``."""
        return "applying" if self.direction is Direction.UP else "rolling back"

    def resolve(self, conn: Connection, known: Sequence[Migration]) -> tuple[list[_Unit], int]:
        """The units still to run and the batch number, read after taking the lock.

        Up: a planned migration another run applied meanwhile is skipped (re-read after the
        lock, so two runs never apply one twice). Down: the latest batch must still be the
        planned one, or nothing is reverted. The baseline: the database must still be empty
        (:class:`bazooka.postgres.baseline.DoesNotApply` otherwise).
        """
        if self.mode is TransactionMode.BASELINE:
            return [baseline.Load.of(conn, known, self.source)], 1
        if self.direction is Direction.UP:
            done = set(bookkeeping.completed(conn, known))
            todo = [m for m in self.planned if m.name not in done]
            return [_Step(m, Direction.UP) for m in todo], bookkeeping.next_batch(conn)
        batch, names = bookkeeping.latest_batch(conn)
        planned = [m.name for m in self.planned]
        if names != planned or (batch or None) != self.planned_batch:
            raise MigrationError(
                f"The latest batch changed since it was planned (planned: batch "
                f"{self.planned_batch} with {len(planned)} migration(s); now: batch {batch or None}"
                f" with {len(names)}): another run migrated meanwhile. Nothing was rolled back."
            )
        return [_Step(m, Direction.DOWN) for m in self.planned], batch


@dataclass
class _BatchState:
    """How far a batch got: what its failure message and lost-connection report say."""

    batch: int = 0
    done: list[str] = field(default_factory=list)
    current: _Unit | None = None


@dataclass(frozen=True)
class _Ran:
    """What a batch did: the names it recorded (or un-recorded), its number, and each unit's
    attempts and time lost to lock waits."""

    names: tuple[str, ...]
    batch: int
    attempts: dict[str, int] = field(default_factory=dict)
    lock_wait_ms: dict[str, int] = field(default_factory=dict)


def _lock_figures(
    names: Sequence[str], attempts: dict[str, int], waited: dict[str, int]
) -> dict[str, Any]:
    """The report's ``attempts`` and ``lock_wait_ms`` of the migrations ``names`` (none when
    no attempt was counted: the baseline)."""
    if not attempts:
        return {}
    return {
        "attempts": {n: attempts.get(n, 1) for n in names},
        "lock_wait_ms": {n: waited.get(n, 0) for n in names},
        "lock_wait_ms_total": sum(waited.get(n, 0) for n in names),
    }


def _retries_note(names: Sequence[str], attempts: dict[str, int], waited: dict[str, int]) -> str:
    """``; 3 attempt(s) retried after a lock wait (6.2 s)``, or nothing when none was."""
    retried = sum(attempts.get(n, 1) - 1 for n in names)
    if retried <= 0:
        return ""
    lost_s = sum(waited.get(n, 0) for n in names) / 1000
    return f"; {retried} attempt(s) retried after a lock wait ({lost_s:.1f} s)"


def _run_guarded(
    conn: Connection,
    known: Sequence[Migration],
    work: _Work,
    guard: MigrationGuard,
    *,
    progress: TaskProgress,
    budget: TimeBudget,
    locks: LockPolicy,
) -> _Ran:
    """:func:`_run` while holding the guard (the advisory lock; a stale row released)."""
    guard.acquire()
    try:
        return _run(conn, known, work, guard, progress=progress, budget=budget, locks=locks)
    finally:
        guard.release()


def _run(
    conn: Connection,
    known: Sequence[Migration],
    work: _Work,
    guard: MigrationGuard,
    *,
    progress: TaskProgress,
    budget: TimeBudget,
    locks: LockPolicy = DEFAULT_LOCKS,
) -> _Ran:
    """The one migration loop: every unit of the batch, in order. :func:`_begin_transaction`
    decides the transactions and owns the failure path. A one-transaction batch whose lock
    wait times out is rolled back whole, releasing every lock it took, and run again after a
    backoff (units with their own transactions retry themselves)."""
    waits = LockWaits(conn, locks, progress=progress, budget=budget)
    states = [_BatchState()]

    def failing() -> tuple[str, str]:
        current = states[-1].current
        return (current.label, current.where) if current else ("(bookkeeping)", work.where)

    def batch() -> _Ran:
        state = _BatchState()
        states.append(state)
        with _begin_transaction(conn, guard, work, state, locks) as own_transaction:
            units, state.batch = work.resolve(conn, known)
            progress.start_task(work.task, sum(len(unit.names) for unit in units))
            for unit in units:
                budget.check(f"{work.doing} {unit.label}")  # stops cleanly before a unit
                state.current = unit
                for name in unit.names:
                    waits.started(name)
                unit.apply(conn, state.batch, own_transaction=own_transaction, waits=waits)
                state.current = None
                state.done.extend(unit.names)
                for name in unit.names:
                    progress.advance(1, description=name)
        return _Ran(tuple(state.done), state.batch)

    try:
        if work.mode is TransactionMode.ONE:  # watched, and retried when bounded
            try:
                ran = waits.attempt(batch, nothing_to_undo, failing=failing, count_retries=False)
            except LockWaitExhaustedError as exc:
                raise MigrationError(f"{exc}. {_left_behind(work, states[-1])}") from exc
        else:
            ran = batch()
    finally:
        waits.close()
    if work.mode is TransactionMode.BASELINE:
        return ran
    return _Ran(ran.names, ran.batch, dict(waits.attempts), dict(waits.waited_ms))


@contextmanager
def _begin_transaction(
    conn: Connection,
    guard: MigrationGuard,
    work: _Work,
    state: _BatchState,
    locks: LockPolicy = DEFAULT_LOCKS,
) -> Iterator[bool]:
    """Decide the batch's transactions, once (alembic's ``begin_transaction``); yield whether
    each unit opens its own. A failure inside becomes one :class:`MigrationError` here.

    * ``ONE``: one transaction covers Knex's lock row, every migration and its row; one commit.
      Its ``lock_timeout`` is set once, after the lock row is taken; a lock wait that times out
      leaves here as it is, the transaction rolled back, for :func:`_run` to retry the batch.
    * ``PER_MIGRATION``: the lock row is taken in a transaction of its own, then each
      migration opens its own (none for a no-transaction one), and the row is freed at the
      end. Those commits do not wait for the disk (``synchronous_commit = off``): the final
      release is committed synchronously, which flushes the WAL through every earlier commit
      before anything is reported. A crash in between loses at most a suffix of the batch,
      each migration with its bookkeeping row, as a crashed Knex run would.
    * ``BASELINE``: the one unit opens its own transaction and creates, takes and frees the
      lock row inside it, so nothing is taken here.
    """
    mode = work.mode
    if mode is TransactionMode.PER_MIGRATION:
        # Outside the failure path: a row this run failed to take is not its own to free.
        with conn.transaction():
            guard.take()
    try:
        if mode is TransactionMode.ONE:
            with conn.transaction():
                guard.take()
                conn.execute(locks.set_timeout(local=True))
                yield False
                guard.free()
        else:
            if mode is TransactionMode.PER_MIGRATION:
                conn.execute("SET synchronous_commit = off")
            yield True
    except MigrationLocked:
        raise
    except BaseException as exc:
        if _retried_whole(exc, mode, locks, conn):
            raise  # rolled back with the transaction: :func:`_run` runs the batch again
        error = _failure(conn, guard, work, state, exc)
        if error is None:
            raise
        raise error from exc
    if mode is TransactionMode.PER_MIGRATION:
        conn.execute("RESET synchronous_commit")
        guard.free()


def _retried_whole(
    exc: BaseException, mode: TransactionMode, locks: LockPolicy, conn: Connection
) -> bool:
    """Whether a failure is a lock wait of a one-transaction batch that :func:`_run` retries."""
    return (
        isinstance(exc, psycopg.errors.LockNotAvailable)
        and mode is TransactionMode.ONE
        and locks.bounded
        and not conn.broken
    )


def _failure(
    conn: Connection,
    guard: MigrationGuard,
    work: _Work,
    state: _BatchState,
    exc: BaseException,
) -> MigrationError | None:
    """The one failure path: clean up as the batch's transactions require, then the error to
    raise (None: raise ``exc`` as it is; only driver errors are translated).

    A connection lost in a replay or a rollback reconnects once to release this run's lock row
    and report what is recorded; the baseline holds no row outside its one transaction.
    """
    mode = work.mode
    lost = isinstance(exc, psycopg.Error) and conn.broken and mode is not TransactionMode.BASELINE
    if not lost:
        if mode is TransactionMode.PER_MIGRATION:
            _release_after_failure(conn, guard)
        elif mode is TransactionMode.BASELINE:
            _rollback_quietly(conn)
        # ONE: leaving the transaction rolled it back, the lock row's update with it.
    if isinstance(exc, LockWaitExhaustedError):
        return MigrationError(f"{exc}. {_left_behind(work, state)}")
    if not isinstance(exc, psycopg.Error):
        return None
    where = state.current.where if state.current is not None else work.where
    if lost:
        recorded = guard.after_lost_connection(state.batch or None)
        if work.direction is Direction.DOWN and recorded is not None:
            recorded = [m.name for m in work.planned if m.name not in recorded]
        return _lost_connection(
            where, exc, recorded=recorded, verb=work.verb, mode=mode, batch=state.batch
        )
    return MigrationError(f"{where} failed: {one_line(exc)}. {_left_behind(work, state)}")


def _left_behind(work: _Work, state: _BatchState) -> str:
    """What a failed batch leaves, as its transactions decide."""
    match work.mode:
        case TransactionMode.ONE:
            return "The batch ran in one transaction: nothing was applied and the lock is free."
        case TransactionMode.PER_MIGRATION:
            return (
                f"{len(state.done)} migration(s) of this batch were {work.verb} before it "
                "and stay so; the lock was released."
            )
        case TransactionMode.BASELINE:
            return (
                "It ran in one transaction: nothing was created, the database is still empty. "
                "Run again, or force the step-by-step replay with --replay "
                "(BAZOOKA_MIGRATE_REPLAY=true)."
            )


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


def _rollback_quietly(conn: Connection) -> None:
    """End a failed transaction opened by text (the baseline's); a dead connection has nothing
    left to roll back."""
    if conn.closed or conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    with suppress(psycopg.Error):
        conn.execute("ROLLBACK")
