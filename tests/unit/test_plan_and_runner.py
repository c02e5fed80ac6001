"""Planning is pure; the runner stops at the first failure and reports every step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bazooka import steps
from bazooka.budget import TimeBudget
from bazooka.errors import ForceRequired, KafkaOperationError, OutOfTime, PlanForeseesFailure
from bazooka.event import BazookaEvent
from bazooka.outcome import EarlierSteps, NoLaterEffect
from bazooka.report import StepStatus
from bazooka.runner import run
from bazooka.schedule import schedule
from bazooka.settings import Settings

STEP_ORDER = [s.name for s in steps.STEPS]
ALL = dict.fromkeys(STEP_ORDER, True)


def test_plan_follows_the_specification_order() -> None:
    assert [s.name for s in schedule(BazookaEvent(**ALL))] == [
        "reset_db",
        "rollback",
        "migrate",
        "clear_db",
        "verify_schema",
        "create_kafka_topics",
        "clear_kafka_topics",
        "clear_redis",
        "send_stateful_orders_to_vulcan",
    ]


def test_plan_marks_destructive_steps_and_skips_clear_db_after_reset() -> None:
    steps_ = {s.name: s for s in schedule(BazookaEvent(**ALL))}
    assert {n for n, s in steps_.items() if s.destructive} == {
        "reset_db",
        "rollback",
        "clear_db",
        "clear_kafka_topics",
        "clear_redis",
    }
    assert steps_["clear_db"].skip_reason is not None
    assert schedule(BazookaEvent(clear_db=True))[0].skip_reason is None


def test_empty_event_plans_nothing() -> None:
    assert schedule(BazookaEvent()) == []


@dataclass(frozen=True)
class Ran(NoLaterEffect):
    """A recorded step's plan and result."""

    name: str

    def to_dict(self) -> dict[str, Any]:
        return {"ran": self.name}

    def headline(self) -> str:
        return f"ran {self.name}"


def _plan_only(name: str) -> Callable[[Any, EarlierSteps], Ran]:
    def plan(ctx: Any, earlier: EarlierSteps) -> Ran:
        return Ran(name)

    return plan


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every step's plan and apply with recorders (the seam the runner owns)."""
    calls: list[str] = []

    def record(ctx: Any, plan: Ran) -> Ran:
        calls.append(plan.name)
        return plan

    table = tuple(
        dataclasses.replace(
            spec,
            plan=_plan_only(spec.name),
            apply=record,
        )
        for spec in steps.STEPS
    )
    monkeypatch.setattr(steps, "STEPS", table)
    return calls


def _replace_apply(monkeypatch: pytest.MonkeyPatch, name: str, apply: Any) -> None:
    """Make one step of the (recorded) table fail its apply."""
    table = tuple(
        dataclasses.replace(spec, apply=apply) if spec.name == name else spec
        for spec in steps.STEPS
    )
    monkeypatch.setattr(steps, "STEPS", table)


def test_runner_runs_planned_steps_in_order(recorded: list[str]) -> None:
    report = run(BazookaEvent(**ALL, force=True), Settings.from_env({}))
    assert report.ok
    assert recorded == [n for n in STEP_ORDER if n != "clear_db"]
    statuses = {s.name: s.status for s in report.steps}
    assert statuses["clear_db"] == StepStatus.SKIPPED
    assert all(v == StepStatus.SUCCEEDED for k, v in statuses.items() if k != "clear_db")


def test_a_failing_step_stops_the_run_and_is_named(
    recorded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: Any, plan: Any) -> Any:
        raise KafkaOperationError("brokers gone")

    _replace_apply(monkeypatch, "create_kafka_topics", broken)
    report = run(
        BazookaEvent(migrate=True, create_kafka_topics=True, clear_redis=True, force=True),
        Settings.from_env({}),
    )
    assert not report.ok
    assert recorded == ["migrate"]
    assert [(s.name, s.status) for s in report.steps] == [
        ("migrate", StepStatus.SUCCEEDED),
        ("create_kafka_topics", StepStatus.FAILED),
        ("clear_redis", StepStatus.NOT_RUN),
    ]
    assert report.failed_step is not None and report.failed_step.error == "brokers gone"
    body = report.to_dict()
    assert body["failed_step"] == "create_kafka_topics" and body["ok"] is False


