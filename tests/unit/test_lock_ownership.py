"""One owner for Knex's lock table: the statements that read or write ``knex_migrations_lock``
are in ``postgres/lock.py`` (``liveness.py`` only watches it), and ``lock.py`` reads
``knex_migrations`` through ``bookkeeping``, which does not import the lock."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import bazooka

PACKAGE = Path(bazooka.__file__).parent
POSTGRES = PACKAGE / "postgres"
# A statement on a table: reading, writing, locking or creating it.
STATEMENT = r"(?:FROM|UPDATE|INTO|JOIN|TABLE(?: IF NOT EXISTS)?)\s+{}\b"
LOCK_SQL = re.compile(STATEMENT.format("knex_migrations_lock"), re.IGNORECASE)
ROWS_SQL = re.compile(STATEMENT.format("knex_migrations(?!_lock)"), re.IGNORECASE)


def _code_strings(path: Path) -> str:
    """Every string constant of a module (f-string parts included), docstrings excluded."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return "\n".join(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    )


def test_only_the_lock_module_has_statements_on_the_lock_table() -> None:
    found = {
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if LOCK_SQL.search(_code_strings(path))
    }
    # liveness.py reads the row's version to see whether it changes (a live migrator).
    assert found == {"postgres/lock.py", "postgres/liveness.py"}


def test_the_lock_module_reads_knex_migrations_only_through_bookkeeping() -> None:
    assert not ROWS_SQL.search(_code_strings(POSTGRES / "lock.py"))
    assert ROWS_SQL.search(_code_strings(POSTGRES / "bookkeeping.py"))


def test_bookkeeping_does_not_import_the_lock() -> None:
    tree = ast.parse((POSTGRES / "bookkeeping.py").read_text())
    imported = {
        f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {name for name in imported if "lock" in name}, imported
