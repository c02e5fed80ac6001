#!/usr/bin/env python3
"""Port new upstream Knex migrations into Bazooka, verified against Knex itself.

    eval "$(python3 scripts/services.py env)"     # a PostgreSQL where scratch databases can be made
    python3 scripts/port_migrations.py --from PATH [--only NAME ...] [--check NAME ... | all]

PATH is an upstream migrations directory: the folder holding ``migration_files/`` and the
``helpers.ts`` some migrations import (``indexer/packages/postgres/src/db/migrations``). For
each upstream migration Bazooka lacks, in name order, the tool:

1. runs it with Knex itself (``scripts/knex``: knex 0.21.21, pg 8.7.3 and TypeScript 4.7.4,
   pinned by ``package-lock.json`` and installed here with ``npm ci``) on a scratch database
   already at the previous step: ``up``, ``down``, ``up`` again, capturing every statement
   Knex sends, as PostgreSQL receives it, with bindings inlined;
2. flags it for a person, writing nothing, when it errors, reads data, is not deterministic
   or does not round-trip (see :func:`review`);
3. writes ``<knex name>.up.sql`` / ``.down.sql`` to a staging folder, replays them through
   Bazooka's own migrator on a second scratch database at the same step, and requires the
   schema after each ``up`` and ``down`` to equal Knex's (``tests/schema_dump.py``'s
   fingerprint), and everything else too (rows, sequence positions, comments, privileges,
   owners: ``database_state``); only then moves the files into the migrations folder;
4. after the last one, regenerates the snapshots, the schema model and the baseline
   (``tests/tools/update_snapshots.py``), the baseline proven to leave what the replay leaves.

A role a migration grants to that the scratch server lacks is created for the run (NOLOGIN)
and dropped at the end (:class:`ScratchRoles`); statements on the server or the database as a
whole are flagged ``cluster-wide``: no dump of the database, hence no baseline, carries them.

``--check NAME`` (or ``--check all``) verifies migrations Bazooka already has, e.g. a port
written by hand for a flagged migration, the same way, and writes nothing.

Exit codes: 0 every requested migration ported (or checked) and verified; 1 a port could not
be verified (the message names the migration and the first difference) or the tool failed;
2 invalid arguments; 3 a migration needs a person (the review list says which and why).
``docs/maintainers.md`` is the runbook.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _use_project_venv() -> None:
    """Re-run under the project's .venv when started by another Python (psycopg, bazooka)."""
    try:
        import psycopg  # noqa: F401, PLC0415

        import bazooka  # noqa: F401, PLC0415
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable) != venv_python:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606 - same argv
        sys.exit("port_migrations: run scripts/setup.sh first (psycopg and bazooka missing)")


if __name__ == "__main__":
    _use_project_venv()

sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import difflib  # noqa: E402
import fcntl  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import IO, Any  # noqa: E402

import psycopg  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402
from tools.schema_dump import (  # noqa: E402
    BaselineMismatch,
    database_state,
    dump,
    fingerprint,
    normalize,
    state_difference,
)

from bazooka.errors import BazookaError  # noqa: E402
from bazooka.postgres import migrator  # noqa: E402
from bazooka.postgres.connection import connect  # noqa: E402
from bazooka.postgres.migrations_source import (  # noqa: E402
    NO_TRANSACTION_MARKER,
    Migration,
    load_from,
)
from bazooka.postgres.sqlsplit import has_code, split_statements  # noqa: E402
from bazooka.settings import Settings  # noqa: E402

KNEX_DIR = ROOT / "scripts" / "knex"
BUNDLED = ROOT / "src" / "bazooka" / "postgres" / "migrations"
SNAPSHOTS = ROOT / "tests" / "snapshots"
DATA = ROOT / "src" / "bazooka" / "postgres" / "data"
RUNBOOK = "docs/maintainers.md"
REPLY_PREFIX = "\x1eBAZOOKA-PORT "

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REVIEW = 0, 1, 2, 3


class UsageError(Exception):
    """Invalid arguments or inputs (exit 2)."""


class ToolError(Exception):
    """The tool itself could not run (Node, npm, PostgreSQL, ...) (exit 1)."""


