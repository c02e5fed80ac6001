"""What each pending migration will lock: tables, lock modes, rewrites and scans, with sizes.

``bazooka plan --migrate`` shows, for every statement of every pending migration, the tables it
touches, the lock it takes on each, and whether it rewrites the table, scans it or builds an
index while holding that lock; with each existing table's size from the catalog, and a warning
for every such statement whose lock blocks reads or writes on a table above the thresholds.

Statements are read with pglast (libpg_query: PostgreSQL's own parser), never with regular
expressions. pglast is imported here only, and this module only on the plan path (a dry run):
``run`` never pays its import (about 50 ms). A statement or subcommand this module does not
know is reported as ``unknown`` with the reason, never guessed.

Lock modes are PostgreSQL 15's (the server the project targets and tests against), from:

* "13.3.1. Table-Level Locks" (https://www.postgresql.org/docs/15/explicit-locking.html): which
  command takes which mode, and the conflict table (ACCESS EXCLUSIVE conflicts with every mode,
  plain ``SELECT``'s ACCESS SHARE included; SHARE, SHARE ROW EXCLUSIVE and EXCLUSIVE conflict
  with ROW EXCLUSIVE, the mode of ``INSERT``/``UPDATE``/``DELETE``).
* "ALTER TABLE" (https://www.postgresql.org/docs/15/sql-altertable.html): "An ACCESS EXCLUSIVE
  lock is acquired unless explicitly noted"; ``ADD FOREIGN KEY`` takes SHARE ROW EXCLUSIVE on
  the table and on the referenced table; ``VALIDATE CONSTRAINT`` SHARE UPDATE EXCLUSIVE; when
  several subcommands are given, the strictest lock any of them needs is taken. Its Notes:
  changing a column's type rewrites the table and its indexes (unless the old type is binary
  coercible to the new one: not knowable from the SQL alone, so counted as a rewrite); adding
  a column with a volatile default rewrites it, a non-volatile default does not; adding a
  ``CHECK`` or ``NOT NULL`` constraint scans the table (``SET NOT NULL`` too), unless the
  constraint is ``NOT VALID``; a new ``NOT NULL`` column with a non-null non-volatile default
  needs no scan.
* "CREATE INDEX" (https://www.postgresql.org/docs/15/sql-createindex.html): SHARE (blocks
  writes, not reads) for the whole build; ``CONCURRENTLY``: SHARE UPDATE EXCLUSIVE, which blocks
  neither. "DROP INDEX": ACCESS EXCLUSIVE on the index's table; ``CONCURRENTLY``: SHARE UPDATE
  EXCLUSIVE. "CREATE TABLE": a ``REFERENCES`` clause takes SHARE ROW EXCLUSIVE on the
  referenced table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pglast
import pglast.visitors
import psycopg
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

from bazooka.errors import PostgresError
from bazooka.outcome import table_size
from bazooka.postgres.migrations_source import Direction, Migration

if TYPE_CHECKING:
    from bazooka.postgres.connection import Connection

INDEXER_SCHEMA = "public"
DEFAULT_WARN_ROWS = 1_000_000
DEFAULT_WARN_BYTES = 1 << 30  # 1 GiB
_SHOWN_CHARS = 100  # how much of a statement a report shows
SIZE_LOCK_TIMEOUT_MS = 5_000  # how long reading a table's size waits for a lock held on it


class Lock(StrEnum):
    """PostgreSQL's table lock modes, weakest first (13.3.1, Table 13.2)."""

    ACCESS_SHARE = "ACCESS SHARE"
    ROW_SHARE = "ROW SHARE"
    ROW_EXCLUSIVE = "ROW EXCLUSIVE"
    SHARE_UPDATE_EXCLUSIVE = "SHARE UPDATE EXCLUSIVE"
    SHARE = "SHARE"
    SHARE_ROW_EXCLUSIVE = "SHARE ROW EXCLUSIVE"
    EXCLUSIVE = "EXCLUSIVE"
    ACCESS_EXCLUSIVE = "ACCESS EXCLUSIVE"

    @property
    def strength(self) -> int:
        """Its rank: the strictest of several is the one with the highest."""
        return list(Lock).index(self)

    @property
    def blocks(self) -> str | None:
        """What of a live indexer's traffic it blocks while held: plain reads take ACCESS SHARE
        (conflicts with ACCESS EXCLUSIVE only), writes ROW EXCLUSIVE (conflicts with SHARE and
        every stricter mode but SHARE UPDATE EXCLUSIVE)."""
        if self is Lock.ACCESS_EXCLUSIVE:
            return "reads and writes"
        if self in (Lock.SHARE, Lock.SHARE_ROW_EXCLUSIVE, Lock.EXCLUSIVE):
            return "writes"
        return None


