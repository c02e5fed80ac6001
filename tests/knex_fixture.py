"""A database as the TypeScript Bazooka (Knex itself) leaves it, for take-over tests."""

from __future__ import annotations

from typing import Any

import psycopg

from bazooka.postgres.migrations_source import Migration
from bazooka.postgres.sqlsplit import split_statements


def knex_database(conn: psycopg.Connection[tuple[Any, ...]], known: tuple[Migration, ...]) -> None:
    """A database as the TypeScript Bazooka leaves it: Knex's own DDL and rows, batch 1."""
    for migration in known:
        if migration.transaction:
            conn.execute(migration.up_sql.encode())
        else:
            for statement in split_statements(migration.up_sql):
                conn.execute(statement.encode())
    # knex 0.21 table-creator: increments(), string, integer, timestamp / increments('index')
    conn.execute(
        'create table "knex_migrations" ("id" serial primary key, "name" varchar(255), '
        '"batch" integer, "migration_time" timestamptz)'
    )
    conn.execute(
        'create table "knex_migrations_lock" ("index" serial primary key, "is_locked" integer)'
    )
    conn.execute('insert into "knex_migrations_lock" ("is_locked") values (0)')
    with conn.cursor() as cur:
        cur.executemany(
            'insert into "knex_migrations" ("name", "batch", "migration_time") '
            "values (%s, 1, now())",
            [(m.name,) for m in known],
        )
