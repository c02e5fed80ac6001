"""What steps produce: typed plans and results that know their JSON form and headline.

Every step first computes a *plan* from the systems' current state (what it will do, with
numbers); execution carries out exactly that plan and returns a *result*; a dry run stops after
planning. Each step module defines one frozen dataclass per plan and per result. They share this
small protocol, which is all the runner, the report and the console need of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable


class Outcome(Protocol):
    """A step's plan or result, as the report shows it."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the ``details`` of the step in the report: an interface)."""
        ...

    def headline(self) -> str:
        """One human line: what the step would do, or did."""
        ...


@dataclass(frozen=True)
class Unknown:
    """A figure that could not be known. Its JSON form says so and why, never a number."""

    reason: str
    retriable: bool = field(default=False, compare=False)  # worth asking again

    def __str__(self) -> str:
        return f"unknown: {self.reason}"


Count = int | Unknown
"""A number reported to the operator, or the reason it is not known."""


def total(counts: Iterable[Count]) -> Count:
    """The sum of ``counts``, or the first unknown among them."""
    result = 0
    for count in counts:
        if isinstance(count, Unknown):
            return count
        result += count
    return result


def human_bytes(n: int) -> str:
    """``n`` bytes in B, KiB, MiB, GiB or TiB, one decimal."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:  # noqa: PLR2004 - the unit's base
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def table_size(rows: int | None, nbytes: int) -> str:
    """``~1,234,567 rows, 1.2 GiB``: a table's estimated rows (None: never analyzed) and bytes."""
    shown = f"~{rows:,} rows" if rows is not None else "rows unknown (never analyzed)"
    return f"{shown}, {human_bytes(nbytes)}"


def as_json(count: Count) -> int | str:
    """``count`` for a report: the number, or ``"unknown: <reason>"``."""
    return str(count) if isinstance(count, Unknown) else count


@dataclass(frozen=True)
class EarlierSteps:
    """What the earlier steps of a dry run would have changed, for the later steps' plans.

    Empty in a real run: there each step plans against the state the earlier steps left.
    """

    schema_reset: bool = False
    migrated: bool = False  # every bundled migration would be applied
    rolled_back: frozenset[str] = frozenset()
    topics_created: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def with_schema_reset(self) -> EarlierSteps:
        """After ``reset_db``: no table, no bookkeeping, nothing rolled back any more."""
        return replace(self, schema_reset=True, migrated=False, rolled_back=frozenset())

    def with_migrated(self) -> EarlierSteps:
        """After ``migrate``: every migration is applied, nothing is rolled back."""
        return replace(self, migrated=True, rolled_back=frozenset())

    def with_rolled_back(self, names: frozenset[str]) -> EarlierSteps:
        """After ``rollback``: these migrations are pending again."""
        return replace(self, migrated=False, rolled_back=self.rolled_back | names)

    def with_topics_created(self, topics: Mapping[str, int]) -> EarlierSteps:
        """After ``create_kafka_topics``: these topics exist, empty, with these partitions."""
        return replace(self, topics_created=MappingProxyType({**self.topics_created, **topics}))


class Plan(Outcome, Protocol):
    """A step's plan: also says how it changes what later steps of a dry run will find."""

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """``earlier`` updated with this plan's effects (unchanged for most steps)."""
        ...


@runtime_checkable
class ForeseesFailure(Protocol):
    """A plan that can tell, from what it read, that applying it would fail.

    ``problem`` is then why (``None`` when nothing foreseeable stands in the way). A dry run
    marks such a step ``would_fail`` and exits 1, as the run would.
    """

    @property
    def problem(self) -> str | None:
        """Why applying the plan would fail, or None."""
        ...


def foreseen_problem(plan: object) -> str | None:
    """The failure ``plan`` foresees, if it can foresee one (:class:`ForeseesFailure`)."""
    return plan.problem if isinstance(plan, ForeseesFailure) else None


@dataclass(frozen=True)
class Skipped:
    """A planned step made unnecessary by another one (``clear_db`` after ``reset_db``)."""

    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"reason": ...}``."""
        return {"reason": self.reason}

    def headline(self) -> str:
        """The reason."""
        return self.reason


class NoLaterEffect:
    """For plans that change nothing a later step of a dry run would plan against."""

    def then(self, earlier: EarlierSteps) -> EarlierSteps:
        """``earlier``, unchanged."""
        return earlier
