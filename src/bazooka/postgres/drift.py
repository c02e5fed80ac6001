"""The difference between an expected schema and a live one, object by object. Pure.

Each difference names one object and says whether it is **missing** (expected, not in the
database), **unexpected** (in the database, not expected) or **changed** (both, with the
attributes that differ). The parts of a missing or unexpected table (its columns, constraints,
indexes, triggers...) are not listed one by one: the table's entry counts them instead.

Comments and privileges are compared one way only, because operators legitimately add to what
the migrations leave (a read-only role granted by hand, a comment for their colleagues):

* a comment the migrations left that is missing or different is drift (``comment``); a
  comment on an object the migrations left uncommented is information;
* a privilege the migrations left that the database lacks is drift (``privileges``, or
  ``privileges_revoked`` for a default privilege taken away); a privilege beyond them is
  information, as is a schema grant or a default privilege nobody migrated
  (:func:`information`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bazooka.postgres.schema_model import KINDS, ObjectKey, Objects, parent_table

MISSING = "missing"
UNEXPECTED = "unexpected"
CHANGED = "changed"

# Kinds that exist only to carry privileges: absent means "none", not "missing".
PRIVILEGE_HOLDERS = frozenset({"schema", "default privileges"})


def _lacking(expected: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Privileges the expected state has and the live one lacks."""
    granted = set(expected.get("privileges") or []) - set(live.get("privileges") or [])
    taken = set(live.get("privileges_revoked") or []) - set(
        expected.get("privileges_revoked") or []
    )
    return sorted(granted | taken)


def _beyond(expected: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """Privileges the live state has beyond the expected one."""
    granted = set(live.get("privileges") or []) - set(expected.get("privileges") or [])
    kept = set(expected.get("privileges_revoked") or []) - set(live.get("privileges_revoked") or [])
    return sorted(granted | kept)


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
        if "comment" in self.fields:
            gone = (self.live or {}).get("comment") is None
            notes.append("comment missing" if gone else "comment changed")
        if {"privileges", "privileges_revoked"} & set(self.fields):
            lacking = _lacking(self.expected or {}, self.live or {})
            notes.append("lacks " + ", ".join(lacking))
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
        if name == "comment":
            if want is not None and want != have:
                changed.append(name)
            continue
        if name == "privileges":  # granted by the migrations, lacking live
            if set(want or []) - set(have or []):
                changed.append(name)
            continue
        if name == "privileges_revoked":  # a default privilege taken away live only
            if set(have or []) - set(want or []):
                changed.append(name)
            continue
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
        if kind in PRIVILEGE_HOLDERS:
            fields = _changed_fields(want or {}, have or {})
            if fields:
                out.append(Difference(kind, name, CHANGED, want or {}, have or {}, fields))
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


def information(expected: Objects, live: Objects) -> list[str]:
    """What the database has beyond the expected state and is not drift: privileges and
    comments added to objects the migrations created (or to the schema, or as default
    privileges). Objects that are themselves unexpected are drift, reported by :func:`diff`."""
    out = []
    for key in sorted(expected.keys() | live.keys(), key=_order):
        kind, name = key
        want, have = expected.get(key), live.get(key)
        if have is None or (want is None and kind not in PRIVILEGE_HOLDERS):
            continue
        want = want or {}
        beyond = _beyond(want, have)
        if beyond:
            out.append(f"{kind} {name}: {', '.join(beyond)} (not granted by the migrations)")
        if want.get("comment") is None and have.get("comment") is not None:
            out.append(f"{kind} {name}: a comment the migrations did not write")
    return out


def summary(differences: list[Difference]) -> dict[str, int]:
    """How many objects are missing, unexpected and changed."""
    counts = {MISSING: 0, UNEXPECTED: 0, CHANGED: 0}
    for difference in differences:
        counts[difference.status] += 1
    return counts
