"""Bounded lock waits for statements that lock live tables, retried with a jittered backoff.

Why: an ``ALTER TABLE orders`` waiting behind one long read makes every later query on orders
queue behind it, so the API freezes for as long as that read lasts (Knex waits forever). Here
each attempt waits at most ``BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS`` (``lock_timeout``; ``0`` waits
forever, as Knex does). On ``lock_not_available`` the caller undoes the attempt (rolls back its
transaction), and :class:`LockWaits` waits a jittered, growing backoff and tries again, until the
retry budget (``BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS``, counted from the first attempt) or the
Lambda time budget would be exceeded; then it raises :class:`LockWaitExhaustedError`, naming the
session that blocked.

While an attempt runs longer than a moment (a quarter of the timeout, at most 0.2 s), a watcher
thread asks the server, on a connection of its own (opened as the batch's first attempt starts,
kept for the batch), who blocks it (``pg_blocking_pids``): the blocker is logged and shown in
the progress line while waiting, and named in the failure.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.errors import PostgresError
from bazooka.logs import emit
from bazooka.postgres.connection import Connection
from bazooka.progress import NullProgress, TaskProgress
from bazooka.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

_DEFAULTS = Settings()
DEFAULT_TIMEOUT_MS = _DEFAULTS.migration_lock_timeout_ms
DEFAULT_RETRY_BUDGET_MS = _DEFAULTS.migration_lock_retry_budget_ms
# The backoff after the n-th failed attempt: FIRST_BACKOFF_MS * 2**(n-1), at most MAX_BACKOFF_MS,
# each drawn uniformly from half to all of it (so that two runs do not retry in step).
FIRST_BACKOFF_MS = 250
MAX_BACKOFF_MS = 4_000
# The watcher's first look at an attempt, then its interval.
WATCH_AFTER_S = 0.2
WATCH_EVERY_S = 0.5
SHOWN_QUERY = 120
# A statement whose waits block no reader or writer: it takes SHARE UPDATE EXCLUSIVE and waits
# for older transactions (``CREATE INDEX CONCURRENTLY``, ``DROP INDEX CONCURRENTLY``, ...).
_CONCURRENT = re.compile(
    r"^(?:\s|--[^\n]*\n)*(?:create\s+(?:unique\s+)?index|drop\s+index|reindex\s+\w+)\s+concurrently\b",
    re.IGNORECASE,
)

_BLOCKERS = """
SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
       now() - coalesce(a.xact_start, a.query_start, a.backend_start),
       coalesce(a.query, ''),
       (SELECT string_agg(DISTINCT
                 coalesce(w.relation::regclass::text, w.locktype) || ' (' || w.mode || ')', ', ')
          FROM pg_locks w WHERE w.pid = %(pid)s AND NOT w.granted)
FROM pg_stat_activity a
WHERE a.pid = ANY(pg_blocking_pids(%(pid)s))
ORDER BY a.xact_start NULLS LAST
"""


@dataclass(frozen=True)
class LockPolicy:
    """How long each attempt may wait for a lock, and for how long attempts are retried."""

    timeout_ms: int = DEFAULT_TIMEOUT_MS  # 0: wait forever (Knex)
    retry_budget_ms: int = DEFAULT_RETRY_BUDGET_MS

    @classmethod
    def of(cls, settings: Settings) -> LockPolicy:
        """``BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS`` and ``BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS``."""
        return cls(settings.migration_lock_timeout_ms, settings.migration_lock_retry_budget_ms)

    @property
    def bounded(self) -> bool:
        """Whether an attempt's wait is bounded at all."""
        return self.timeout_ms > 0

    def set_timeout(self, *, local: bool) -> bytes:
        """``SET [LOCAL] lock_timeout = '<n>ms'`` (``0``: forever), as one statement."""
        scope = sql.SQL("SET LOCAL" if local else "SET")
        value = sql.Literal(f"{self.timeout_ms}ms")
        return sql.SQL("{} lock_timeout = {}").format(scope, value).as_bytes(None)

    def backoff_ms(self, failed_attempts: int, rng: random.Random) -> int:
        """The jittered wait after ``failed_attempts`` failures."""
        full = min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** max(failed_attempts - 1, 0))
        return int(rng.uniform(full / 2, full))


