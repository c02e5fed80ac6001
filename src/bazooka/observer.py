"""What the runner tells whoever watches a run (the CLI's live display): each step's start and
end. The steps themselves report their tasks through :class:`bazooka.progress.TaskProgress`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from bazooka.progress import NullProgress, TaskProgress

if TYPE_CHECKING:
    from bazooka.report import StepOutcome
    from bazooka.schedule import ScheduledStep


class RunObserver(Protocol):
    """Receives step boundaries."""

    def step_started(self, step: ScheduledStep) -> None:
        """A step begins."""

    def step_finished(self, outcome: StepOutcome) -> None:
        """A step ended (or was skipped)."""


class RunProgress(RunObserver, TaskProgress, Protocol):
    """A display that shows both the steps and their tasks (what ``run`` is given)."""


class NullRunProgress(NullProgress):
    """Shows nothing."""

    def step_started(self, step: ScheduledStep) -> None:
        """Ignore."""

    def step_finished(self, outcome: StepOutcome) -> None:
        """Ignore."""