class Work(StrEnum):
    """What the statement does to the table's existing rows while it holds its lock."""

    NONE = "none"  # catalog only: quick once the lock is granted
    SCAN = "scan"  # reads every row (a constraint check, an UPDATE without WHERE, ...)
    REWRITE = "rewrite"  # writes a new copy of the table and its indexes
    INDEX_BUILD = "index build"  # reads every row and builds an index
    CONCURRENT_INDEX_BUILD = "concurrent index build"  # the same without blocking writes

    @property
    def heavy(self) -> bool:
        """Whether its duration grows with the table's size."""
        return self is not Work.NONE


@dataclass(frozen=True)
class TableLock:
    """One table a statement touches: the lock it takes on it and the work done under it."""

    table: str
    lock: Lock
    work: Work = Work.NONE
    new: bool = False  # created earlier in this batch (or by this very statement): empty
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {"table": self.table, "lock": self.lock.value, "work": self.work}
        if self.lock.blocks is not None:
            out["blocks"] = self.lock.blocks
        if self.new:
            out["new_in_batch"] = True
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class StatementLocks:
    """One statement: what it is, the tables it locks, or why it is not understood."""

    number: int  # 1-based, within its migration
    text: str  # its start, on one line
    kind: str
    tables: tuple[TableLock, ...] = ()
    unknown: str | None = None  # why it could not be classified ("unknown"), when it could not

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "statement": self.number,
            "sql": self.text,
            "kind": self.kind,
            "tables": [t.to_dict() for t in self.tables],
        }
        if self.unknown is not None:
            out["unknown"] = self.unknown
        return out


@dataclass(frozen=True)
class MigrationLocks:
    """One pending migration's statements."""

    name: str
    statements: tuple[StatementLocks, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"migration": self.name, "statements": [s.to_dict() for s in self.statements]}


