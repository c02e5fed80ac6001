"""``bazooka verify``: does the live schema still look the way the recorded migrations left it?

Knex records which migrations ran, never what the database looks like since. Bazooka knows
the exact schema at every step (``data/schema_model.json.gz``), so it reads the live catalog
(:mod:`bazooka.postgres.catalog`, SQL only, so it works inside Lambda), canonicalises it
(:mod:`bazooka.postgres.schema_model`) and compares it (:mod:`bazooka.postgres.drift`) with the
schema of the migration the database records.

Rolled-back databases: several down migrations are not exact inverses, so a database rolled
back to step N may differ from one migrated up to N. Both are legitimate; the live schema is
compared with each and the report is against the closer one (a match with either is clean).

Functions whose name starts with ``dydx_`` are created by the indexer's ender service at start
up, not by migrations; they are listed apart and do not count as drift. So are privileges and
comments added beyond what the migrations left (``information``): operators grant read-only
roles by hand. A comment or a privilege the migrations left and the database lacks is drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bazooka.errors import MigrationError, SchemaDrift, UnknownMigrations
from bazooka.outcome import NoLaterEffect
from bazooka.postgres import drift
from bazooka.postgres.catalog import LOCK_TIMEOUT_S, read_catalog
from bazooka.postgres.connection import Connection
from bazooka.postgres.migrations_source import Migration
from bazooka.postgres.schema_model import canonical, without_bookkeeping
from bazooka.postgres.schema_steps import SchemaModel, bundled_model

RUNTIME_FUNCTION_PREFIX = "dydx_"
SHOWN_IN_HEADLINE = 3  # differences named in the one-line summary
WALKS = {"up": "as migrated up", "down": "as rolled back"}


@dataclass(frozen=True)
class SchemaReport:
    """The outcome of one verification: which step, compared how, and every difference."""

    step: int
    latest_migration: str | None
    walk: str  # "up" or "down": which legitimate state of the step the report is against
    differences: tuple[drift.Difference, ...]
    objects_expected: int
    objects_live: int
    runtime_functions: tuple[str, ...] = ()
    other_walk_differences: int | None = None  # the other state's count, when it differs
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Privileges and comments beyond the migrations' (not drift), one line each.
    information: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when the live schema is exactly the expected one."""
        return not self.differences

    @property
    def state(self) -> str:
        """``"step 113 (20260302..._x.js) as migrated up"``."""
        named = f" ({self.latest_migration})" if self.latest_migration else " (nothing applied)"
        return f"step {self.step}{named} {WALKS[self.walk]}"

    def headline(self) -> str:
        """One line: match, or how many differences and the first few objects."""
        extra = (
            f"; {len(self.information)} privilege(s) or comment(s) beyond the migrations "
            "(information, not drift)"
            if self.information
            else ""
        )
        if self.ok:
            return f"schema matches {self.state} ({self.objects_expected} objects){extra}"
        counts = drift.summary(list(self.differences))
        listed = self.differences[:SHOWN_IN_HEADLINE]
        shown = ", ".join(f"{d.object} {d.status}" for d in listed)
        hidden = len(self.differences) - len(listed)
        more = f", +{hidden} more" if hidden else ""
        parts = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        return f"DRIFT against {self.state}: {parts}: {shown}{more}{extra}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``bazooka verify --json``, the Lambda report); ``information`` only
        when there is some, so the document of a database without any keeps its keys."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "headline": self.headline(),
            "step": self.step,
            "latest_migration": self.latest_migration,
            "compared_with": self.walk,
            "state": self.state,
            "objects_expected": self.objects_expected,
            "objects_live": self.objects_live,
            "summary": drift.summary(list(self.differences)),
            "differences": [d.to_dict() for d in self.differences],
            "runtime_functions": list(self.runtime_functions),
            "other_walk_differences": self.other_walk_differences,
            "notes": list(self.notes),
        }
        if self.information:
            out["information"] = list(self.information)
        return out