WAIT_FOREVER = LockPolicy(timeout_ms=0, retry_budget_ms=0)


def blocks_no_one_while_waiting(statement: str) -> bool:
    """Whether ``statement`` is a concurrent index build or drop: while it waits, no reader or
    writer queues behind it, and an attempt cut short would have to build the index again."""
    return _CONCURRENT.match(statement) is not None


@dataclass(frozen=True)
class Blocker:
    """A session blocking ours, as ``pg_stat_activity`` showed it."""

    pid: int
    application_name: str
    state: str
    running: timedelta | None  # since its transaction (or query) began
    query: str
    wanted: str | None  # what our session was waiting for: ``orders (AccessExclusiveLock)``

    def describe(self) -> str:
        """``pid 123 (application_name 'comlink', idle in transaction for 12.3 s, query: ...)``."""
        query = " ".join(self.query.split())
        if len(query) > SHOWN_QUERY:
            query = query[: SHOWN_QUERY - 3] + "..."
        since = f" for {self.running.total_seconds():.1f} s" if self.running is not None else ""
        return (
            f"pid {self.pid} (application_name {self.application_name!r}, "
            f"{self.state or 'unknown state'}{since}, query: {query or '(none)'!r})"
        )


def describe_blockers(blockers: tuple[Blocker, ...]) -> str:
    """``orders (AccessExclusiveLock) held by pid 123 (...)``, or that none was seen."""
    if not blockers:
        return "no blocking session was seen (it may have ended just then)"
    wanted = blockers[0].wanted
    held = "; ".join(b.describe() for b in blockers)
    return f"{wanted} held by {held}" if wanted else f"held by {held}"


class LockWaitExhaustedError(PostgresError):
    """The retry budget (or the Lambda time) ended before the locks could be taken."""