@dataclass(frozen=True)
class TableSize:
    """An existing table's size from the catalog."""

    rows: int | None  # reltuples; None when never vacuumed nor analyzed (reltuples = -1)
    bytes: int  # pg_total_relation_size: heap, TOAST and indexes

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``rows`` says when it is not known)."""
        rows: int | str = self.rows if self.rows is not None else "unknown: never analyzed"
        return {"estimated_rows": rows, "bytes": self.bytes}

    def describe(self) -> str:
        """``~1,234,567 rows, 1.2 GiB``."""
        return table_size(self.rows, self.bytes)


@dataclass(frozen=True)
class LockWarning:
    """A heavy statement holding a blocking lock on a large table."""

    migration: str
    statement: int
    text: str
    table: str
    size: TableSize
    lock: Lock
    work: Work

    @property
    def message(self) -> str:
        """One sentence for the operator."""
        return (
            f"{self.migration} statement {self.statement} ({self.text}): {self.work} of "
            f"{self.table} ({self.size.describe()}) under {self.lock} lock, which blocks "
            f"{self.lock.blocks} on {self.table} until it ends"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "migration": self.migration,
            "statement": self.statement,
            "sql": self.text,
            "table": self.table,
            **self.size.to_dict(),
            "lock": self.lock.value,
            "work": self.work.value,
            "blocks": self.lock.blocks,
            "message": self.message,
        }


@dataclass(frozen=True)
class LockReport:
    """The lock report of a batch: per migration and statement, the sizes, the warnings."""

    migrations: tuple[MigrationLocks, ...]
    sizes: Mapping[str, TableSize]
    warn_rows: int
    warn_bytes: int
    warnings: tuple[LockWarning, ...] = field(default=())

    @property
    def unknown_count(self) -> int:
        """How many statements were not understood."""
        return sum(1 for m in self.migrations for s in m.statements if s.unknown is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "thresholds": {"rows": self.warn_rows, "bytes": self.warn_bytes},
            "table_sizes": {name: size.to_dict() for name, size in sorted(self.sizes.items())},
            "migrations": [m.to_dict() for m in self.migrations],
            "unknown_statements": self.unknown_count,
            "warnings": [w.to_dict() for w in self.warnings],
        }


# --- classification (pure) --------------------------------------------------------------------


class _Batch:
    """What earlier statements of the batch did that later ones depend on."""

    def __init__(self, index_owner: Mapping[str, str] | None) -> None:
        self.created: set[str] = set()  # tables created in the batch: empty when touched
        # index -> its table; complete (read from the catalog, or an empty schema) unless None
        self.index_owner: dict[str, str] = dict(index_owner or {})
        self.catalog_known = index_owner is not None

    def touch(
        self, table: str, lock: Lock, work: Work = Work.NONE, note: str | None = None
    ) -> TableLock:
        return TableLock(table, lock, work, table in self.created, note)


def classify(
    migrations: Sequence[Migration],
    direction: Direction = Direction.UP,
    *,
    index_owner: Mapping[str, str] | None = None,
) -> tuple[MigrationLocks, ...]:
    """Classify every statement of ``migrations`` (in order, as one batch) in ``direction``.

    ``index_owner`` maps every existing index to its table (for ``DROP INDEX``; ``{}``: an empty
    schema; None: not known, so a ``DROP INDEX`` of an index not created earlier in the batch is
    ``unknown``). Tables created earlier in the batch are reported as new (empty).
    """
    batch = _Batch(index_owner)
    return tuple(
        MigrationLocks(m.name, tuple(_classify_script(m.sql(direction), batch))) for m in migrations
    )


def classify_sql(sql: str, *, index_owner: Mapping[str, str] | None = None) -> list[StatementLocks]:
    """Classify the statements of one script (tests, tools); ``index_owner`` as for
    :func:`classify`."""
    return list(_classify_script(sql, _Batch(index_owner)))


def _classify_script(sql: str, batch: _Batch) -> Iterator[StatementLocks]:
    try:
        parsed = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        yield StatementLocks(1, _shown(sql), "unparsable", unknown=f"pglast: {exc}")
        return
    for number, raw in enumerate(parsed, start=1):
        start = raw.stmt_location or 0
        text = sql[start : start + raw.stmt_len] if raw.stmt_len else sql[start:]
        yield _classify(number, _shown(text), raw.stmt, batch)


def _shown(text: str) -> str:
    """The statement on one line, without the comment lines before it, cut if long."""
    lines = text.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    one_line = " ".join(" ".join(lines).split())
    if len(one_line) > _SHOWN_CHARS:
        return one_line[: _SHOWN_CHARS - 1] + "…"
    return one_line


def _classify(number: int, text: str, stmt: Any, batch: _Batch) -> StatementLocks:
    handler = _HANDLERS.get(type(stmt))
    kind = type(stmt).__name__
    if handler is None:
        return StatementLocks(number, text, kind, unknown=f"statement kind {kind} not classified")
    kind, tables, unknown = handler(stmt, batch)
    return StatementLocks(number, text, kind, tuple(tables), unknown)


_Classified = tuple[str, list[TableLock], str | None]


def _create_table(stmt: ast.CreateStmt, batch: _Batch) -> _Classified:
    name = stmt.relation.relname
    tables = [TableLock(name, Lock.ACCESS_EXCLUSIVE, new=True)]
    for element in stmt.tableElts or ():
        constraints = (
            element.constraints or () if isinstance(element, ast.ColumnDef) else (element,)
        )
        for constraint in constraints:
            if (
                isinstance(constraint, ast.Constraint)
                and constraint.contype is ConstrType.CONSTR_FOREIGN
            ):
                # CREATE TABLE: REFERENCES takes SHARE ROW EXCLUSIVE on the referenced table.
                tables.append(batch.touch(constraint.pktable.relname, Lock.SHARE_ROW_EXCLUSIVE))
    batch.created.add(name)
    return "CREATE TABLE", tables, None


def _create_table_as(stmt: ast.CreateTableAsStmt, batch: _Batch) -> _Classified:
    name = stmt.into.rel.relname
    kind = (
        "CREATE MATERIALIZED VIEW"
        if stmt.objtype is ObjectType.OBJECT_MATVIEW
        else ("CREATE TABLE AS")
    )
    tables = [TableLock(name, Lock.ACCESS_EXCLUSIVE, new=True)]
    # The query reads its tables as a SELECT does: ACCESS SHARE (blocks nothing but ACCESS
    # EXCLUSIVE), scanning them (unless WITH NO DATA).
    work = Work.NONE if stmt.into.skipData else Work.SCAN
    for source in sorted(_relations(stmt.query) - {name}):
        tables.append(batch.touch(source, Lock.ACCESS_SHARE, work))
    batch.created.add(name)
    return kind, tables, None


def _relations(node: Any) -> set[str]:
    """The relation names a query reads (common table expression names included: harmless,
    they are looked up in the catalog and found absent)."""
    found: set[str] = set()

    class _Visitor(pglast.visitors.Visitor):
        def visit_RangeVar(self, _ancestors: Any, node: ast.RangeVar) -> None:  # noqa: N802
            found.add(node.relname)

    _Visitor()(node)
    return found


def _create_index(stmt: ast.IndexStmt, batch: _Batch) -> _Classified:
    table = stmt.relation.relname
    if stmt.idxname:
        batch.index_owner[stmt.idxname] = table
    kind = "CREATE UNIQUE INDEX" if stmt.unique else "CREATE INDEX"
    if stmt.concurrent:
        return (
            kind + " CONCURRENTLY",
            [batch.touch(table, Lock.SHARE_UPDATE_EXCLUSIVE, Work.CONCURRENT_INDEX_BUILD)],
            None,
        )
    return kind, [batch.touch(table, Lock.SHARE, Work.INDEX_BUILD)], None


def _drop(stmt: ast.DropStmt, batch: _Batch) -> _Classified:
    objects = [_last_name(o) for o in stmt.objects or ()]
    match stmt.removeType:
        case ObjectType.OBJECT_TABLE | ObjectType.OBJECT_MATVIEW | ObjectType.OBJECT_VIEW:
            what = stmt.removeType.name.removeprefix("OBJECT_").replace(
                "MATVIEW", "MATERIALIZED VIEW"
            )
            tables = [batch.touch(name, Lock.ACCESS_EXCLUSIVE) for name in objects]
            return f"DROP {what}", tables, None
        case ObjectType.OBJECT_INDEX:
            lock = Lock.SHARE_UPDATE_EXCLUSIVE if stmt.concurrent else Lock.ACCESS_EXCLUSIVE
            kind = "DROP INDEX CONCURRENTLY" if stmt.concurrent else "DROP INDEX"
            tables, missing = [], []
            for index in objects:
                owner = batch.index_owner.pop(index, None)
                if owner is None:
                    missing.append(index)
                else:
                    tables.append(batch.touch(owner, lock, note=f"drops index {index}"))
            if missing and not tables and stmt.missing_ok and batch.catalog_known:
                kind += " IF EXISTS (no such index: does nothing)"
            return kind, tables, _missing_indexes(missing, batch, if_exists=stmt.missing_ok)
    return f"DROP {stmt.removeType.name}", [], f"DROP of {stmt.removeType.name} not classified"


def _missing_indexes(missing: list[str], batch: _Batch, *, if_exists: bool) -> str | None:
    """Why a ``DROP INDEX`` of indexes the schema does not hold is ``unknown`` (None when it
    is known to do nothing: ``IF EXISTS`` and the whole catalog known)."""
    if not missing or (if_exists and batch.catalog_known):
        return None
    names = ", ".join(missing)
    if batch.catalog_known:
        return f"no index {names} in the schema or earlier in the batch: the statement would fail"
    return f"the table of index {names} is not known (the catalog was not read)"


def _last_name(node: Any) -> str:
    """The object's own name (``schema.name`` -> ``name``)."""
    if isinstance(node, tuple | list):
        return str(node[-1].sval)
    return str(node.sval)