def test_unexpected_exceptions_are_reported_with_their_cause(
    recorded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: Any, plan: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    _replace_apply(monkeypatch, "migrate", broken)
    report = run(BazookaEvent(migrate=True), Settings.from_env({}))
    assert report.failure is not None
    assert "unexpected ZeroDivisionError: division by zero" in str(report.failure)
    assert isinstance(report.failure.__cause__, ZeroDivisionError)


def test_force_guard_runs_before_any_step(recorded: list[str]) -> None:
    with pytest.raises(ForceRequired):
        run(BazookaEvent(migrate=True, clear_redis=True), Settings.from_env({}))
    assert recorded == []


def test_out_of_time_stops_cleanly_between_steps(recorded: list[str]) -> None:
    remaining = iter([60_000, 1_000])
    budget = TimeBudget(lambda: next(remaining), reserve_ms=5_000)
    report = run(
        BazookaEvent(migrate=True, clear_redis=True, force=True),
        Settings.from_env({}),
        budget=budget,
    )
    assert recorded == ["migrate"]
    assert isinstance(report.failure, OutOfTime)
    message = str(report.failure)
    assert "Steps completed: migrate" in message and "not run: clear_redis" in message
    assert [s.status for s in report.steps] == [StepStatus.SUCCEEDED, StepStatus.NOT_RUN]


def test_a_failed_step_shows_its_error_and_a_step_not_run_shows_nothing(
    recorded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: Any, plan: Any) -> Any:
        raise KafkaOperationError("brokers gone")

    _replace_apply(monkeypatch, "migrate", broken)
    report = run(BazookaEvent(migrate=True, create_kafka_topics=True), Settings.from_env({}))
    failed, not_run = report.steps
    assert failed.headline() == "brokers gone"  # not the plan's "would apply ..."
    assert not_run.status == StepStatus.NOT_RUN and not_run.headline() == ""
    assert not_run.details == {}


def test_a_dry_run_carries_each_plan_to_the_next_and_applies_nothing(
    recorded: list[str],
) -> None:
    report = run(
        BazookaEvent(migrate=True, clear_redis=True, force=True),
        Settings.from_env({}),
        dry_run=True,
    )
    assert recorded == []
    assert [s.status for s in report.steps] == [StepStatus.PLANNED, StepStatus.PLANNED]
    assert report.steps[0].details == {"ran": "migrate"}


def test_a_dry_run_without_force_plans_everything_and_marks_the_refused(
    recorded: list[str],
) -> None:
    report = run(BazookaEvent(migrate=True, clear_redis=True), Settings.from_env({}), dry_run=True)
    assert recorded == []
    assert isinstance(report.failure, ForceRequired) and not report.ok
    assert [(s.name, s.status) for s in report.steps] == [
        ("migrate", StepStatus.PLANNED),
        ("clear_redis", StepStatus.REFUSED),
    ]
    assert report.steps[1].headline() == "ran clear_redis (refused without force)"


@dataclass(frozen=True)
class Doomed(Ran):
    """A plan that foresees its step failing."""

    @property
    def problem(self) -> str:
        return f"{self.name} cannot work"


def test_a_dry_run_marks_a_foreseen_failure_and_fails_as_the_run_would(
    recorded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tuple(
        dataclasses.replace(spec, plan=lambda ctx, earlier: Doomed("create_kafka_topics"))
        if spec.name == "create_kafka_topics"
        else spec
        for spec in steps.STEPS
    )
    monkeypatch.setattr(steps, "STEPS", table)
    event = BazookaEvent(migrate=True, create_kafka_topics=True, clear_redis=True, force=True)
    report = run(event, Settings.from_env({}), dry_run=True)
    assert recorded == []
    assert [s.status for s in report.steps] == [
        StepStatus.PLANNED,
        StepStatus.WOULD_FAIL,
        StepStatus.PLANNED,  # the rest of the plan is still shown
    ]
    assert isinstance(report.failure, PlanForeseesFailure) and not report.ok
    assert report.failure.exit_code == 1
    assert "create_kafka_topics: create_kafka_topics cannot work" in str(report.failure)
    assert report.steps[1].headline() == (
        "ran create_kafka_topics; WOULD FAIL: create_kafka_topics cannot work"
    )
    assert report.to_dict()["steps"][1]["error"] == "create_kafka_topics cannot work"

    # Without force, the run would be refused first: the refusal (exit 3) is the failure.
    refused = run(
        BazookaEvent(create_kafka_topics=True, clear_redis=True),
        Settings.from_env({}),
        dry_run=True,
    )
    assert isinstance(refused.failure, ForceRequired)
    assert [s.status for s in refused.steps] == [StepStatus.WOULD_FAIL, StepStatus.REFUSED]
