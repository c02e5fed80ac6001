"""The Lambda time budget: stop cleanly rather than be killed in the middle of a step."""

from __future__ import annotations

from collections.abc import Callable

from bazooka.errors import OutOfTime


class TimeBudget:
    """Answers whether there is time left to start the next unit of work."""

    def __init__(self, remaining_ms: Callable[[], int], reserve_ms: int) -> None:
        self._remaining_ms = remaining_ms
        self.reserve_ms = reserve_ms

    def remaining_ms(self) -> int:
        """Milliseconds the invocation has left."""
        return int(self._remaining_ms())

    def check(self, before: str, needed_ms: int = 0) -> None:
        """Raise :class:`OutOfTime` unless ``needed_ms`` plus the reserve still fit."""
        left = self.remaining_ms()
        if left < self.reserve_ms + needed_ms:
            raise OutOfTime(
                f"only {left} ms of Lambda time left before {before} "
                f"(needs {needed_ms} ms plus a reserve of {self.reserve_ms} ms)"
            )


class UnlimitedTime(TimeBudget):
    """No deadline (CLI, tests)."""

    def __init__(self) -> None:
        super().__init__(lambda: 2**62, 0)
