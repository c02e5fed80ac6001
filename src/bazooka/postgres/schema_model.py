"""The canonical schema model: catalog rows made comparable, and the expected model per step.

A schema is a mapping ``(kind, name) -> attributes``: one entry per table, column, constraint,
index, view, materialized view, sequence, function, trigger, type, extension, policy, rule and
statistics object. Attributes are plain JSON values; an attribute at its default (no default
expression, not unique, ...) is left out, so a model reads like the schema it describes.

What is normalised, and why (server-version noise must not count as drift):

* catalog order: everything is keyed by name; only column order is kept, and compared
  (:mod:`bazooka.postgres.drift`) on the columns both sides have;
* session settings that change ``pg_get_*def`` output (time zone, date and interval styles,
  search path) are fixed by the reader (:mod:`bazooka.postgres.catalog`);
* whitespace in every definition is collapsed: pretty-printing indents differently;
* view definitions lose their ``alias.`` qualifiers: PostgreSQL 16 prints ``id`` where 12-15
  print ``pnl_intervals.id`` for the same stored query;
* index definitions lose ``CREATE [UNIQUE] INDEX name ON table``: name and table are the key;
  ``NOT VALID`` is an attribute of its own rather than a suffix of a constraint definition;
* a ``DEFAULT NULL`` (with or without a cast) is no default: both insert NULL;
* extension versions are not compared (a server's packaging chooses them), nor are owners and
  tablespaces, which belong to the deployment, not to the migrations;
* comments and privileges are attributes (``comment``, ``privileges``, ``privileges_revoked``)
  of the object they are on, privileges as the difference from the kind's default ACL, with
  the owner written ``(owner)`` whoever owns it (grantors are not compared); the schema's
  grants to named roles and the default privileges are objects of their own. What counts as
  drift among them, and what is only information, is :mod:`bazooka.postgres.drift`'s.

The expected schema of every step is :mod:`bazooka.postgres.schema_steps`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ObjectKey = tuple[str, str]
Objects = dict[ObjectKey, dict[str, Any]]

# The Knex bookkeeping is checked by ``status`` and the migrator, not as schema.
BOOKKEEPING_RELATIONS = frozenset(
    {
        "knex_migrations",
        "knex_migrations_lock",
        "knex_migrations_id_seq",
        "knex_migrations_lock_index_seq",
        "knex_migrations_pkey",
        "knex_migrations_lock_pkey",
    }
)
# Kinds in report order: containers before their parts.
KINDS = (
    "schema",
    "default privileges",
    "extension",
    "type",
    "sequence",
    "table",
    "column",
    "constraint",
    "index",
    "view",
    "materialized view",
    "function",
    "trigger",
    "policy",
    "rule",
    "statistics",
    "operator",
    "operator class",
    "operator family",
    "collation",
    "conversion",
    "text search configuration",
    "text search dictionary",
    "event trigger",
)
_CONSTRAINT_TYPES = {
    "p": "primary key",
    "u": "unique",
    "f": "foreign key",
    "c": "check",
    "x": "exclusion",
    "t": "constraint trigger",
}
_RELATION_KINDS = {"r": "table", "p": "partitioned table", "f": "foreign table"}
_TYPE_KINDS = {"b": "base", "c": "composite", "d": "domain", "e": "enum", "r": "range"}
_FUNCTION_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window"}
_STORAGE = {"p": "plain", "e": "external", "m": "main", "x": "extended"}
_REPLICA_IDENTITY = {"d": None, "n": "nothing", "f": "full", "i": "index"}
_TRIGGER_ENABLED = {"O": "origin", "D": "disabled", "R": "replica", "A": "always"}
_POLICY_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
_DEFAULT_ACL_OBJECTS = {
    "r": "tables",
    "S": "sequences",
    "f": "functions",
    "T": "types",
    "n": "schemas",
}
# What the catalog reader adds to any row: comments and privileges, not part of a definition.
_DEPLOYED = ("comment", "grants", "revokes")
_QUALIFIER = re.compile(r'(?<![\w."])("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\.(?=["A-Za-z_])')
_NULL_DEFAULT = re.compile(r"^NULL(::[\w .\"()\[\],]+)?$")
_INDEX_HEAD = re.compile(r"^CREATE (?:UNIQUE )?INDEX .+? ON (?:ONLY )?.+? (USING .*)$", re.DOTALL)


def squeeze(text: str) -> str:
    """Whitespace runs collapsed to one space, ends trimmed."""
    return " ".join(text.split())


def unqualified(text: str) -> str:
    """``alias.column`` -> ``column`` outside string literals (view definitions)."""
    parts = re.split(r"('(?:[^']|'')*')", text)
    return "".join(p if i % 2 else _strip_qualifiers(p) for i, p in enumerate(parts))


def _strip_qualifiers(code: str) -> str:
    while True:  # schema.table.column: one qualifier per pass
        stripped = _QUALIFIER.sub("", code)
        if stripped == code:
            return code
        code = stripped


def _default(expression: str | None) -> str | None:
    if expression is None:
        return None
    text = squeeze(expression)
    return None if _NULL_DEFAULT.match(text) else text


def _index_definition(definition: str) -> str:
    match = _INDEX_HEAD.match(squeeze(definition))
    return match.group(1) if match else squeeze(definition)


def _compact(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Drop attributes at their default (None, False, empty) so models stay small and legible."""
    return {k: v for k, v in attrs.items() if v not in (None, False, "", [], {})}


