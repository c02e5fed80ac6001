"""Run a plan: one thin loop over the steps, outcomes recorded as data.

For each planned step, ``run`` asks the step for its plan (read-only, typed), then, unless this
is a dry run, applies exactly that plan. It stops at the first failure and returns a
:class:`~bazooka.report.Report` listing every step with its status, duration and details.
A dry run carries each plan's effects to the next step's plan (``reset_db`` then ``migrate``
plans every migration), where a real run plans each step against the state the last one left.
"""

from __future__ import annotations

import logging
import time

from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.context import StepContext
from bazooka.errors import (
    BazookaError,
    ForceRequired,
    OutOfTime,
    PlanForeseesFailure,
    UnexpectedError,
)
from bazooka.event import BazookaEvent
from bazooka.logs import emit
from bazooka.observer import NullRunProgress, RunObserver, RunProgress
from bazooka.outcome import EarlierSteps, Plan, Skipped, foreseen_problem
from bazooka.report import Report, StepOutcome, StepStatus
from bazooka.schedule import ScheduledStep, check_force, schedule
from bazooka.settings import Settings

log = logging.getLogger(__name__)


def run(
    event: BazookaEvent,
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: RunProgress | None = None,
    budget: TimeBudget | None = None,
) -> Report:
    """Execute (or, with ``dry_run``, only plan) what ``event`` asks for.

    Raises :class:`~bazooka.errors.ForceRequired` before anything is contacted when a
    destructive step lacks ``force``. A dry run plans anyway (planning changes nothing): its
    report marks those steps ``refused`` and holds the error as ``failure``. A dry run whose
    plans foresee a step failing (a plan's ``problem``) marks it ``would_fail`` and holds a
    :class:`~bazooka.errors.PlanForeseesFailure` naming each, exit 1 as the run would. A failing
    step does not raise: it ends the run and is recorded in the report (``report.ok`` is false
    and ``report.failure`` holds the error).
    """
    refusal = _refusal(event, settings, dry_run=dry_run)
    planned = schedule(event)
    report = Report(
        event=event.as_dict(),
        steps=[StepOutcome(s.name, s.destructive, StepStatus.NOT_RUN) for s in planned],
        dry_run=dry_run,
        failure=refusal,
    )
    started = time.monotonic()
    shown = progress or NullRunProgress()
    ctx = StepContext(settings, shown, budget or UnlimitedTime(), dry_run=dry_run)
    earlier = EarlierSteps()
    try:
        for step, outcome in zip(planned, report.steps, strict=True):
            if step.skip_reason is not None:
                outcome.status, outcome.outcome = StepStatus.SKIPPED, Skipped(step.skip_reason)
                shown.step_finished(outcome)
                continue
            if not dry_run and not _time_left(ctx.budget, step, report):
                break
            after = _run_step(step, outcome, ctx, earlier, report, observer=shown)
            if after is None:
                break
            earlier = after
        if dry_run and report.failure is None:
            report.failure = _foreseen_failure(report.steps)
    finally:
        ctx.close()
        report.duration_s = time.monotonic() - started
    return report


def _refusal(event: BazookaEvent, settings: Settings, *, dry_run: bool) -> ForceRequired | None:
    """The force guard: raised for a run; for a dry run, returned to be shown with the plan."""
    try:
        check_force(event, force_required=settings.prevent_breaking_changes_without_force)
    except ForceRequired as refused:
        if not dry_run:
            raise
        return refused
    return None


def _time_left(budget: TimeBudget, step: ScheduledStep, report: Report) -> bool:
    """Whether the time budget allows starting ``step``; if not, the report says what ran."""
    try:
        budget.check(f"step {step.name}")
    except OutOfTime as exc:
        report.failure = _out_of_time(exc, report.steps)
        emit(log, logging.ERROR, "runner#run", str(report.failure), error=report.failure)
        return False
    return True


