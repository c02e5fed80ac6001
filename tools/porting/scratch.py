"""Scratch databases for Knex's run and Bazooka's replay, and the roles a migration grants to
that the scratch server lacks."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import psycopg
from psycopg import sql as pgsql

from bazooka.postgres.connection import connect
from bazooka.settings import Settings
from tools.porting.base import ToolError
from tools.schema_dump import (
    database_state,
    dump,
)


@dataclass
class Scratch:
    """A scratch database: its settings and one Bazooka connection."""

    settings: Settings
    conn: psycopg.Connection[tuple[Any, ...]]

    def schema(self) -> str:
        """pg_dump of the schema, bookkeeping excluded (tools/schema_dump.py)."""
        return dump(self.settings, exclude_knex=True)

    def state(self) -> list[str]:
        """Everything but the bookkeeping: schema with comments, privileges and owners, rows,
        sequence positions (tools/schema_dump.py's database_state)."""
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
