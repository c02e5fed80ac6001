"""The difference between an expected schema and a live one, object by object. Pure.

Each difference names one object and says whether it is **missing** (expected, not in the
database), **unexpected** (in the database, not expected) or **changed** (both, with the
attributes that differ). The parts of a missing or unexpected table (its columns, constraints,
indexes, triggers...) are not listed one by one: the table's entry counts them instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bazooka.postgres.schema_model import KINDS, ObjectKey, Objects, parent_table

MISSING = "missing"
UNEXPECTED = "unexpected"
CHANGED = "changed"


@dataclass(frozen=True)
class Difference:
    """One object that differs: what was expected, what the database has."""

    kind: str
    name: str
    status: str
    expected: Mapping[str, Any] | None
    live: Mapping[str, Any] | None
    fields: tuple[str, ...] = ()
    parts: Mapping[str, int] = field(default_factory=dict)  # of a missing/unexpected table
    renamed: str = ""  # the unexpected (or missing) object with the very same definition

    @property
    def object(self) -> str:
        """``"index fills_pkey"``: how reports name the object."""
        return f"{self.kind} {self.name}"

    @property
    def note(self) -> str:
        """What stands out, in words (empty when the status says it all)."""
        attrs = self.live or {}
        notes = []
        if self.kind == "index" and attrs.get("invalid"):
            notes.append("INVALID (e.g. left by an interrupted CREATE INDEX CONCURRENTLY)")
        if self.kind == "constraint" and attrs.get("not_valid") and "not_valid" in self.fields:
            notes.append("NOT VALID")
        if self.kind == "materialized view" and attrs.get("unpopulated"):
            notes.append("not populated (WITH NO DATA)")
        if self.parts:
            notes.append("with its " + ", ".join(f"{n} {k}(s)" for k, n in self.parts.items()))
        if self.renamed:
            notes.append(f"renamed? {'now' if self.status == MISSING else 'was'} {self.renamed}")
        return "; ".join(notes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "object": self.object,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "expected": dict(self.expected) if self.expected is not None else None,
            "live": dict(self.live) if self.live is not None else None,
        }
        if self.fields:
            out["fields"] = list(self.fields)
        if self.parts:
            out["parts"] = dict(self.parts)
        if self.renamed:
            out["renamed"] = self.renamed
        if self.note:
            out["note"] = self.note
        return out


def _order(key: ObjectKey) -> tuple[int, str]:
    kind, name = key
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), name)


def _changed_fields(expected: Mapping[str, Any], live: Mapping[str, Any]) -> tuple[str, ...]:
    changed = []
    for name in sorted(set(expected) | set(live)):
        want, have = expected.get(name), live.get(name)
        if name == "columns":
            # Column order counts among the columns both sides have; an added or missing
            # column is reported as such, not again as a different order.
            common = set(want or []) & set(have or [])
            want = [c for c in want or [] if c in common]
            have = [c for c in have or [] if c in common]
        if want != have:
            changed.append(name)
    return tuple(changed)


def diff(expected: Objects, live: Objects) -> list[Difference]:
    """Every object that is missing, unexpected or changed, containers first, by name."""
    gone = {k[1] for k in expected.keys() - live.keys() if k[0] in ("table", "view")}
    gone |= {k[1] for k in expected.keys() - live.keys() if k[0] == "materialized view"}
    new = {k[1] for k in live.keys() - expected.keys() if k[0] in ("table", "view")}
    new |= {k[1] for k in live.keys() - expected.keys() if k[0] == "materialized view"}
    parts: dict[str, dict[str, int]] = {}
    out: list[Difference] = []
    for key in sorted(expected.keys() | live.keys(), key=_order):
        kind, name = key
        want, have = expected.get(key), live.get(key)
        if want is not None and have is not None:
            fields = _changed_fields(want, have)
            if fields:
                out.append(Difference(kind, name, CHANGED, want, have, fields))
            continue
        attrs = want if want is not None else have
        owner = parent_table(key, attrs or {})
        if owner is not None and owner in (gone if want is not None else new):
            counts = parts.setdefault(owner, {})
            counts[kind] = counts.get(kind, 0) + 1
            continue
        status = MISSING if want is not None else UNEXPECTED
        out.append(Difference(kind, name, status, want, have))
    out = [
        replace(d, parts=parts[d.name])
        if d.status != CHANGED
        and d.kind in ("table", "view", "materialized view")
        and d.name in parts
        else d
        for d in out
    ]
    return _pair_renames(out)


def _pair_renames(differences: list[Difference]) -> list[Difference]:
    """A missing object and an unexpected one of the same kind and definition: say so."""
    missing = [d for d in differences if d.status == MISSING]
    unexpected = [d for d in differences if d.status == UNEXPECTED]
    pairs: dict[tuple[str, str], str] = {}
    for gone in missing:
        owner = parent_table((gone.kind, gone.name), gone.expected or {})
        same = [
            new
            for new in unexpected
            if new.kind == gone.kind
            and new.live == gone.expected
            and parent_table((new.kind, new.name), new.live or {}) == owner
        ]
        if len(same) == 1:
            pairs[(gone.kind, gone.name)] = same[0].name
            pairs[(same[0].kind, same[0].name)] = gone.name
    return [
        replace(d, renamed=pairs[(d.kind, d.name)]) if (d.kind, d.name) in pairs else d
        for d in differences
    ]


def summary(differences: list[Difference]) -> dict[str, int]:
    """How many objects are missing, unexpected and changed."""
    counts = {MISSING: 0, UNEXPECTED: 0, CHANGED: 0}
    for difference in differences:
        counts[difference.status] += 1
    return counts