def _run_step(
    step: ScheduledStep,
    outcome: StepOutcome,
    ctx: StepContext,
    earlier: EarlierSteps,
    report: Report,
    *,
    observer: RunObserver,
) -> EarlierSteps | None:
    """Plan, then (unless a dry run) apply one step into ``outcome``.

    Returns what later steps of a dry run must assume, or None when the step failed.
    """
    observer.step_started(step)
    verb = "Planning" if report.dry_run else "Running"
    emit(log, logging.INFO, "runner#run", f"{verb} step {step.name}", step=step.name)
    t0 = time.monotonic()
    try:
        planned: Plan = step.spec.plan(ctx, earlier)
        if report.dry_run:
            outcome.outcome = planned
            outcome.error = foreseen_problem(planned)
            if report.failure is not None and step.destructive:
                outcome.status = StepStatus.REFUSED
            elif outcome.error is not None:
                outcome.status = StepStatus.WOULD_FAIL
            else:
                outcome.status = StepStatus.PLANNED
            after = planned.then(earlier)
        else:
            outcome.outcome = step.spec.apply(ctx, planned)
            outcome.status = StepStatus.SUCCEEDED
            after = earlier
    except Exception as exc:  # noqa: BLE001 - every failure is reported with its step
        outcome.duration_s = time.monotonic() - t0
        _record_failure(step, outcome, exc, report)
        observer.step_finished(outcome)
        return None
    outcome.duration_s = time.monotonic() - t0
    observer.step_finished(outcome)
    emit(
        log,
        logging.INFO,
        "runner#run",
        f"Step {step.name} {outcome.status.value}: {outcome.headline()}",
        step=step.name,
        duration_s=round(outcome.duration_s, 3),
    )
    return after


def _foreseen_failure(outcomes: list[StepOutcome]) -> PlanForeseesFailure | None:
    """The error of a dry run whose plans foresee steps failing (None when none does)."""
    doomed = [o for o in outcomes if o.status is StepStatus.WOULD_FAIL]
    if not doomed:
        return None
    return PlanForeseesFailure(
        f"The plan foresees {len(doomed)} step(s) failing, so the run would fail (exit 1): "
        + "; ".join(f"{o.name}: {o.error}" for o in doomed)
    )


def _record_failure(
    step: ScheduledStep, outcome: StepOutcome, exc: Exception, report: Report
) -> None:
    """Mark ``outcome`` failed with its error (and what the step had done, if it says)."""
    outcome.status = StepStatus.FAILED
    error: BazookaError
    if isinstance(exc, OutOfTime):
        error = _out_of_time(exc, report.steps)
    elif isinstance(exc, BazookaError):
        error = exc
    else:
        error = UnexpectedError.wrapping(exc)
    outcome.error = str(error)
    if isinstance(exc, BazookaError) and exc.details is not None:
        outcome.outcome = exc.details
    report.failure = error
    emit(
        log,
        logging.ERROR,
        "runner#run",
        f"Step {step.name} failed: {error}",
        step=step.name,
        error=error,
    )


def _out_of_time(exc: OutOfTime, outcomes: list[StepOutcome]) -> OutOfTime:
    """Say which steps ran, which one was stopped (its finished work kept) and which did not."""
    done = [o.name for o in outcomes if o.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)]
    stopped = [o.name for o in outcomes if o.status == StepStatus.FAILED]
    not_run = [o.name for o in outcomes if o.status == StepStatus.NOT_RUN]
    interrupted = (
        f"stopped inside: {', '.join(stopped)} (what it finished is kept, locks released); "
        if stopped
        else ""
    )
    error = OutOfTime(
        f"Stopped cleanly: {exc}. Steps completed: {', '.join(done) or 'none'}; "
        f"{interrupted}not run: {', '.join(not_run) or 'none'}. "
        "Invoke again for the steps not completed."
    )
    error.__cause__ = exc
    return error
