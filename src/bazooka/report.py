"""Outcomes as data: what each step did, for the Lambda body, the CLI and tests.

The JSON form (:meth:`Report.to_dict`) is an interface: the Lambda response body and
``--json`` carry it, and ``tests/unit/test_report_schema.py`` pins its shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bazooka.errors import BazookaError
from bazooka.outcome import Outcome


class StepStatus(StrEnum):
    """What happened to a planned step."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # planned, but made unnecessary by another step (clear_db after reset_db)
    NOT_RUN = "not_run"  # a previous step failed or time ran out
    PLANNED = "planned"  # dry run: would run
    REFUSED = "refused"  # dry run: destructive, and force is required but not given
    WOULD_FAIL = "would_fail"  # dry run: the plan foresees the step failing (``problem``)


@dataclass
class StepOutcome:
    """One step of the plan and what came of it.

    ``outcome``: the step's plan (dry run), its result, why it was skipped, or, for a failed
    step, what it had done before failing (when the error says).
    """

    name: str
    destructive: bool
    status: StepStatus
    duration_s: float = 0.0
    outcome: Outcome | None = None
    error: str | None = None

    @property
    def details(self) -> dict[str, Any]:
        """The outcome's JSON form (empty when there is none)."""
        return self.outcome.to_dict() if self.outcome is not None else {}

    def headline(self) -> str:
        """One human line: the error of a failed step, nothing for a step that did not run."""
        if self.status is StepStatus.FAILED:
            return self.error or ""
        if self.status is StepStatus.NOT_RUN or self.outcome is None:
            return ""
        line = self.outcome.headline()
        if self.status is StepStatus.REFUSED:
            return f"{line} (refused without force)"
        if self.status is StepStatus.WOULD_FAIL:
            return f"{line}; WOULD FAIL: {self.error}"
        return line

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status.value,
            "destructive": self.destructive,
            "duration_s": round(self.duration_s, 3),
            "details": self.details,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class Report:
    """The result of one invocation: the event, each step's outcome, and the first failure."""

    event: dict[str, bool]
    steps: list[StepOutcome]
    dry_run: bool = False
    duration_s: float = 0.0
    failure: BazookaError | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed or was refused."""
        return self.failure is None and all(s.status != StepStatus.FAILED for s in self.steps)

    @property
    def failed_step(self) -> StepOutcome | None:
        """The step that stopped the run, if any."""
        return next((s for s in self.steps if s.status == StepStatus.FAILED), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the failure's exception object is kept out)."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "duration_s": round(self.duration_s, 3),
            "event": self.event,
            "steps": [s.to_dict() for s in self.steps],
        }
        failed = self.failed_step
        if failed is not None:
            out["failed_step"] = failed.name
            out["error"] = failed.error
        elif self.failure is not None:
            out["error"] = str(self.failure)
        return out