def _rename(stmt: ast.RenameStmt, batch: _Batch) -> _Classified:
    if stmt.renameType in (ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_TABLE) and stmt.relation:
        # ALTER TABLE: RENAME takes ACCESS EXCLUSIVE (not noted otherwise).
        what = "COLUMN" if stmt.renameType is ObjectType.OBJECT_COLUMN else "TABLE"
        table = stmt.relation.relname
        if stmt.renameType is ObjectType.OBJECT_TABLE and table in batch.created:
            batch.created.add(stmt.newname)
        return f"ALTER TABLE RENAME {what}", [batch.touch(table, Lock.ACCESS_EXCLUSIVE)], None
    return "RENAME", [], f"RENAME of {stmt.renameType.name} not classified"


def _dml(stmt: Any, batch: _Batch) -> _Classified:
    table = stmt.relation.relname
    verb = {ast.InsertStmt: "INSERT", ast.UpdateStmt: "UPDATE", ast.DeleteStmt: "DELETE"}[
        type(stmt)
    ]
    # INSERT/UPDATE/DELETE: ROW EXCLUSIVE (blocks no reader or writer, only the strong locks).
    if verb == "INSERT":
        return verb, [batch.touch(table, Lock.ROW_EXCLUSIVE)], None
    everything = stmt.whereClause is None
    return (
        verb + (" without WHERE" if everything else ""),
        [
            batch.touch(
                table,
                Lock.ROW_EXCLUSIVE,
                Work.SCAN if everything else Work.NONE,
                None if everything else "the rows its WHERE selects",
            )
        ],
        None,
    )


