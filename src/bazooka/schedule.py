"""The schedule of an event: which steps it asks for, in the step table's order, which of them
are skipped and why, and the force guard. (A step's *plan* is what that step will do, with
numbers: :class:`bazooka.outcome.Plan`; ``bazooka plan`` shows those plans.)

Pure: reads only the event and the step table, :data:`bazooka.steps.STEPS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bazooka import steps
from bazooka.errors import ForceRequired
from bazooka.event import BazookaEvent
from bazooka.steps import StepSpec

FORCE_REQUIRED_MESSAGE = 'Cannot run bazooka without force flag set to "true"'


@dataclass(frozen=True)
class ScheduledStep:
    """A step the event asks for, and why it will be skipped, if it will."""

    spec: StepSpec[Any]
    skip_reason: str | None = None

    @property
    def name(self) -> str:
        """The step's (and its event field's) name."""
        return self.spec.name

    @property
    def destructive(self) -> bool:
        """Whether it destroys data (the force guard protects it)."""
        return self.spec.destructive


def schedule(event: BazookaEvent) -> list[ScheduledStep]:
    """The steps ``event`` asks for, in execution order."""
    return [
        ScheduledStep(spec, spec.skip(event)) for spec in steps.STEPS if getattr(event, spec.name)
    ]


def destructive_requests(event: BazookaEvent) -> list[str]:
    """The destructive steps ``event`` asks for, in execution order."""
    return [spec.name for spec in steps.STEPS if spec.destructive and getattr(event, spec.name)]


def check_force(event: BazookaEvent, *, force_required: bool) -> None:
    """Refuse destructive steps without ``force`` while force is required (the default).

    Unlike the original, which compares ``=== true`` here but executes on truthiness, the event
    holds only booleans by now, so a ``"true"`` string can never slip past.
    """
    refused = destructive_requests(event)
    if force_required and not event.force and refused:
        # The original's sentence, word for word (the Lambda error); the CLI adds the steps.
        raise ForceRequired(FORCE_REQUIRED_MESSAGE, steps=tuple(refused))
