"""How long-running work inside a step reports its advance; the CLI renders it, Lambda and
``--json`` do not. The system modules (Kafka, Vulcan, the migrator's steps) see only this.
The run's step boundaries are :class:`bazooka.observer.RunObserver`'s business."""

from __future__ import annotations

from typing import Protocol


class TaskProgress(Protocol):
    """Receives the advance of the current step's countable task."""

    def start_task(self, description: str, total: int | None) -> None:
        """The current step starts a countable task (``total`` None when unknown)."""

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        """The current task moved forward."""


class NullProgress:
    """Progress that shows nothing."""

    def start_task(self, description: str, total: int | None) -> None:
        """Ignore."""

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        """Ignore."""