# --- ALTER TABLE ------------------------------------------------------------------------------

# ALTER TABLE's subcommands that touch only the catalog under ACCESS EXCLUSIVE.
_CATALOG_ONLY = {
    AlterTableType.AT_ColumnDefault: "ALTER COLUMN SET/DROP DEFAULT",
    AlterTableType.AT_DropNotNull: "ALTER COLUMN DROP NOT NULL",
    AlterTableType.AT_DropColumn: "DROP COLUMN",
    AlterTableType.AT_DropConstraint: "DROP CONSTRAINT",
}


@dataclass
class _Sub:
    """One subcommand's needs."""

    kind: str
    lock: Lock
    work: Work = Work.NONE
    also: list[tuple[str, Lock]] = field(default_factory=list)  # other tables it locks
    unknown: str | None = None
    note: str | None = None


def _alter_table(stmt: ast.AlterTableStmt, batch: _Batch) -> _Classified:
    if stmt.objtype is not ObjectType.OBJECT_TABLE:
        return "ALTER", [], f"ALTER {stmt.objtype.name} not classified"
    table = stmt.relation.relname
    subs = [_subcommand(cmd) for cmd in stmt.cmds]
    # Several subcommands: the strictest lock any of them needs, for the whole statement.
    lock = max((s.lock for s in subs), key=lambda lk: lk.strength)
    work = max((s.work for s in subs), key=_WORK_ORDER.index)
    notes = [s.note for s in subs if s.note]
    tables = [batch.touch(table, lock, work, "; ".join(notes) or None)]
    for other, other_lock in (a for s in subs for a in s.also):
        if other != table:
            tables.append(batch.touch(other, other_lock))
    unknowns = [s.unknown for s in subs if s.unknown]
    kind = "ALTER TABLE " + ", ".join(dict.fromkeys(s.kind for s in subs))
    return kind, tables, "; ".join(unknowns) or None


_WORK_ORDER = [Work.NONE, Work.CONCURRENT_INDEX_BUILD, Work.SCAN, Work.INDEX_BUILD, Work.REWRITE]


def _subcommand(cmd: ast.AlterTableCmd) -> _Sub:  # noqa: PLR0911 - one case per subcommand
    subtype = cmd.subtype
    if subtype in _CATALOG_ONLY:
        return _Sub(_CATALOG_ONLY[subtype], Lock.ACCESS_EXCLUSIVE)
    match subtype:
        case AlterTableType.AT_AddColumn:
            return _add_column(cmd.def_)
        case AlterTableType.AT_SetNotNull:
            # Scans the table unless a valid CHECK constraint proves no NULL (not known here).
            return _Sub("ALTER COLUMN SET NOT NULL", Lock.ACCESS_EXCLUSIVE, Work.SCAN)
        case AlterTableType.AT_AlterColumnType:
            return _Sub(
                "ALTER COLUMN TYPE",
                Lock.ACCESS_EXCLUSIVE,
                Work.REWRITE,
                note="rewrites unless the old type is binary coercible to the new one",
            )
        case AlterTableType.AT_AddConstraint:
            return _add_constraint(cmd.def_)
        case AlterTableType.AT_ValidateConstraint:
            return _Sub("VALIDATE CONSTRAINT", Lock.SHARE_UPDATE_EXCLUSIVE, Work.SCAN)
    return _Sub(
        subtype.name, Lock.ACCESS_EXCLUSIVE, unknown=f"ALTER TABLE {subtype.name} not classified"
    )


