"""SQL text, pure functions: the statements Knex sent, their bindings inlined, reviewed for what
needs a person, and rendered as a migration file. The lexing is Bazooka's own
(:mod:`bazooka.postgres.sqlsplit`), the one the migrator splits with."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bazooka.postgres.migrations_source import NO_TRANSACTION_MARKER
from bazooka.postgres.sqlsplit import has_code, split_statements, tokens, words
from tools.porting.base import UsageError
from tools.schema_dump import normalize


class InlineError(ValueError):
    """A parameter that cannot be written as a literal with the same meaning."""


def literal(value: Any) -> str:
    """``value`` as a SQL literal meaning what pg's untyped text parameter means.

    pg sends every parameter as text with an unspecified type, which PostgreSQL types from the
    context exactly as it types an untyped string literal; so ``'text'`` (quotes doubled;
    ``standard_conforming_strings`` is on, PostgreSQL's default, so backslashes stay as they
    are) and ``NULL`` are the faithful inlined forms. A binary parameter (a Buffer) has no such
    form and is refused.
    """
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise InlineError(f"a binary parameter ({value!r:.60}) has no faithful literal form")


def inline(text: str, values: Sequence[Any]) -> str:
    """``text`` with each ``$n`` parameter replaced by the literal of ``values[n-1]``."""
    if not values:
        return text
    out: list[str] = []
    used: set[int] = set()
    last = 0
    for token in tokens(text):
        if token.kind != "param":
            continue
        index = int(token.text[1:])
        if not 1 <= index <= len(values):
            raise InlineError(f"{token.text} has no value ({len(values)} given)")
        out += [text[last : token.start], literal(values[index - 1])]
        used.add(index)
        last = token.end
    out.append(text[last:])
    unused = sorted(set(range(1, len(values) + 1)) - used)
    if unused:
        raise InlineError(f"values for ${', $'.join(map(str, unused))} are never used")
    return "".join(out)


@dataclass
class Statement:
    """One statement Knex sent while the migration's own function ran."""

    text: str
    values: list[Any]
    returned_rows: bool = False
    row_count: int | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Statement:
        return cls(
            text=data["text"],
            values=list(data.get("values") or []),
            returned_rows=bool(data.get("returned_rows")),
            row_count=data.get("row_count"),
            error=data.get("error"),
        )

    def sql(self) -> str:
        """The statement with its bindings inlined."""
        return inline(self.text, self.values)

    def shown(self, limit: int = 90) -> str:
        """For messages: inlined when possible, else as sent; shortened unless limit is 0."""
        try:
            text = self.sql()
        except ValueError:
            text = self.text
        return short(text, limit) if limit else " ".join(text.split())


READING = {"select", "with", "values", "table", "show", "explain", "fetch"}


CHANGING_ROWS = {"insert", "update", "delete", "merge"}


OPAQUE = {"do", "call", "copy"}  # code or files whose reads a text check cannot see


# Statements on the server's objects (roles, memberships, tablespaces, settings), which no
# dump of one database holds; GRANT/REVOKE without ON (role membership) counts too.
CLUSTER_WIDE = {
    f"{verb} {noun}"
    for verb in ("create", "alter", "drop")
    for noun in ("role", "user", "group", "tablespace", "database")
} | {"alter system"}


def outside_the_database(kinds: Sequence[str]) -> bool:
    """Whether a statement (its lower-cased words) acts on the server or on the database as a
    whole rather than on objects in it: a dump of the database would not carry it."""
    if " ".join(kinds[:2]) in CLUSTER_WIDE:
        return True
    if kinds[:2] == ["comment", "on"] and kinds[2:3] in (["database"], ["role"], ["tablespace"]):
        return True
    if kinds[:1] in (["grant"], ["revoke"]):
        if "on" not in kinds:
            return True  # GRANT role TO role: membership
        after_on = kinds[kinds.index("on") + 1 : kinds.index("on") + 2]
        return after_on in (["database"], ["tablespace"], ["parameter"])
    return False