class _Watcher:
    """Asks, from a connection of its own, who blocks the watched session while it waits."""

    def __init__(self, conn: Connection, first_look_s: float = WATCH_AFTER_S) -> None:
        self._conn = conn
        self._first_look_s = first_look_s
        self._pid = conn.info.backend_pid
        self._own: Connection | None = None
        self.seen: tuple[Blocker, ...] = ()  # by the current (or last) attempt
        self._announced: frozenset[int] = frozenset()  # pids last announced, in any attempt

    @contextmanager
    def watching(self, on_seen: Callable[[tuple[Blocker, ...]], None]) -> Iterator[None]:
        """Watch while the block runs; ``on_seen`` gets each set of blockers that differs from
        the last one it got (a retry behind the same session is not announced again)."""
        self.seen = ()
        stop = threading.Event()
        thread = threading.Thread(
            target=self._watch, args=(stop, on_seen), name="lock-watch", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _watch(self, stop: threading.Event, on_seen: Callable[[tuple[Blocker, ...]], None]) -> None:
        self._connect()  # now, so that the first look is not late by a connection
        if stop.wait(self._first_look_s):
            return
        while not stop.is_set():
            blockers = self._read()
            if blockers:
                self.seen = blockers
                pids = frozenset(b.pid for b in blockers)
                if pids != self._announced:
                    self._announced = pids
                    on_seen(blockers)
            if stop.wait(WATCH_EVERY_S):
                return

    def _connect(self) -> Connection | None:
        """The watcher's own connection, opened once (None when it cannot be)."""
        if self._own is None or self._own.closed:
            info = self._conn.info
            params = {**info.get_parameters(), "password": info.password}
            try:
                self._own = psycopg.connect(
                    make_conninfo("", **params),
                    autocommit=True,
                    application_name="bazooka lock watcher",
                    connect_timeout=5,
                )
            except psycopg.Error:
                return None  # the watcher only informs; the attempt's own outcome decides
        return self._own

    def _read(self) -> tuple[Blocker, ...]:
        own = self._connect()
        if own is None:
            return ()
        try:
            rows = own.execute(_BLOCKERS, {"pid": self._pid}).fetchall()
        except psycopg.Error:
            return ()
        return tuple(
            Blocker(int(pid), str(app), str(state), running, str(query), wanted)
            for pid, app, state, running, query, wanted in rows
        )

    def close(self) -> None:
        if self._own is not None:
            with suppress(psycopg.Error):
                self._own.close()


class LockWaits:
    """The attempts of one batch: each unit's attempts and time lost to locks, the watcher,
    the backoff, and the two budgets (the retry budget and the Lambda time)."""

    def __init__(
        self,
        conn: Connection,
        policy: LockPolicy,
        *,
        progress: TaskProgress | None = None,
        budget: TimeBudget | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy
        self.progress = progress or NullProgress()
        self.budget = budget or UnlimitedTime()
        self.attempts: dict[str, int] = {}
        self.waited_ms: dict[str, int] = {}
        first_look_s = WATCH_AFTER_S
        if policy.bounded:  # at least once within an attempt
            first_look_s = min(WATCH_AFTER_S, policy.timeout_ms / 4000)
        self._watcher = _Watcher(conn, first_look_s)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._sleep = sleep

    def close(self) -> None:
        """Close the watcher's connection."""
        self._watcher.close()

    def started(self, name: str) -> None:
        """Count an attempt of ``name``."""
        self.attempts[name] = self.attempts.get(name, 0) + 1
        self.waited_ms.setdefault(name, 0)

    def attempt(
        self,
        run: Callable[[], T],
        undo: Callable[[], None],
        *,
        failing: Callable[[], tuple[str, str]],
        count_retries: bool = True,
    ) -> T:
        """Run ``run`` until it does not fail on a lock timeout; ``undo`` after each failure
        (roll back the attempt's transaction). ``failing`` names the unit that waits, as
        ``(name, where)``; ``count_retries``: count each retry as an attempt of that unit (a
        one-transaction batch counts its units itself as it runs them again).

        Raises :class:`LockWaitExhaustedError` when the next attempt would pass the retry budget
        or the Lambda time budget; the failure names the blocker either way."""
        first = time.monotonic()
        failed = 0
        seen: tuple[Blocker, ...] = ()  # the latest blockers seen by any attempt of this run
        while True:
            started = time.monotonic()
            try:
                with self._watcher.watching(lambda seen: self._waiting(failing()[0], seen)):
                    return run()
            except psycopg.errors.LockNotAvailable:
                undo()
                failed += 1
                name, where = failing()
                seen = self._watcher.seen or seen
                self.waited_ms[name] = self.waited_ms.get(name, 0) + int(
                    (time.monotonic() - started) * 1000
                )
                self._retry_or_give_up(name, where, failed, first, seen)
                if count_retries:
                    self.started(name)

    def once_within_budget(
        self, conn: Connection, run: Callable[[], T], *, failing: tuple[str, str]
    ) -> T:
        """Run a statement that blocks no one while it waits (:func:`blocks_no_one_while_waiting`)
        in ONE attempt whose lock wait is bounded by the retry budget (and the Lambda time) rather
        than by the per-attempt timeout: a concurrent index build waits for every older
        transaction of the database, and timing it out every few seconds would throw its build
        away each time. ``conn``'s ``lock_timeout`` is set for it, then back to the policy's."""
        name, where = failing
        if not self.policy.bounded:
            return self.attempt(run, nothing_to_undo, failing=lambda: failing)
        lambda_left = self._lambda_left_ms()
        wait_ms = max(self.policy.timeout_ms, min(self.policy.retry_budget_ms, lambda_left))
        conn.execute(LockPolicy(wait_ms).set_timeout(local=False))
        started = time.monotonic()
        try:
            with self._watcher.watching(lambda seen: self._waiting(name, seen)):
                return run()
        except psycopg.errors.LockNotAvailable as exc:
            waited = int((time.monotonic() - started) * 1000)
            self.waited_ms[name] = self.waited_ms.get(name, 0) + waited
            raise LockWaitExhaustedError(
                f"{where} could not take its locks: its concurrent statement waited {wait_ms} ms, "
                "the whole retry budget (BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS, or the Lambda "
                "time left), in one attempt: while it waits it blocks no reader or writer, and "
                f"an attempt cut short would build again. Waiting for "
                f"{describe_blockers(self._watcher.seen)}. Let that session finish (or end it), "
                "then run again",
            ) from exc
        finally:
            if (
                not conn.broken
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            ):
                conn.execute(self.policy.set_timeout(local=False))

    def _retry_or_give_up(
        self, name: str, where: str, failed: int, first: float, seen: tuple[Blocker, ...]
    ) -> None:
        blockers = describe_blockers(seen)
        backoff_ms = self.policy.backoff_ms(failed, self._rng)
        spent_ms = int((time.monotonic() - first) * 1000)
        next_ends_ms = spent_ms + backoff_ms + self.policy.timeout_ms
        lambda_left = self._lambda_left_ms()
        if next_ends_ms > self.policy.retry_budget_ms or backoff_ms + self.policy.timeout_ms > (
            lambda_left
        ):
            why = (
                f"the retry budget of {self.policy.retry_budget_ms} ms "
                "(BAZOOKA_MIGRATION_LOCK_RETRY_BUDGET_MS)"
                if next_ends_ms > self.policy.retry_budget_ms
                else f"the Lambda time left ({lambda_left} ms above the reserve)"
            )
            raise LockWaitExhaustedError(
                f"{where} could not take its locks: {failed} attempt(s) each waited "
                f"{self.policy.timeout_ms} ms (BAZOOKA_MIGRATION_LOCK_TIMEOUT_MS) over "
                f"{spent_ms / 1000:.1f} s, and another would pass {why}. Waiting for "
                f"{blockers}. Let that session finish (or end it), then run again",
            )
        emit(
            log,
            logging.WARNING,
            "lock_wait#retry",
            f"{where}: lock wait timed out after {self.policy.timeout_ms} ms "
            f"(attempt {failed}); waiting for {blockers}; retrying in {backoff_ms} ms",
            migration=name,
            attempt=failed,
            retryInMs=backoff_ms,
            blockers=[b.describe() for b in seen],
        )
        holder = f"pid {seen[0].pid} ({seen[0].application_name or '?'})" if seen else "a session"
        self.progress.advance(
            0, description=f"{name}: waiting for {holder}, attempt {failed + 1} in {backoff_ms} ms"
        )
        self._sleep(backoff_ms / 1000)
        self.waited_ms[name] = self.waited_ms.get(name, 0) + backoff_ms

    def _lambda_left_ms(self) -> int:
        """The Lambda time left above the reserve."""
        return self.budget.remaining_ms() - self.budget.reserve_ms

    def _waiting(self, name: str, blockers: tuple[Blocker, ...]) -> None:
        first = blockers[0]
        emit(
            log,
            logging.WARNING,
            "lock_wait#waiting",
            f"{name}: waiting for {describe_blockers(blockers)}",
            migration=name,
            blockers=[b.describe() for b in blockers],
        )
        self.progress.advance(
            0,
            description=f"{name}: waiting for pid {first.pid} ({first.application_name or '?'})",
        )


def in_bounded_transaction(
    conn: Connection,
    policy: LockPolicy,
    what: str,
    work: Callable[[], T],
    *,
    progress: TaskProgress | None = None,
    budget: TimeBudget | None = None,
) -> T:
    """Run ``work`` in a transaction whose lock waits are bounded by ``policy``, rolled back
    and retried as a migration is (``clear_db``'s and ``reset_db``'s locks on live tables).
    ``what`` names it in the logs and in :class:`LockWaitExhaustedError`."""

    def attempt() -> T:
        with conn.transaction():
            conn.execute(policy.set_timeout(local=True))
            return work()

    waits = LockWaits(conn, policy, progress=progress, budget=budget)
    try:
        waits.started(what)
        return waits.attempt(attempt, nothing_to_undo, failing=lambda: (what, what))
    finally:
        waits.close()


def nothing_to_undo() -> None:
    """The undo of an attempt that undid itself: a rolled-back transaction, an autocommit
    statement that failed."""
