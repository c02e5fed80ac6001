"""Run a plan: one thin loop over the steps, outcomes recorded as data.

``run`` checks the force guard, then executes (or, for a dry run, previews) each planned step
through :mod:`bazooka.steps`, stops at the first failure, and returns a
:class:`~bazooka.report.Report` listing every step with its status, duration and details.
"""

from __future__ import annotations

import logging
import time

from bazooka import steps as step_impls
from bazooka.budget import TimeBudget, UnlimitedTime
from bazooka.errors import BazookaError, OutOfTime
from bazooka.event import BazookaEvent, check_force
from bazooka.logs import emit
from bazooka.plan import Step, plan
from bazooka.progress import NullProgress, Progress
from bazooka.report import Report, StepOutcome, StepStatus, headline
from bazooka.settings import Settings

log = logging.getLogger(__name__)


class UnexpectedError(BazookaError):
    """A failure Bazooka did not anticipate; the original exception is its cause."""


def run(
    event: BazookaEvent,
    settings: Settings,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    budget: TimeBudget | None = None,
) -> Report:
    """Execute (or, with ``dry_run``, preview) what ``event`` asks for.

    Raises :class:`~bazooka.errors.ForceRequired` before anything is contacted when a
    destructive step lacks ``force``. A failing step does not raise: it ends the run and is
    recorded in the report (``report.ok`` is false and ``report.failure`` holds the error).
    """
    check_force(event, force_required=settings.prevent_breaking_changes_without_force)
    shown = progress or NullProgress()
    clock = budget or UnlimitedTime()
    planned = plan(event)
    outcomes = [StepOutcome(s.name, s.destructive, StepStatus.NOT_RUN) for s in planned]
    report = Report(event=event.as_dict(), steps=outcomes, dry_run=dry_run)
    started = time.monotonic()
    ctx = step_impls.StepContext(settings, shown, clock)
    try:
        for step, outcome in zip(planned, outcomes, strict=True):
            if step.skip_reason is not None:
                outcome.status = StepStatus.SKIPPED
                outcome.details = {"reason": step.skip_reason}
                shown.step_finished(outcome)
                continue
            if not dry_run:
                try:
                    clock.check(f"step {step.name}")
                except OutOfTime as exc:
                    report.failure = _out_of_time(exc, outcomes)
                    emit(log, logging.ERROR, "runner#run", str(report.failure))
                    break
            if not _run_step(step, outcome, ctx, dry_run, report):
                break
    finally:
        ctx.close()
        report.duration_s = time.monotonic() - started
    return report


def _run_step(
    step: Step,
    outcome: StepOutcome,
    ctx: step_impls.StepContext,
    dry_run: bool,
    report: Report,
) -> bool:
    """Run one step into ``outcome``; False when it failed (the run must stop)."""
    ctx.progress.step_started(step)
    verb = "Previewing" if dry_run else "Running"
    emit(log, logging.INFO, "runner#run", f"{verb} step {step.name}", step=step.name)
    t0 = time.monotonic()
    try:
        if dry_run:
            outcome.details = step_impls.PREVIEWS[step.name](ctx)
            outcome.status = StepStatus.PLANNED
        else:
            outcome.details = step_impls.EXECUTORS[step.name](ctx)
            outcome.status = StepStatus.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - every failure is reported with its step
        outcome.status = StepStatus.FAILED
        if isinstance(exc, OutOfTime):
            error: BazookaError = _out_of_time(exc, report.steps)
        else:
            error = exc if isinstance(exc, BazookaError) else _unexpected(exc)
        outcome.error = str(error)
        outcome.details = getattr(exc, "details", None) or outcome.details
        report.failure = error
        emit(
            log,
            logging.ERROR,
            "runner#run",
            f"Step {step.name} failed: {error}",
            step=step.name,
            error=exc,
        )
        return False
    finally:
        outcome.duration_s = time.monotonic() - t0
        ctx.progress.step_finished(outcome)
    emit(
        log,
        logging.INFO,
        "runner#run",
        f"Step {step.name} {outcome.status.value}: {headline(step.name, outcome.details)}",
        step=step.name,
        duration_s=round(outcome.duration_s, 3),
    )
    return True


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


def _unexpected(exc: Exception) -> UnexpectedError:
    error = UnexpectedError(f"unexpected {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