Row = Mapping[str, Any]
Canonical = tuple[str, str, Mapping[str, Any]]  # (kind, name, attributes)


def canonical(document: Mapping[str, Any]) -> Objects:
    """The catalog document of :func:`bazooka.postgres.catalog.read_catalog`, canonicalised."""
    columns: dict[str, list[str]] = {}
    for col in document.get("columns") or []:
        columns.setdefault(col["relation"], []).append(col["name"])
    out: Objects = {}
    for key, convert in _CONVERTERS:
        for row in document.get(key) or []:
            kind, name, attrs = convert(row, columns)
            out[(kind, name)] = _compact({**attrs, **_comment_and_privileges(row)})
    schema_grants = document.get("schema_grants") or []
    if schema_grants:
        out[("schema", "public")] = {"privileges": sorted(schema_grants)}
    for acl in document.get("default_privileges") or []:
        objects = _DEFAULT_ACL_OBJECTS.get(acl["objects"], acl["objects"])
        where = f" in schema {acl['schema']}" if acl.get("schema") else ""
        name = f"for {acl['role']} on {objects}{where}"
        out[("default privileges", name)] = _compact(
            {"privileges": acl.get("entries"), "privileges_revoked": acl.get("revoked")}
        )
    return out


def _comment_and_privileges(row: Row) -> dict[str, Any]:
    return {
        "comment": row.get("comment"),
        "privileges": sorted(row.get("grants") or []),
        "privileges_revoked": sorted(row.get("revokes") or []),
    }


def _column(col: Row, _: Mapping[str, list[str]]) -> Canonical:
    generated = col["generated"] == "s"
    return (
        "column",
        f"{col['relation']}.{col['name']}",
        {
            "type": col["type"],
            "not_null": col["not_null"],
            "default": None if generated else _default(col["default"]),
            "generated": squeeze(col["default"]) if generated else None,
            "identity": {"a": "always", "d": "by default"}.get(col["identity"] or ""),
            "collation": col["collation"],
            "storage": _STORAGE.get(col.get("storage") or ""),
        },
    )


def _relation(rel: Row, columns: Mapping[str, list[str]]) -> Canonical:
    name, relkind = rel["name"], rel["relkind"]
    if relkind in ("v", "m"):
        return (
            "view" if relkind == "v" else "materialized view",
            name,
            {
                "definition": unqualified(squeeze(rel["view"] or "")),
                "options": sorted(rel["options"] or []),
                "unpopulated": relkind == "m" and not rel["populated"],
            },
        )
    security = "forced" if rel["force_rls"] else "enabled" if rel["rls"] else None
    return (
        "table",
        name,
        {
            "kind": _RELATION_KINDS[relkind],
            "unlogged": rel["persistence"] == "u",
            "options": sorted(rel["options"] or []),
            "row_security": security,
            "inherits": rel["parents"],
            "partition_bound": rel["partition_bound"],
            "partition_key": rel["partition_key"],
            "replica_identity": _REPLICA_IDENTITY.get(rel.get("replica_identity") or "d"),
            "columns": columns.get(name, []),
        },
    )


