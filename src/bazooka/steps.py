"""The step table: every step Bazooka can run, declared once, in the specification's order.

A step is its event field's name, whether it destroys data, the systems it touches, a one-line
summary, and two functions: ``plan`` reads the systems' current state and returns a typed plan
(what the step will do, with numbers); ``apply`` carries out exactly that plan and returns a
typed result. A dry run stops after planning. The force guard, the plan, the runner, the CLI's
flags, ``status`` and the docs' tests all read this table.

Adding a step: a boolean field on :class:`~bazooka.event.BazookaEvent`, a plan and a result
class next to the code that talks to its system, two small functions below and one
:class:`StepSpec` in :data:`STEPS` (see ``docs/development.md``).

The functions below import their system's module when called, so a run that never touches
Kafka never loads the Kafka client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bazooka.context import StepContext
from bazooka.outcome import EarlierSteps, Outcome, Plan
from bazooka.systems import System

if TYPE_CHECKING:
    from bazooka.event import BazookaEvent
    from bazooka.kafka.clear import ClearTopicsPlan
    from bazooka.kafka.create import CreationPlan
    from bazooka.postgres.connection import Connection
    from bazooka.postgres.lock_plan import LockReport
    from bazooka.postgres.maintenance import ClearDbPlan, ResetPlan
    from bazooka.postgres.migrations_source import Migration
    from bazooka.postgres.migrator import MigratePlan, RollbackPlan
    from bazooka.postgres.verify import VerifyPlan
    from bazooka.redis_ops import FlushPlan
    from bazooka.vulcan.send import SendPlan

P = TypeVar("P", bound=Plan)


@dataclass(frozen=True)
class StepSpec(Generic[P]):
    """One step: its name (= the event field), what it touches, and how it plans and applies."""

    name: str
    summary: str
    destructive: bool
    systems: frozenset[System]
    plan: Callable[[StepContext, EarlierSteps], P]
    apply: Callable[[StepContext, P], Outcome]
    # Why the step is not needed given the rest of the event (it is then reported as skipped).
    skip: Callable[[BazookaEvent], str | None] = lambda _event: None


# --- postgres -------------------------------------------------------------------------------


def _plan_reset(ctx: StepContext, earlier: EarlierSteps) -> ResetPlan:
    from bazooka.postgres import maintenance  # noqa: PLC0415

    with _pg_errors(ctx, "reset_db (inspecting schema public)"):
        return maintenance.plan_reset(ctx.pg())


def _apply_reset(ctx: StepContext, plan: ResetPlan) -> Outcome:
    from bazooka.postgres import maintenance  # noqa: PLC0415
    from bazooka.postgres.lock_wait import LockPolicy  # noqa: PLC0415

    with _pg_errors(ctx, "reset_db (drop and recreate schema public)"):
        return maintenance.reset_schema(
            ctx.pg(), plan, LockPolicy.of(ctx.settings), ctx.progress, ctx.budget
        )


def _plan_rollback(ctx: StepContext, earlier: EarlierSteps) -> RollbackPlan:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    if earlier.schema_reset:
        return migrator.plan_rollback_after_reset()
    with _pg_errors(ctx, "rollback (reading the bookkeeping)"):
        plan = migrator.plan_rollback(ctx.pg(), bundled())
    if not ctx.dry_run or not plan.migrations or plan.unknown_in_batch:
        return plan
    return replace(plan, locks=_lock_report(ctx, plan.migrations, "rollback", down=True))


def _apply_rollback(ctx: StepContext, plan: RollbackPlan) -> Outcome:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.lock_wait import LockPolicy  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    with _pg_errors(ctx, "rollback"):
        return migrator.apply_rollback(
            ctx.pg(),
            bundled(),
            plan,
            ctx.progress,
            ctx.budget,
            reconnect=_reconnect(ctx),
            locks=LockPolicy.of(ctx.settings),
        )


def _plan_migrate(ctx: StepContext, earlier: EarlierSteps) -> MigratePlan:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    replay = ctx.settings.migrate_replay
    if earlier.schema_reset:
        plan = migrator.plan_migrate_from_empty(bundled(), replay=replay)
    else:
        with _pg_errors(ctx, "migrate (reading the bookkeeping)"):
            plan = migrator.plan_migrate(
                ctx.pg(), bundled(), also_pending=earlier.rolled_back, replay=replay
            )
    if not ctx.dry_run or plan.path is not migrator.MigratePath.REPLAY or not plan.migrations:
        return plan
    report = _lock_report(ctx, plan.migrations, "migrate", empty=earlier.schema_reset)
    return replace(plan, locks=report)


def _lock_report(
    ctx: StepContext,
    migrations: Sequence[Migration],
    step: str,
    *,
    down: bool = False,
    empty: bool = False,
) -> LockReport:
    """What ``migrations`` will lock, for a dry run only: pglast is imported here, never by a
    run (about 50 ms). ``empty``: the schema an earlier ``reset_db`` leaves (no sizes)."""
    from bazooka.postgres import lock_plan  # noqa: PLC0415
    from bazooka.postgres.migrations_source import Direction  # noqa: PLC0415

    with _pg_errors(ctx, f"{step} (reading table sizes for the lock report)"):
        return lock_plan.lock_report(
            None if empty else ctx.pg(),
            migrations,
            direction=Direction.DOWN if down else Direction.UP,
            warn_rows=ctx.settings.plan_lock_warn_rows,
            warn_bytes=ctx.settings.plan_lock_warn_bytes,
        )


def _apply_migrate(ctx: StepContext, plan: MigratePlan) -> Outcome:
    from bazooka.postgres import migrator  # noqa: PLC0415
    from bazooka.postgres.lock_wait import LockPolicy  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    with _pg_errors(ctx, "migrate"):
        return migrator.apply_migrate(
            ctx.pg(),
            bundled(),
            plan,
            ctx.progress,
            ctx.budget,
            reconnect=_reconnect(ctx),
            locks=LockPolicy.of(ctx.settings),
        )


def _plan_clear_db(ctx: StepContext, earlier: EarlierSteps) -> ClearDbPlan:
    from bazooka.postgres import maintenance  # noqa: PLC0415

    with _pg_errors(ctx, "counting rows for clear_db"):
        return maintenance.plan_clear(ctx.pg())


def _apply_clear_db(ctx: StepContext, plan: ClearDbPlan) -> Outcome:
    from bazooka.postgres import maintenance  # noqa: PLC0415
    from bazooka.postgres.lock_wait import LockPolicy  # noqa: PLC0415

    with _pg_errors(ctx, "clear_db"):
        return maintenance.clear_data(
            ctx.pg(), plan, LockPolicy.of(ctx.settings), ctx.progress, ctx.budget
        )


def _plan_verify(ctx: StepContext, earlier: EarlierSteps) -> VerifyPlan:
    from bazooka.postgres import verify  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    if earlier.migrated or earlier.schema_reset:
        return verify.plan_verify(None, bundled(), migrated=earlier.migrated)
    with _pg_errors(ctx, "verify_schema (reading the bookkeeping)"):
        return verify.plan_verify(ctx.pg(), bundled())


def _apply_verify(ctx: StepContext, plan: VerifyPlan) -> Outcome:
    from bazooka.postgres import verify  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    with _pg_errors(ctx, "verify_schema"):
        return verify.apply_verify(ctx.pg(), bundled())


def _reconnect(ctx: StepContext) -> Callable[[], Connection]:
    """A new connection with the run's settings (after the run's own was lost)."""
    from bazooka.postgres.connection import connect  # noqa: PLC0415

    return lambda: connect(ctx.settings)


def _pg_errors(ctx: StepContext, what: str) -> AbstractContextManager[None]:
    """A context manager turning psycopg errors into :class:`PostgresError` naming ``what``."""
    from bazooka.postgres.connection import translated  # noqa: PLC0415

    return translated(what, ctx.settings)


# --- kafka ----------------------------------------------------------------------------------


def _plan_create_topics(ctx: StepContext, earlier: EarlierSteps) -> CreationPlan:
    from bazooka.kafka import create  # noqa: PLC0415

    return create.plan_creation(ctx.kafka_admin(), ctx.settings)


def _apply_create_topics(ctx: StepContext, plan: CreationPlan) -> Outcome:
    from bazooka.kafka import create  # noqa: PLC0415

    return create.apply_creation(ctx.kafka_admin(), ctx.settings, plan, ctx.progress, ctx.budget)


def _plan_clear_topics(ctx: StepContext, earlier: EarlierSteps) -> ClearTopicsPlan:
    from bazooka.kafka import clear  # noqa: PLC0415

    return clear.plan_clear(ctx.kafka_admin(), ctx.settings, earlier)


def _apply_clear_topics(ctx: StepContext, plan: ClearTopicsPlan) -> Outcome:
    from bazooka.kafka import clear  # noqa: PLC0415

    return clear.apply_clear(ctx.kafka_admin(), ctx.settings, plan, ctx.progress, ctx.budget)


# --- redis ----------------------------------------------------------------------------------


def _plan_flush(ctx: StepContext, earlier: EarlierSteps) -> FlushPlan:
    from bazooka import redis_ops  # noqa: PLC0415

    return redis_ops.plan_flush(ctx.redis(), ctx.settings)


def _apply_flush(ctx: StepContext, plan: FlushPlan) -> Outcome:
    from bazooka import redis_ops  # noqa: PLC0415

    return redis_ops.apply_flush(ctx.redis(), ctx.settings, plan)


# --- vulcan ---------------------------------------------------------------------------------


def _plan_send(ctx: StepContext, earlier: EarlierSteps) -> SendPlan:
    from bazooka.vulcan import send  # noqa: PLC0415

    if earlier.schema_reset:
        return send.plan_send_after_reset()
    with _pg_errors(ctx, "counting open stateful orders"):
        return send.plan_send(ctx.pg(), ctx.kafka_admin(), ctx.settings, earlier)


def _apply_send(ctx: StepContext, plan: SendPlan) -> Outcome:
    from bazooka.vulcan import send  # noqa: PLC0415

    return send.apply_send(ctx.pg(), ctx.settings, plan, ctx.progress, ctx.budget)


def _skip_clear_db_after_reset(event: BazookaEvent) -> str | None:
    return "reset_db already removed every table" if event.reset_db else None


_POSTGRES = frozenset({System.POSTGRES})

STEPS: tuple[StepSpec[Any], ...] = (
    StepSpec(
        "reset_db",
        "drop and recreate schema public (migrations not re-run unless migrate is set)",
        destructive=True,
        systems=_POSTGRES,
        plan=_plan_reset,
        apply=_apply_reset,
    ),
    StepSpec(
        "rollback",
        "roll back the latest migration batch",
        destructive=True,
        systems=_POSTGRES,
        plan=_plan_rollback,
        apply=_apply_rollback,
    ),
    StepSpec(
        "migrate",
        "apply all pending migrations as one new batch",
        destructive=False,
        systems=_POSTGRES,
        plan=_plan_migrate,
        apply=_apply_migrate,
    ),
    StepSpec(
        "clear_db",
        "delete all rows of all indexer tables (schema and bookkeeping kept)",
        destructive=True,
        systems=_POSTGRES,
        plan=_plan_clear_db,
        apply=_apply_clear_db,
        skip=_skip_clear_db_after_reset,
    ),
    StepSpec(
        "verify_schema",
        "compare the live schema with the one its recorded migrations leave (read-only)",
        destructive=False,
        systems=_POSTGRES,
        plan=_plan_verify,
        apply=_apply_verify,
    ),
    StepSpec(
        "create_kafka_topics",
        "create missing Kafka topics, grow partition counts below target",
        destructive=False,
        systems=frozenset({System.KAFKA}),
        plan=_plan_create_topics,
        apply=_apply_create_topics,
    ),
    StepSpec(
        "clear_kafka_topics",
        "delete all records of every managed Kafka topic",
        destructive=True,
        systems=frozenset({System.KAFKA}),
        plan=_plan_clear_topics,
        apply=_apply_clear_topics,
    ),
    StepSpec(
        "clear_redis",
        "flush all Redis data (FLUSHALL)",
        destructive=True,
        systems=frozenset({System.REDIS}),
        plan=_plan_flush,
        apply=_apply_flush,
    ),
    StepSpec(
        "send_stateful_orders_to_vulcan",
        "re-send open long-term and conditional orders to Vulcan",
        destructive=False,
        systems=frozenset({System.POSTGRES, System.KAFKA}),
        plan=_plan_send,
        apply=_apply_send,
    ),
)
"""Every step, in execution order."""

BY_NAME: dict[str, StepSpec[Any]] = {step.name: step for step in STEPS}
DESTRUCTIVE: tuple[str, ...] = tuple(step.name for step in STEPS if step.destructive)