def _add_column(column: ast.ColumnDef) -> _Sub:
    sub = _Sub("ADD COLUMN", Lock.ACCESS_EXCLUSIVE)
    constraints = list(column.constraints or ())
    types = {c.contype for c in constraints}
    default = next(
        (c.raw_expr for c in constraints if c.contype is ConstrType.CONSTR_DEFAULT), None
    )
    type_name = column.typeName.names[-1].sval if column.typeName else ""
    if type_name in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2") or (
        ConstrType.CONSTR_IDENTITY in types or ConstrType.CONSTR_GENERATED in types
    ):
        sub.work, sub.note = Work.REWRITE, "a serial, identity or generated column fills every row"
    elif default is not None and not _non_volatile(default):
        sub.work, sub.note = Work.REWRITE, "a volatile (or unrecognised) default fills every row"
    elif ConstrType.CONSTR_PRIMARY in types or ConstrType.CONSTR_UNIQUE in types:
        sub.work = Work.INDEX_BUILD
    elif ConstrType.CONSTR_CHECK in types:
        sub.work, sub.note = Work.SCAN, "the new column's CHECK is verified on every row"
    elif ConstrType.CONSTR_NOTNULL in types and (default is None or _is_null(default)):
        sub.work, sub.note = Work.SCAN, "NOT NULL without a default is verified on every row"
    for constraint in constraints:
        if constraint.contype is ConstrType.CONSTR_FOREIGN:
            sub.also.append((constraint.pktable.relname, Lock.SHARE_ROW_EXCLUSIVE))
            if sub.work is Work.NONE:
                sub.work = Work.SCAN
    return sub


def _non_volatile(expr: Any) -> bool:
    """Whether a default is surely non-volatile: constants, casts of constants, the SQL value
    functions (``CURRENT_TIMESTAMP``, ...; stable) and ``now()``. Anything else may be volatile
    (``random()``, ``gen_random_uuid()``, ``clock_timestamp()``): counted as a rewrite."""
    if isinstance(expr, ast.A_Const | ast.SQLValueFunction):
        return True
    if isinstance(expr, ast.TypeCast):
        return _non_volatile(expr.arg)
    if isinstance(expr, ast.FuncCall):
        return [n.sval for n in expr.funcname][-1] == "now" and not expr.args
    return False


def _is_null(expr: Any) -> bool:
    return isinstance(expr, ast.A_Const) and bool(expr.isnull)


def _add_constraint(constraint: ast.Constraint) -> _Sub:
    validated = not constraint.skip_validation
    match constraint.contype:
        case ConstrType.CONSTR_CHECK:
            return _Sub(
                "ADD CONSTRAINT CHECK" + ("" if validated else " NOT VALID"),
                Lock.ACCESS_EXCLUSIVE,
                Work.SCAN if validated else Work.NONE,
            )
        case ConstrType.CONSTR_FOREIGN:
            return _Sub(
                "ADD CONSTRAINT FOREIGN KEY" + ("" if validated else " NOT VALID"),
                Lock.SHARE_ROW_EXCLUSIVE,
                Work.SCAN if validated else Work.NONE,
                also=[(constraint.pktable.relname, Lock.SHARE_ROW_EXCLUSIVE)],
            )
        case ConstrType.CONSTR_PRIMARY | ConstrType.CONSTR_UNIQUE:
            what = "PRIMARY KEY" if constraint.contype is ConstrType.CONSTR_PRIMARY else "UNIQUE"
            if constraint.indexname:  # USING INDEX: an existing index becomes the constraint
                return _Sub(f"ADD CONSTRAINT {what} USING INDEX", Lock.ACCESS_EXCLUSIVE)
            return _Sub(f"ADD CONSTRAINT {what}", Lock.ACCESS_EXCLUSIVE, Work.INDEX_BUILD)
    return _Sub(
        f"ADD CONSTRAINT {constraint.contype.name}",
        Lock.ACCESS_EXCLUSIVE,
        unknown=f"ADD CONSTRAINT {constraint.contype.name} not classified",
    )


_HANDLERS: dict[type, Any] = {
    ast.CreateStmt: _create_table,
    ast.CreateTableAsStmt: _create_table_as,
    ast.IndexStmt: _create_index,
    ast.DropStmt: _drop,
    ast.RenameStmt: _rename,
    ast.AlterTableStmt: _alter_table,
    ast.InsertStmt: _dml,
    ast.UpdateStmt: _dml,
    ast.DeleteStmt: _dml,
}


# --- the catalog ------------------------------------------------------------------------------