def review(statements: Sequence[Statement], direction: str) -> tuple[list[str], list[str]]:
    """Why these captured statements need a person (flags), and what to mention (notes).

    Flagged: a statement that gave rows back to the migration (SELECT, WITH, SHOW, RETURNING,
    ...: what Knex sent afterwards may depend on them); a statement that reads data by its
    text (a read, or an INSERT/UPDATE/DELETE/MERGE with a subquery or RETURNING); DO/CALL/COPY,
    whose reads cannot be seen; a statement that failed (the migration caught the error);
    a parameter with no faithful literal. DDL is never flagged by its text:
    ``CREATE MATERIALIZED VIEW ... AS SELECT`` is schema, not a data-dependent port.
    """
    flags: list[str] = []
    notes: list[str] = []
    for number, statement in enumerate(statements, start=1):
        where = f"{direction} statement {number} `{statement.shown()}`"
        try:
            statement.sql()
            kinds = words(statement.text)
        except ValueError as exc:
            flags.append(f"cannot inline {where}: {exc}")
            continue
        first = kinds[0] if kinds else ""
        if statement.error is not None:
            flags.append(f"errors: {where} failed and the migration went on: {statement.error}")
        if statement.returned_rows or first in READING:
            flags.append(
                f"reads data: {where} returns rows to the migration; what it sends next may "
                "depend on them"
            )
        elif first in CHANGING_ROWS and ({"select", "returning"} & set(kinds)):
            flags.append(f"reads data: {where} reads rows to change rows")
        elif first in OPAQUE:
            flags.append(f"reads data: {where} ({first.upper()}) may read data")
        elif first in CHANGING_ROWS or first == "truncate":
            notes.append(
                f"{where} changes rows; the rows it leaves on the (empty) scratch database are "
                "verified, what it does to rows a real database holds is for you to read"
            )
        if outside_the_database(kinds):
            flags.append(
                f"cluster-wide: {where} changes the server or the database itself (roles, "
                "memberships, tablespaces, settings, database privileges), which no dump of "
                "the database's contents carries, so the baseline would lack it"
            )
    return flags, notes


def first_statement_difference(a: Sequence[Statement], b: Sequence[Statement]) -> str | None:
    """Where two captures differ (text or values), or None."""
    for number, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if (x.text, x.values) != (y.text, y.values):
            first, second = around_difference(x.shown(0), y.shown(0))
            return f"statement {number}: `{first}`, then `{second}`"
    if len(a) != len(b):
        return f"{len(a)} statements, then {len(b)}"
    return None


def render(statements: Sequence[Statement], transaction: bool) -> str:
    """A migration file: the marker when Knex runs it without a transaction, then each
    captured statement with its bindings inlined, ended by ``;``.

    Raises ValueError if Bazooka's own splitter would not read back the same statements.
    """
    body: list[str] = []
    expected: list[str] = []
    for statement in statements:
        sql = statement.sql().strip()
        if not has_code(sql):
            continue
        expected += split_statements(sql)
        if not sql.endswith(";"):
            ends_in_comment = any(
                t.kind == "line_comment" and t.end == len(sql) for t in tokens(sql)
            )
            sql += "\n;" if ends_in_comment else ";"
        body.append(sql)
    if split_statements("\n".join(body)) != expected:
        raise ValueError("the statements do not read back as captured")
    if not body:
        body.append("-- Knex sent no statement in this direction.")
    return "\n".join(([] if transaction else [NO_TRANSACTION_MARKER]) + body) + "\n"


def around_difference(a: str, b: str, context: int = 40) -> tuple[str, str]:
    """Both texts cut around the first character where they differ."""
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if common is None:
        common = min(len(a), len(b))
    start, end = max(0, common - context), common + context

    def cut(text: str) -> str:
        return ("…" if start else "") + text[start:end] + ("…" if len(text) > end else "")

    return cut(a), cut(b)


def short(text: str, limit: int = 90) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def first_difference(
    expected: str, actual: str, theirs: str = "Knex", ours: str = "Bazooka", lines: int = 3
) -> str:
    """Where two schema dumps first differ: a few lines of each from there."""
    a, b = normalize(expected).splitlines(), normalize(actual).splitlines()
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, _, j1, _ in matcher.get_opcodes():
        if tag != "equal":
            first = " ⏎ ".join(line.strip() for line in a[i1 : i1 + lines]) or "(nothing)"
            second = " ⏎ ".join(line.strip() for line in b[j1 : j1 + lines]) or "(nothing)"
            return f"first difference: {theirs} has `{first}`; {ours} has `{second}`"
    return "the dumps differ only in whitespace"


def resolve_name(argument: str, names: Sequence[str]) -> str:
    """A migration named on the command line: Knex name, file name, stem or timestamp."""
    base = Path(argument).name
    candidates = {base, base + ".js"}
    for suffix in (".up.sql", ".down.sql"):
        if base.endswith(suffix):
            candidates.add(base.removesuffix(suffix) + ".js")
    if base.endswith(".ts"):
        candidates.add(base.removesuffix(".ts") + ".js")
    found = sorted(set(names) & candidates)
    if not found and base.isdigit():
        found = [n for n in names if n.startswith(base + "_")]
    if len(found) != 1:
        what = "matches no" if not found else f"matches {len(found)}"
        raise UsageError(f"{argument!r} {what} known migration(s) {found or ''}".rstrip())
    return found[0]