def recorded_step(conn: Connection, known: Sequence[Migration]) -> int:
    """How many migrations the database records, checked to be the first N of ``known``."""
    exists = conn.execute("SELECT to_regclass('public.knex_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    names = [r[0] for r in conn.execute("SELECT name FROM public.knex_migrations ORDER BY id")]
    known_names = [m.name for m in known]
    unknown = [n for n in names if n not in set(known_names)]
    if unknown:
        raise UnknownMigrations(
            f"Cannot verify: the database records {len(unknown)} migration(s) this Bazooka "
            f"does not know ({', '.join(unknown)}); verify with the version that ships them."
        )
    step = len(set(names))
    if set(names) != set(known_names[:step]) or len(names) != step:
        missing = [n for n in known_names[:step] if n not in set(names)]
        raise MigrationError(
            "Cannot verify: knex_migrations does not record the first "
            f"{step} migrations in order (missing: {', '.join(missing) or 'none'}; "
            f"{len(names) - step} duplicate row(s)), so no step's schema applies."
        )
    return step


def verify(
    conn: Connection,
    known: Sequence[Migration],
    model: SchemaModel | None = None,
    *,
    lock_timeout_s: float = LOCK_TIMEOUT_S,
) -> SchemaReport:
    """Compare the live schema with the one ``known``'s first N migrations produce.

    N is what ``knex_migrations`` records. Raises :class:`~bazooka.errors.MigrationError`
    (or :class:`~bazooka.errors.UnknownMigrations`) when no step's schema applies.
    Read-only: two or three round trips.
    """
    model = model or bundled_model()
    names = tuple(m.name for m in known)
    if model.migrations != names:
        raise MigrationError(
            f"Cannot verify: the shipped schema model describes {len(model.migrations)} "
            f"migrations, this Bazooka has {len(names)} (regenerate it with "
            "tools/update_snapshots.py)."
        )
    step = recorded_step(conn, known)
    live = without_bookkeeping(canonical(read_catalog(conn, lock_timeout_s=lock_timeout_s)))
    runtime = tuple(
        sorted(
            name
            for kind, name in live
            if kind == "function" and name.startswith(RUNTIME_FUNCTION_PREFIX)
        )
    )
    reports = []
    for walk in ("up", "down"):
        expected = model.state(step, walk)
        compared = {
            key: attrs
            for key, attrs in live.items()
            if key in expected or not (key[0] == "function" and key[1] in runtime)
        }
        reports.append((walk, expected, drift.diff(expected, compared), compared))
    (walk, expected, differences, compared), other = sorted(reports, key=lambda r: len(r[2]))
    other_count = len(other[2]) if other[1] != expected else None
    notes = []
    if runtime:
        notes.append(
            f"{len(runtime)} function(s) named {RUNTIME_FUNCTION_PREFIX}* (created by the "
            "indexer's ender service, not by migrations) were not compared"
        )
    return SchemaReport(
        step=step,
        latest_migration=names[step - 1] if step else None,
        walk=walk,
        differences=tuple(differences),
        objects_expected=len(expected),
        objects_live=len(live),
        runtime_functions=runtime,
        other_walk_differences=other_count,
        notes=tuple(notes),
        information=tuple(drift.information(expected, compared)),
    )


@dataclass(frozen=True)
class VerifyPlan(NoLaterEffect):
    """``verify_schema``: the step whose schema the live one will be compared with."""

    step: int  # what knex_migrations records (or will, after an earlier step of a dry run)
    latest_migration: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"step": self.step, "latest_migration": self.latest_migration}

    def headline(self) -> str:
        """``would compare the schema with step N``."""
        return f"would compare the live schema with step {self.step}'s"


def plan_verify(
    conn: Connection | None, known: Sequence[Migration], *, migrated: bool = False
) -> VerifyPlan:
    """Which step's schema ``verify`` will expect: the recorded one, the last one after an
    earlier ``migrate`` of a dry run, none (step 0) after a ``reset_db`` (``conn`` None)."""
    step = len(known) if migrated else 0 if conn is None else recorded_step(conn, known)
    return VerifyPlan(step, known[step - 1].name if step else None)


def apply_verify(conn: Connection, known: Sequence[Migration]) -> SchemaReport:
    """Verify; drift fails the step (:class:`SchemaDrift`, with the report as its details)."""
    report = verify(conn, known)
    if not report.ok:
        raise SchemaDrift(
            f"{report.headline()}. See the step's details or run `bazooka verify`.",
            details=report,
        )
    return report


def render_text(report: SchemaReport, target: str = "") -> str:
    """The human report: a verdict, then each difference with expected and live side by side."""
    lines = [f"Schema verification{': ' + target if target else ''}"]
    lines.append(f"  {report.headline()}")
    if report.other_walk_differences is not None and report.differences:
        other = "rolled back" if report.walk == "up" else "migrated up"
        lines.append(
            f"  (against the same step {other}: {report.other_walk_differences} difference(s))"
        )
    lines += [f"  note: {note}" for note in report.notes]
    lines += [f"  information: {line}" for line in report.information]
    for difference in report.differences:
        lines.append("")
        note = f" - {difference.note}" if difference.note else ""
        lines.append(f"{difference.status.upper():<10} {difference.object}{note}")
        lines += _side_by_side(difference)
    return "\n".join(lines) + "\n"


def _show(value: Any, other: Any = None) -> str:
    if value is None:
        return "no" if isinstance(other, bool) else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def _side_by_side(difference: drift.Difference) -> list[str]:
    expected, live = difference.expected or {}, difference.live or {}
    fields = difference.fields or tuple(sorted(set(expected) | set(live)))
    rows = [
        (f, _show(expected.get(f), live.get(f)), _show(live.get(f), expected.get(f)))
        for f in fields
    ]
    if not rows:
        return []
    width_f = max(len("field"), *(len(r[0]) for r in rows))
    width_e = min(60, max(len("expected"), *(len(r[1]) for r in rows)))
    out = [f"    {'field':<{width_f}}  {'expected':<{width_e}}  live"]
    for name, want, have in rows:
        if len(want) > width_e:  # long definitions: one above the other
            out.append(f"    {name:<{width_f}}  expected: {want}")
            out.append(f"    {'':<{width_f}}  live:     {have}")
        else:
            out.append(f"    {name:<{width_f}}  {want:<{width_e}}  {have}")
    return out