_SIZES = """
SELECT c.relname, c.relkind = 'i', t.relname, t.reltuples::float8,
       pg_catalog.pg_total_relation_size(t.oid)
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
  JOIN pg_catalog.pg_class t ON t.oid = COALESCE(i.indrelid, c.oid)
 WHERE n.nspname = %s AND c.relname = ANY(%s)
"""


def read_sizes(
    conn: Connection, names: Iterable[str]
) -> tuple[dict[str, TableSize], dict[str, str]]:
    """In ONE query: the size of each existing table among ``names``, and the table of each
    existing index among them (``DROP INDEX`` names an index, not its table)."""
    sizes: dict[str, TableSize] = {}
    owners: dict[str, str] = {}
    try:
        with conn.transaction():
            # pg_total_relation_size takes ACCESS SHARE on each table: a plan run while a
            # migration holds one must not wait behind it for ever (nor queue readers behind it).
            conn.execute(f"SET LOCAL lock_timeout = {SIZE_LOCK_TIMEOUT_MS}")
            rows = conn.execute(_SIZES, (INDEXER_SCHEMA, sorted(set(names)))).fetchall()
    except psycopg.errors.LockNotAvailable as exc:
        raise PostgresError(
            f"The lock report cannot read the tables' sizes: a table it needs has been locked "
            f"for more than {SIZE_LOCK_TIMEOUT_MS} ms by another session (a migration running?);"
            " plan again once it has finished"
        ) from exc
    for name, is_index, table, reltuples, total_bytes in rows:
        if is_index:
            owners[name] = table
        # reltuples -1: never vacuumed nor analyzed (PostgreSQL 14 and later).
        estimated = None if reltuples < 0 else round(reltuples)
        sizes[table] = TableSize(estimated, int(total_bytes))
    return sizes, owners


def _names(migrations: Sequence[Migration], direction: Direction) -> set[str]:
    """Every relation name the statements mention (tables and indexes), for the catalog."""
    names: set[str] = set()
    for m in migrations:
        try:
            parsed = pglast.parse_sql(m.sql(direction))
        except pglast.parser.ParseError:
            continue
        for raw in parsed:
            names |= _relations(raw.stmt)
            if isinstance(raw.stmt, ast.DropStmt):  # names, not RangeVars
                names |= {_last_name(o) for o in raw.stmt.objects or ()}
    return names


def lock_report(
    conn: Connection | None,
    migrations: Sequence[Migration],
    *,
    direction: Direction = Direction.UP,
    warn_rows: int = DEFAULT_WARN_ROWS,
    warn_bytes: int = DEFAULT_WARN_BYTES,
) -> LockReport:
    """The lock report of ``migrations`` run as one batch. ``conn`` None: an empty schema (after
    ``reset_db`` in a dry run): no sizes, every table new."""
    sizes: dict[str, TableSize] = {}
    owners: dict[str, str] = {}
    if conn is not None and migrations:
        sizes, owners = read_sizes(conn, _names(migrations, direction))
    classified = classify(migrations, direction, index_owner=owners)  # {} if empty schema
    touched = {t.table for m in classified for s in m.statements for t in s.tables}
    shown = {name: size for name, size in sizes.items() if name in touched}
    return LockReport(
        classified,
        shown,
        warn_rows,
        warn_bytes,
        tuple(find_warnings(classified, shown, warn_rows, warn_bytes)),
    )


def find_warnings(
    classified: Iterable[MigrationLocks],
    sizes: Mapping[str, TableSize],
    warn_rows: int,
    warn_bytes: int,
) -> Iterator[LockWarning]:
    """A warning per existing table (not created in the batch) of at least ``warn_rows``
    estimated rows or ``warn_bytes`` bytes that a statement rewrites, scans or indexes under a
    lock blocking reads or writes."""
    for migration in classified:
        for statement in migration.statements:
            for touch in statement.tables:
                size = sizes.get(touch.table)
                if (
                    size is None
                    or touch.new
                    or not touch.work.heavy
                    or touch.lock.blocks is None
                    or not _large(size, warn_rows, warn_bytes)
                ):
                    continue
                yield LockWarning(
                    migration.name,
                    statement.number,
                    statement.text,
                    touch.table,
                    size,
                    touch.lock,
                    touch.work,
                )


def _large(size: TableSize, warn_rows: int, warn_bytes: int) -> bool:
    return (size.rows is not None and size.rows >= warn_rows) or size.bytes >= warn_bytes