def _constraint(con: Row, _: Mapping[str, list[str]]) -> Canonical:
    return (
        "constraint",
        f"{con['relation']}.{con['name']}",
        {
            "type": _CONSTRAINT_TYPES.get(con["type"], con["type"]),
            "definition": squeeze(con["definition"]).removesuffix(" NOT VALID"),
            "not_valid": not con["validated"],
            "triggers_disabled": con.get("triggers_disabled"),
        },
    )


def _index(idx: Row, _: Mapping[str, list[str]]) -> Canonical:
    return (
        "index",
        idx["name"],
        {
            "table": idx["relation"],
            "unique": idx["unique"],
            "definition": _index_definition(idx["definition"]),
            "invalid": not idx["valid"],
        },
    )


def _sequence(seq: Row, _: Mapping[str, list[str]]) -> Canonical:
    return "sequence", seq["name"], {k: v for k, v in seq.items() if k not in ("name", *_DEPLOYED)}


def _function(fn: Row, _: Mapping[str, list[str]]) -> Canonical:
    return (
        "function",
        f"{fn['name']}({fn['arguments']})",
        {
            "kind": _FUNCTION_KINDS.get(fn["kind"], fn["kind"]),
            "returns": fn["returns"],
            "definition": squeeze(fn["definition"] or ""),
        },
    )


def _trigger(trg: Row, _: Mapping[str, list[str]]) -> Canonical:
    return (
        "trigger",
        f"{trg['relation']}.{trg['name']}",
        {
            "definition": squeeze(trg["definition"]),
            "enabled": None if trg["enabled"] == "O" else _TRIGGER_ENABLED[trg["enabled"]],
        },
    )


def _type(typ: Row, _: Mapping[str, list[str]]) -> Canonical:
    return (
        "type",
        typ["name"],
        {
            "kind": _TYPE_KINDS.get(typ["typtype"], typ["typtype"]),
            "labels": typ["labels"],
            "base": typ["base"],
            "not_null": typ["not_null"],
            "default": _default(typ["default"]),
            "checks": [squeeze(c) for c in typ["checks"] or []],
            "attributes": typ["attributes"] if typ["typtype"] == "c" else None,
            "subtype": typ["subtype"],
        },
    )


def _extension(ext: Row, _: Mapping[str, list[str]]) -> Canonical:
    return "extension", ext["name"], {"schema": ext["schema"]}


def _policy(pol: Row, _: Mapping[str, list[str]]) -> Canonical:
    return (
        "policy",
        f"{pol['relation']}.{pol['name']}",
        {
            "command": _POLICY_COMMANDS.get(pol["command"], pol["command"]),
            "restrictive": not pol["permissive"],
            "roles": pol["roles"],
            "using": squeeze(pol["using"] or ""),
            "check": squeeze(pol["check"] or ""),
        },
    )


def _rule(rule: Row, _: Mapping[str, list[str]]) -> Canonical:
    return "rule", f"{rule['relation']}.{rule['name']}", {"definition": squeeze(rule["definition"])}


def _other(other: Row, _: Mapping[str, list[str]]) -> Canonical:
    return other["kind"], other["name"], {}


def _statistics(stat: Row, _: Mapping[str, list[str]]) -> Canonical:
    return "statistics", stat["name"], {"definition": squeeze(stat["definition"])}


# The catalog document's lists, and how each row becomes one canonical object.
_CONVERTERS: tuple[tuple[str, Callable[[Row, Mapping[str, list[str]]], Canonical]], ...] = (
    ("columns", _column),
    ("relations", _relation),
    ("constraints", _constraint),
    ("indexes", _index),
    ("sequences", _sequence),
    ("functions", _function),
    ("triggers", _trigger),
    ("types", _type),
    ("extensions", _extension),
    ("policies", _policy),
    ("rules", _rule),
    ("others", _other),
    ("statistics", _statistics),
)


def parent_table(key: ObjectKey, attrs: Mapping[str, Any]) -> str | None:
    """The table (or view) an object belongs to: columns, constraints, indexes, triggers..."""
    kind, name = key
    if kind == "index":
        return str(attrs.get("table"))
    if kind in ("column", "constraint", "trigger", "policy", "rule"):
        return name.split(".", 1)[0]
    return None


def without_bookkeeping(objects: Objects) -> Objects:
    """``objects`` without the Knex bookkeeping tables and what belongs to them."""
    return {
        key: attrs
        for key, attrs in objects.items()
        if key[1] not in BOOKKEEPING_RELATIONS
        and parent_table(key, attrs) not in BOOKKEEPING_RELATIONS
    }