class NotVerified(Exception):  # noqa: N818 - what the maintainer reads
    """Bazooka's replay of a port differs from Knex, or cannot run (exit 1)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail


# --- SQL text: pure functions --------------------------------------------------------------

_TOKEN = re.compile(
    r"""
      (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]')
    | (?P<string>')
    | (?P<ident>")
    | (?P<dollar>\$(?:[A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$)
    | (?P<param>\$[0-9]+)
    | (?P<word>[A-Za-z_\u0080-\uffff][A-Za-z_0-9$\u0080-\uffff]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    """A lexical piece of SQL that matters here: a word, a parameter or a comment."""

    kind: str  # "word" | "param" | "line_comment" | "block_comment"
    start: int
    end: int
    text: str


def tokens(sql: str) -> Iterator[Token]:
    """Words, ``$n`` parameters and comments of ``sql``, as PostgreSQL's lexer sees them.

    Quoted strings (including ``E''`` strings), quoted identifiers and dollar-quoted bodies
    are skipped: a ``$1`` or a keyword inside them is data, not code.
    """
    i, n = 0, len(sql)
    while i < n:
        match = _TOKEN.match(sql, i)
        if match is None:
            i += 1
            continue
        kind = match.lastgroup or ""
        if kind == "line_comment":
            yield Token(kind, i, match.end(), match.group())
            i = match.end()
        elif kind == "block_comment":
            end = _block_comment_end(sql, i)
            yield Token(kind, i, end, sql[i:end])
            i = end
        elif kind in ("string", "estring", "ident"):
            i = _quoted_end(sql, match.end(), '"' if kind == "ident" else "'", kind == "estring")
        elif kind == "dollar":
            end = sql.find(match.group(), match.end())
            if end == -1:
                raise ValueError(f"unterminated dollar-quoted string at offset {i}")
            i = end + len(match.group())
        else:
            yield Token(kind, i, match.end(), match.group())
            i = match.end()


def _block_comment_end(sql: str, i: int) -> int:
    depth = 0
    while i < len(sql):
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    raise ValueError("unterminated /* comment")


def _quoted_end(sql: str, i: int, quote: str, backslashes: bool) -> int:
    while i < len(sql):
        ch = sql[i]
        if backslashes and ch == "\\":
            i += 2
        elif ch == quote:
            if sql.startswith(quote, i + 1):  # a doubled quote escapes itself
                i += 2
                continue
            return i + 1
        else:
            i += 1
    raise ValueError(f"unterminated {quote} quote")


def words(sql: str) -> list[str]:
    """The lower-cased words of ``sql`` outside literals and comments."""
    return [t.text.lower() for t in tokens(sql) if t.kind == "word"]


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
        return _short(text, limit) if limit else " ".join(text.split())


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
            first, second = _around_difference(x.shown(0), y.shown(0))
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


def _around_difference(a: str, b: str, context: int = 40) -> tuple[str, str]:
    """Both texts cut around the first character where they differ."""
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    if common is None:
        common = min(len(a), len(b))
    start, end = max(0, common - context), common + context

    def cut(text: str) -> str:
        return ("…" if start else "") + text[start:end] + ("…" if len(text) > end else "")

    return cut(a), cut(b)


def _short(text: str, limit: int = 90) -> str:
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


# --- Node: pinned packages and the Knex session ---------------------------------------------


def ensure_node_packages(out: IO[str]) -> None:
    """``npm ci`` in scripts/knex when node_modules is missing or older than the lockfile."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found on PATH: the port runs the migrations with Node")
    lock = KNEX_DIR / "package-lock.json"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = KNEX_DIR / "node_modules" / ".bazooka-lock-sha256"
    with (KNEX_DIR / ".npm-ci.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # two runs at once must not both install
        if stamp.exists() and stamp.read_text().strip() == want:
            return
        out.write("Installing the pinned Knex, pg and TypeScript (npm ci) ...\n")
        out.flush()
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=KNEX_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            raise ToolError(f"npm ci failed in {KNEX_DIR}:\n{tail}")
        stamp.write_text(want + "\n")


class KnexSession:
    """The Node process of scripts/knex/port_runner.js: one JSON request, one JSON reply."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._closed = False
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by close()
        env = {
            **os.environ,
            "TZ": "UTC",  # as on AWS Lambda: Date bindings are rendered in UTC
            "NODE_PATH": str(KNEX_DIR / "node_modules"),  # for compiled files outside KNEX_DIR
        }
        self._process = subprocess.Popen(
            ["node", str(KNEX_DIR / "port_runner.js")],
            cwd=KNEX_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if line.startswith(REPLY_PREFIX):
                self._replies.put(line[len(REPLY_PREFIX) :])
            else:
                sys.stderr.write(line)  # something a migration printed
        self._replies.put(None)

    def request(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one request; its reply (ToolError if the process is gone or too slow)."""
        assert self._process.stdin is not None
        if self._closed:
            raise ToolError("the Knex runner was stopped")
        try:
            self._process.stdin.write(json.dumps(payload) + "\n")
            self._process.stdin.flush()
            line = self._replies.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise ToolError(
                f"Knex did not answer {payload['op']} within {self.timeout:.0f} s"
            ) from None
        except OSError as exc:
            line = None
            cause: Exception | None = exc
        else:
            cause = None
        if line is None:
            raise ToolError(f"the Knex runner stopped: {self.stderr_tail()}") from cause
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stderr_tail(self, lines: int = 20) -> str:
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().strip().splitlines()[-lines:])

    def close(self) -> None:
        """End the process: end of input, then a kill if it does not exit."""
        if self._closed:
            return
        self._closed = True
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stderr.close()


@dataclass
class KnexRun:
    """One ``latest`` (up) or ``rollback`` (down) of one migration by Knex."""

    ok: bool
    error: str | None
    statements: list[Statement]
    transaction: bool
    returned_promise: bool
    warnings: list[str]

    @classmethod
    def from_reply(cls, reply: dict[str, Any]) -> KnexRun:
        return cls(
            ok=bool(reply.get("ok")),
            error=reply.get("error"),
            statements=[Statement.from_json(s) for s in reply.get("statements", [])],
            transaction=bool(reply.get("transaction", True)),
            returned_promise=bool(reply.get("returned_promise", True)),
            warnings=list(reply.get("warnings", [])),
        )


# --- scratch databases -----------------------------------------------------------------------


@dataclass
class Scratch:
    """A scratch database: its settings and one Bazooka connection."""

    settings: Settings
    conn: psycopg.Connection[tuple[Any, ...]]

    def schema(self) -> str:
        """pg_dump of the schema, bookkeeping excluded (tests/schema_dump.py)."""
        return dump(self.settings, exclude_knex=True)

    def state(self) -> list[str]:
        """Everything but the bookkeeping: schema with comments, privileges and owners, rows,
        sequence positions (tests/schema_dump.py's database_state)."""
        return database_state(self.settings)

    def recorded(self) -> list[str]:
        """The names in knex_migrations, in id order."""
        exists = self.conn.execute("SELECT to_regclass('public.knex_migrations')").fetchone()
        if exists is None or exists[0] is None:
            return []
        rows = self.conn.execute("SELECT name FROM knex_migrations ORDER BY id").fetchall()
        return [str(r[0]) for r in rows]


@contextlib.contextmanager
def scratch_databases(base: Settings, *roles: str) -> Iterator[dict[str, Scratch]]:
    """Fresh empty databases, one per role, dropped afterwards."""
    admin_dsn = (
        f"host={base.db_hostname} port={base.db_port} dbname=postgres "
        f"user={base.db_username} password={base.db_password.get_secret_value()}"
    )
    prefix = f"bz_port_{uuid.uuid4().hex[:8]}"
    names = {role: f"{prefix}_{role}" for role in roles}
    made: dict[str, Scratch] = {}
    try:
        try:
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                for role, name in names.items():
                    admin.execute(f'CREATE DATABASE "{name}"')
                    settings = base.replace(db_name=name)
                    made[role] = Scratch(settings, connect(settings))
        except psycopg.Error as exc:
            raise ToolError(
                f"cannot create scratch databases on {base.db_hostname}:{base.db_port} "
                f"(set DB_* as scripts/services.py env does): {exc}"
            ) from exc
        yield made
    finally:
        for scratch in made.values():
            scratch.conn.close()
        with contextlib.suppress(psycopg.Error), psycopg.connect(admin_dsn, autocommit=True) as a:
            for name in names.values():
                a.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_MISSING_ROLE = re.compile(r'role "((?:[^"]|"")+)" does not exist')


def missing_role(error: str | None) -> str | None:
    """The role named by PostgreSQL's "role ... does not exist" in ``error``, if any."""
    match = _MISSING_ROLE.search(error or "")
    return match.group(1).replace('""', '"') if match else None


class ScratchRoles:
    """Roles the tool creates on the scratch server because a migration grants to them.

    Roles belong to the server, not to a database, so they outlive the scratch databases: they
    are created NOLOGIN, kept until the snapshots and the baseline are regenerated (their
    replay grants to them too), then dropped. A role that existed before is never touched.
    """

    def __init__(self, base: Settings) -> None:
        self.base = base
        self.created: list[str] = []

    def _admin(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(
            f"host={self.base.db_hostname} port={self.base.db_port} dbname=postgres "
            f"user={self.base.db_username} password={self.base.db_password.get_secret_value()}",
            autocommit=True,
        )

    def create(self, role: str) -> bool:
        """Create ``role`` (False when it already exists: creating it cannot help)."""
        try:
            with self._admin() as admin:
                exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if exists.fetchone():
                    return False
                admin.execute(pgsql.SQL("CREATE ROLE {} NOLOGIN").format(pgsql.Identifier(role)))
        except psycopg.Error as exc:
            raise ToolError(
                f"a migration grants to role {role}, which this server lacks, and the tool "
                f"cannot create it for the scratch run ({exc}); create it (CREATE ROLE "
                f"{role} NOLOGIN) and run again"
            ) from exc
        self.created.append(role)
        return True

    def drop(self, out: IO[str]) -> None:
        """Drop the roles this run created; say which could not be dropped."""
        for role in self.created:
            try:
                with self._admin() as admin:
                    admin.execute(
                        pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(role))
                    )
            except psycopg.Error as exc:
                out.write(f"  warning: could not drop the scratch role {role}: {exc}\n")
        self.created = []


# --- the port ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What happened to one migration."""

    name: str
    action: str  # "port" | "check"
    status: str = "pending"  # "ported" | "verified" | "flagged" | "not verified" | "blocked"
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    captured: dict[str, list[str]] = field(default_factory=dict)  # what Knex sent, if flagged


@dataclass
class Plan:
    """The ordered work: every migration upstream or bundled, and what to do with each."""

    order: list[str]
    action: dict[str, str]  # name -> "bundled" | "port" | "check"
    later: list[str]  # upstream migrations left for later (after the last --only one)
    bundled_only: list[str]  # bundled but not upstream


def make_plan(
    upstream: Sequence[str],
    bundled: Sequence[str],
    only: Sequence[str],
    check: Sequence[str],
) -> Plan:
    """Decide, in name order, which migrations are ported, checked, or just applied.

    A migration is ported on top of every migration before it, so an unported upstream
    migration before a requested one is an error: the ports would not match the original.
    """
    missing = [n for n in upstream if n not in set(bundled)]
    # Without --only: every missing one, unless the run is a --check.
    selected = list(only) if only else [] if check else missing
    for name in selected:
        if name in bundled:
            raise UsageError(f"{name} is already bundled; verify it with --check {name}")
    for name in check:
        if name not in upstream or name not in bundled:
            raise UsageError(f"--check {name}: it must be both upstream and bundled")
    last = max([*selected, *check], default="")
    later = [n for n in missing if n not in selected and n > last]
    skipped = [n for n in missing if n not in selected and n < last]
    if skipped:
        raise UsageError(
            f"{', '.join(skipped)}: upstream before {last}, not bundled: port them first "
            "(each port stands on every migration before it)"
        )
    order = [n for n in sorted(set(bundled) | set(selected)) if n <= last]
    action = {n: "port" if n in selected else "check" if n in check else "bundled" for n in order}
    return Plan(order, action, later, [n for n in bundled if n not in set(upstream)])


class Porter:
    """Runs the plan on two scratch databases: Knex's, and Bazooka's replay."""

    def __init__(
        self,
        *,
        knex: KnexSession,
        build: Path,
        into: Path,
        staging: Path,
        databases: dict[str, Scratch],
        roles: ScratchRoles,
    ) -> None:
        self.knex, self.build, self.into, self.staging = knex, build, into, staging
        self.k, self.b = databases["knex"], databases["bazooka"]
        self.roles = roles

    def known(self, upto: str, extra: Sequence[Migration] = ()) -> list[Migration]:
        """The bundled migrations up to ``upto`` (inclusive), plus ``extra``, by name."""
        present = [m for m in load_from(self.into) if m.name <= upto]
        return sorted([*present, *extra], key=lambda m: m.name)

    def advance(self, upto: str) -> None:
        """Both databases: apply the bundled migrations up to ``upto`` with Bazooka."""
        known = self.known(upto)
        for scratch in (self.k, self.b):
            migrator.migrate(scratch.conn, known)

    def knex_run(self, name: str, direction: str) -> KnexRun:
        reply = self.knex.request(
            {
                "op": "run",
                "build": str(self.build),
                "migration": name,
                "direction": direction,
                "completed": self.k.recorded(),
            }
        )
        return KnexRun.from_reply(reply)

    def process(self, name: str, action: str) -> Outcome:
        """Port (or check) one migration; raise :class:`NotVerified` if the replay differs."""
        outcome = Outcome(name, action)
        checking = action == "check"
        before = self.k.schema()
        runs: dict[str, KnexRun] = {}
        schemas: dict[str, str] = {}
        states: dict[str, list[str]] = {}
        for step, direction in (("up", "up"), ("down", "down"), ("up again", "up")):
            run = self.knex_run(name, direction)
            if step == "up":
                run = self.with_missing_roles(name, run, outcome)
            runs[step] = run
            if not run.ok:
                what = "errors" if step != "up again" else "does not round-trip"
                detail = f"Knex's {direction}" + (" after its down" if step == "up again" else "")
                outcome.flags.append(f"{what}: {detail} fails: {run.error}")
                break
            if not run.returned_promise:
                outcome.flags.append(
                    f"errors: its {direction} does not return a promise, so Knex does not wait "
                    "for its statements (Knex warns 'did not return a promise')"
                )
            if step != "up again":
                flags, notes = review(run.statements, direction)
                outcome.flags += flags
                outcome.notes += notes
            outcome.notes += [f"Knex warned ({direction}): {w}" for w in run.warnings]
            schemas[step] = self.k.schema()
            states[step] = self.k.state()
        if "up again" in schemas:
            difference = first_statement_difference(
                runs["up"].statements, runs["up again"].statements
            )
            if difference:
                outcome.flags.append(
                    f"non-deterministic: the two ups sent different SQL: {difference}"
                )
            if fingerprint(schemas["up again"]) != fingerprint(schemas["up"]):
                outcome.flags.append(
                    "does not round-trip: the schema after up, down, up differs from after up: "
                    + first_difference(
                        schemas["up"], schemas["up again"], "the first up", "the second"
                    )
                )
        if "down" in schemas and fingerprint(schemas["down"]) != fingerprint(before):
            outcome.notes.append(
                "its down is not an exact inverse of its up (reproduced as Knex runs it)"
            )
        if not checking and outcome.flags:
            outcome.status = "flagged"
            outcome.captured = {
                step: [s.shown(0) for s in run.statements] for step, run in runs.items()
            }
            return outcome
        if checking and len(schemas) < 3:
            raise NotVerified(name, "Knex cannot run it up, down, up: " + "; ".join(outcome.flags))
        if checking:
            migration = next(m for m in load_from(self.into) if m.name == name)
        else:
            migration = self.stage(name, runs["up"], runs["down"])
        if migration.transaction != runs["up"].transaction:
            want = "in a transaction" if runs["up"].transaction else "without a transaction"
            raise NotVerified(
                name, f"Knex runs it {want}; the files' '{NO_TRANSACTION_MARKER}' marker disagrees"
            )
        self.verify(migration, schemas, states)
        if checking:
            outcome.status = "verified"
        else:
            for path in (migration.up_file, migration.down_file):
                shutil.move(path, self.into / path.name)
            outcome.status = "ported"
        if checking and outcome.flags:
            # A hand-written port of a flagged migration: the schemas agree; the flags remain
            # for the person who wrote it.
            outcome.notes += [f"flag on Knex's run: {flag}" for flag in outcome.flags]
            outcome.flags = []
        return outcome

    def stage(self, name: str, up: KnexRun, down: KnexRun) -> Migration:
        """Write both files into the staging folder (not yet the migrations folder)."""
        stem = name.removesuffix(".js")
        files = {}
        for direction, run in (("up", up), ("down", down)):
            try:
                text = render(run.statements, up.transaction)
            except ValueError as exc:
                raise NotVerified(name, f"cannot write its {direction}: {exc}") from exc
            path = self.staging / f"{stem}.{direction}.sql"
            path.write_text(text, encoding="utf-8")
            files[direction] = path
        return Migration(name, files["up"], files["down"])

    def with_missing_roles(self, name: str, run: KnexRun, outcome: Outcome) -> KnexRun:
        """Knex's up failed on a role the scratch server lacks (a migration grants to it):
        create the role for this run (:class:`ScratchRoles`) and run the up again. Only a
        migration Knex ran in a transaction is retried: its failure left nothing behind."""
        while not run.ok and run.transaction and (role := missing_role(run.error)) is not None:
            if not self.roles.create(role):
                break
            outcome.notes.append(
                f"created role {role} (NOLOGIN) on the scratch server for this run: the "
                "migration grants to it, so every database it migrates needs that role too "
                f"(the replay and the baseline fail without it; see {RUNBOOK})"
            )
            run = self.knex_run(name, "up")
        if not run.ok and (role := missing_role(run.error)) is not None:
            run.error = (
                f"{run.error} (a migration that runs without a transaction is not retried: "
                f"create the role on this server, e.g. CREATE ROLE {role} NOLOGIN, and run "
                "the tool again)"
            )
        return run

    def verify(
        self, migration: Migration, schemas: dict[str, str], states: dict[str, list[str]]
    ) -> None:
        """Bazooka's migrator replays the files: up, down, up; after each, the schema must be
        Knex's, and so must everything else the database holds (rows, comments, privileges,
        sequence positions)."""
        staged = [migration] if migration.up_file.parent == self.staging else []
        known = self.known(migration.name, staged)
        for step, action in (
            ("up", migrator.migrate),
            ("down", migrator.rollback),
            ("up again", migrator.migrate),
        ):
            try:
                action(self.b.conn, known)
            except Exception as exc:  # any failure of the replay is the verdict
                raise NotVerified(migration.name, f"Bazooka's {step} fails: {exc}") from exc
            ours = self.b.schema()
            if fingerprint(ours) != fingerprint(schemas[step]):
                raise NotVerified(
                    migration.name,
                    f"after Bazooka's {step} the schema differs from Knex's: "
                    + first_difference(schemas[step], ours),
                )
            difference = state_difference(states[step], self.b.state(), "Knex", "Bazooka")
            if difference is not None:
                raise NotVerified(
                    migration.name,
                    f"after Bazooka's {step} the database differs from Knex's (rows, comments, "
                    f"privileges or sequences): {difference}",
                )


def run(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> int:
    """The command line; returns the exit code."""
    args = parse_args(argv)
    try:
        return _run(args, out)
    except UsageError as exc:
        out.write(f"port_migrations: {exc}\n")
        return EXIT_USAGE
    except (ToolError, BazookaError) as exc:
        out.write(f"port_migrations: {exc}\n")
        return EXIT_FAILED


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="port_migrations.py",
        description="Port new upstream Knex migrations into Bazooka, verified against Knex.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        type=Path,
        metavar="PATH",
        help="upstream migrations directory (holds migration_files/ and helpers.ts)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="port only these (Knex name, file name, stem or timestamp)",
    )
    parser.add_argument(
        "--check",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="verify these bundled migrations against Knex ('all' for every one); writes nothing",
    )
    parser.add_argument(
        "--into",
        type=Path,
        metavar="DIR",
        help=f"migrations folder to port into (default: {BUNDLED.relative_to(ROOT)})",
    )
    snapshots = parser.add_mutually_exclusive_group()
    snapshots.add_argument(
        "--snapshots",
        type=Path,
        metavar="DIR",
        help=f"snapshots folder to regenerate (default with the bundled folder: "
        f"{SNAPSHOTS.relative_to(ROOT)}; required with --into)",
    )
    snapshots.add_argument(
        "--no-snapshots", action="store_true", help="do not regenerate the snapshots"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="bound on each Knex run (default 600)",
    )
    return parser.parse_args(argv)


def _run(args: argparse.Namespace, out: IO[str]) -> int:
    source: Path = args.source.resolve()
    if not (source / "migration_files").is_dir():
        raise UsageError(f"{source} has no migration_files/ folder")
    into: Path = (args.into or BUNDLED).resolve()
    if not into.is_dir():
        raise UsageError(f"--into {into}: no such folder")
    snapshots: Path | None = None
    if not args.no_snapshots:
        if args.snapshots is None and into != BUNDLED.resolve():
            raise UsageError("--into needs --snapshots DIR or --no-snapshots")
        snapshots = (args.snapshots or SNAPSHOTS).resolve()
    for tool in ("pg_dump",):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found on PATH")
    started = time.monotonic()
    ensure_node_packages(out)
    base = Settings.from_env()
    roles = ScratchRoles(base)
    try:
        return _port(
            args,
            source=source,
            into=into,
            snapshots=snapshots,
            started=started,
            base=base,
            roles=roles,
            out=out,
        )
    finally:
        roles.drop(out)


def _port(
    args: argparse.Namespace,
    *,
    source: Path,
    into: Path,
    snapshots: Path | None,
    started: float,
    base: Settings,
    roles: ScratchRoles,
    out: IO[str],
) -> int:
    with tempfile.TemporaryDirectory(prefix="bazooka-port-") as tmp:
        work = Path(tmp)
        (work / "staging").mkdir()
        knex = KnexSession(args.timeout)
        try:
            compiled = knex.request(
                {"op": "compile", "from": str(source), "to": str(work / "build")}
            )
            if not compiled.get("ok"):
                raise ToolError(f"cannot compile {source}: {compiled.get('error')}")
            upstream = [m["name"] for m in compiled["migrations"]]
            bundled = [m.name for m in load_from(into)]
            names = sorted(set(upstream) | set(bundled))
            only = [resolve_name(a, upstream) for a in args.only]
            check_args = list(args.check)
            if "all" in check_args:
                check_args = [n for n in bundled if n in set(upstream)]
            check = [resolve_name(a, names) for a in check_args]
            plan = make_plan(upstream, bundled, only, check)
            work_items = [n for n in plan.order if plan.action[n] != "bundled"]
            out.write(
                f"Upstream {source}: {len(upstream)} migration(s) (TypeScript "
                f"{compiled.get('typescript')}); {into}: {len(bundled)} bundled; "
                f"to port: {sum(plan.action[n] == 'port' for n in work_items)}, "
                f"to check: {sum(plan.action[n] == 'check' for n in work_items)}\n"
            )
            if plan.bundled_only:
                shown = ", ".join(plan.bundled_only[:3])
                more = len(plan.bundled_only) - 3
                out.write(
                    f"  note: {len(plan.bundled_only)} bundled migration(s) are not upstream: "
                    f"{shown}{f' and {more} more' if more > 0 else ''}\n"
                )
            if not work_items:
                out.write("Nothing to port: this folder has every upstream migration.\n")
                return EXIT_OK
            with scratch_databases(base, "knex", "bazooka") as databases:
                versions = knex.request(
                    {"op": "open", "connection": _knex_connection(databases["knex"].settings)}
                )
                if not versions.get("ok"):
                    raise ToolError(f"Knex cannot connect: {versions.get('error')}")
                errors = _compile_errors(compiled, out)
                porter = Porter(
                    knex=knex,
                    build=work / "build",
                    into=into,
                    staging=work / "staging",
                    databases=databases,
                    roles=roles,
                )
                try:
                    outcomes = _work(porter, plan, work_items, errors, out)
                finally:
                    with contextlib.suppress(ToolError):  # before the databases are dropped
                        knex.request({"op": "disconnect"})
        finally:
            knex.close()
    return _finish(outcomes, plan=plan, into=into, snapshots=snapshots, started=started, out=out)


def _compile_errors(compiled: dict[str, Any], out: IO[str]) -> dict[str, str]:
    """TypeScript's syntax errors by migration name; others (helpers) are printed."""
    names = {m["file"]: m["name"] for m in compiled["migrations"]}
    errors: dict[str, str] = {}
    for file, error in (compiled.get("errors") or {}).items():
        if file in names:
            errors[names[file]] = error
        else:
            out.write(f"  warning: {file} does not compile: {error}\n")
    return errors


def _knex_connection(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.db_hostname,
        "port": settings.db_port,
        "user": settings.db_username,
        "password": settings.db_password.get_secret_value(),
        "database": settings.db_name,
    }


def _work(
    porter: Porter,
    plan: Plan,
    work_items: list[str],
    compile_errors: dict[str, str],
    out: IO[str],
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    pending_bundled: str | None = None
    for name in plan.order:
        action = plan.action[name]
        if action == "bundled":
            pending_bundled = name
            continue
        if pending_bundled is not None:
            porter.advance(pending_bundled)
            pending_bundled = None
        number = len(outcomes) + 1
        out.write(f"[{number}/{len(work_items)}] {action} {name} ... ")
        out.flush()
        started = time.monotonic()
        compile_error = compile_errors.get(name)
        if compile_error:
            outcome = Outcome(
                name, action, "flagged", [f"errors: does not compile: {compile_error}"]
            )
        else:
            try:
                outcome = porter.process(name, action)
            except NotVerified as exc:
                outcome = Outcome(name, action, "not verified", [exc.detail])
        outcome.seconds = time.monotonic() - started
        outcomes.append(outcome)
        out.write(f"{outcome.status} ({outcome.seconds:.1f} s)\n")
        for note in outcome.notes:
            out.write(f"    note: {note}\n")
        if outcome.status in ("flagged", "not verified"):
            for item in plan.order:
                if item > name and plan.action[item] != "bundled":
                    outcomes.append(Outcome(item, plan.action[item], "blocked"))
            break
    return outcomes


def _finish(
    outcomes: list[Outcome],
    *,
    plan: Plan,
    into: Path,
    snapshots: Path | None,
    started: float,
    out: IO[str],
) -> int:
    ported = [o for o in outcomes if o.status == "ported"]
    failed = next((o for o in outcomes if o.status == "not verified"), None)
    flagged = [o for o in outcomes if o.status == "flagged"]
    blocked = [o for o in outcomes if o.status == "blocked"]
    porting = time.monotonic() - started
    not_proven: str | None = None
    if ported and snapshots is not None:
        snapshots.mkdir(parents=True, exist_ok=True)
        try:
            regenerate_snapshots(into, snapshots, out)
        except BaselineMismatch as exc:
            not_proven = str(exc)
    regenerating = time.monotonic() - started - porting
    out.write(
        f"\n{len(ported)} ported and verified, "
        f"{sum(o.status == 'verified' for o in outcomes)} checked and verified "
        f"in {porting:.1f} s"
        + (f" + {regenerating:.1f} s for the snapshots" if ported else "")
        + f"; files in {into}\n"
    )
    if plan.later:
        out.write(f"Not bundled, left for a later run: {', '.join(plan.later)}\n")
    if flagged or blocked:
        out.write(f"\nReview list (nothing was written for these; see {RUNBOOK}):\n")
        for outcome in flagged:
            out.write(f"  - {outcome.name}\n")
            for flag in outcome.flags:
                out.write(f"      {flag}\n")
            for step, statements in outcome.captured.items():
                out.write(f"      Knex sent ({step}):\n")
                for statement in statements or ["(nothing)"]:
                    out.write(f"        {statement}\n")
        if blocked:
            first = (failed or flagged[0]).name
            out.write(f"  - not attempted, they come after {first}:\n")
            for outcome in blocked:
                out.write(f"      {outcome.name}\n")
    if failed is not None:
        out.write(
            f"\nNOT VERIFIED: {failed.name}: {failed.flags[0]}\n"
            f"Nothing was written for it. See {RUNBOOK}.\n"
        )
        return EXIT_FAILED
    if not_proven is not None:
        out.write(
            f"\nBASELINE NOT PROVEN: {not_proven}\nThe ported migrations are written; the "
            "snapshots, the schema model and the baseline are not (the old ones are stale: the "
            f"tests fail until this is resolved). See {RUNBOOK}.\n"
        )
        return EXIT_FAILED
    return EXIT_REVIEW if flagged else EXIT_OK


def regenerate_snapshots(into: Path, snapshots: Path, out: IO[str]) -> None:
    """tests/tools/update_snapshots.py for this folder; say if an existing step changed."""
    from tools.update_snapshots import regenerate  # noqa: PLC0415

    steps = snapshots / "steps.json"
    previous = json.loads(steps.read_text()) if steps.exists() else None
    out.write(f"Regenerating the snapshots in {snapshots} ...\n")
    out.flush()
    # The bundled migrations' model and baseline are package data; another folder's go with
    # its snapshots.
    data = DATA if into == BUNDLED.resolve() else snapshots
    with contextlib.redirect_stdout(out):
        regenerate(load_from(into), snapshots, data)
    if previous is None:
        return
    current = json.loads(steps.read_text())
    # The steps before the first new or moved migration must keep their fingerprints.
    same = ["000"]
    for step, name in sorted(previous["migrations"].items()):
        if current["migrations"].get(step) != name:
            break
        same.append(step)
    changed = [step for step in same if current["up"].get(step) != previous["up"].get(step)]
    if changed:
        out.write(
            f"WARNING: the schema after existing step(s) {', '.join(changed)} changed: "
            "an existing migration or the PostgreSQL version differs; review the diff\n"
        )


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
