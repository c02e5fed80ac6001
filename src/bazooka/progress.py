"""How long-running work reports progress; the CLI renders it, Lambda and ``--json`` do not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bazooka.plan import PlannedStep
    from bazooka.report import StepOutcome


class Progress(Protocol):
    """Receives step boundaries and the advance of the current step's task."""

    def step_started(self, step: PlannedStep) -> None:
        """A step begins."""

    def step_finished(self, outcome: StepOutcome) -> None:
        """A step ended (or was skipped)."""

    def start_task(self, description: str, total: int | None) -> None:
        """The current step starts a countable task (``total`` None when unknown)."""

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        """The current task moved forward."""


class NullProgress:
    """Progress that shows nothing."""

    def step_started(self, step: PlannedStep) -> None:
        """Ignore."""

    def step_finished(self, outcome: StepOutcome) -> None:
        """Ignore."""

    def start_task(self, description: str, total: int | None) -> None:
        """Ignore."""

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        """Ignore."""
