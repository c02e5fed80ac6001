"""What an interrupted no-transaction migration leaves behind, repaired before it runs again.

A migration that runs outside a transaction (``CREATE INDEX CONCURRENTLY``) is not atomic: a run
killed, or cut from the server, in the middle of it leaves

* an **invalid index**: ``CREATE INDEX CONCURRENTLY`` (or ``DROP INDEX CONCURRENTLY``) stopped
  half-way. The planner never uses it, but ``IF NOT EXISTS`` would then skip the statement and
  keep the broken index for good;
* a **finished index with no bookkeeping row**: the statement completed, the run died before
  recording the migration. The migration is still pending, and a ``CREATE INDEX`` without
  ``IF NOT EXISTS`` would now fail with "already exists".

Both are leftovers of this very migration, which is pending again: before each ``CREATE INDEX``
statement of a no-transaction migration, an invalid index of that name is dropped (then
created afresh) and a valid one is kept (the statement is skipped). A WARNING line says which.
"""

from __future__ import annotations

import logging
import re

from psycopg import sql

from bazooka.logs import emit
from bazooka.postgres.connection import Connection

log = logging.getLogger(__name__)

_CREATE_INDEX = re.compile(
    r"""^\s*create\s+(?:unique\s+)?index\s+(?:concurrently\s+)?(?P<if_not_exists>if\s+not\s+exists\s+)?
        (?P<name>"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\s+on\b""",
    re.IGNORECASE | re.VERBOSE,
)
_LINE_COMMENT = re.compile(r"^\s*--[^\n]*\n", re.MULTILINE)


def created_index(statement: str) -> tuple[str, bool] | None:
    """The index a ``CREATE INDEX`` statement creates (name as PostgreSQL stores it) and
    whether it says ``IF NOT EXISTS``; None for any other statement."""
    text = statement
    while match := _LINE_COMMENT.match(text):
        text = text[match.end() :]
    found = _CREATE_INDEX.match(text)
    if found is None:
        return None
    raw = found.group("name")
    name = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw.lower()
    return name, bool(found.group("if_not_exists"))


def still_to_run(conn: Connection, statement: str, migration: str) -> bool:
    """Repair what an interrupted run of ``migration`` left for ``statement``; whether the
    statement must still run."""
    created = created_index(statement)
    if created is None:
        return True
    name, if_not_exists = created
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s AND c.relnamespace = 'public'::regnamespace",
        (name,),
    ).fetchone()
    if row is None:
        return True
    if not row[0]:
        emit(
            log,
            logging.WARNING,
            "leftovers#repair",
            f"Dropping invalid index {name} left by an interrupted run of {migration}; "
            "creating it again",
            index=name,
            migration=migration,
        )
        conn.execute(
            sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(
                sql.Identifier("public"), sql.Identifier(name)
            )
        )
        return True
    if if_not_exists:
        return False  # what PostgreSQL would do with the statement anyway
    emit(
        log,
        logging.WARNING,
        "leftovers#repair",
        f"Index {name} already exists and is valid: an interrupted run of {migration} created "
        "it before it could record the migration; keeping it",
        index=name,
        migration=migration,
    )
    return False
