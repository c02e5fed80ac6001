"""Connecting to PostgreSQL with the original's settings, errors translated at this boundary."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import TupleRow

from bazooka.errors import PostgresError, sentence
from bazooka.settings import Settings

Connection = psycopg.Connection[TupleRow]
"""The one connection type Bazooka uses: tuples for rows, autocommit, explicit transactions."""


def describe_target(settings: Settings) -> str:
    """Where we connect, for messages: host, port, database and user (never the password)."""
    return (
        f"PostgreSQL {settings.db_hostname}:{settings.db_port} "
        f"database {settings.db_name!r} as user {settings.db_username!r}"
    )


def connect(settings: Settings, *, autocommit: bool = True) -> Connection:
    """Open one connection; raise :class:`PostgresError` with a one-line cause on failure.

    ``PG_ACQUIRE_CONNECTION_TIMEOUT_MS`` bounds the connection attempt (libpq counts whole
    seconds, so it is rounded up). libpq's own ``PG*`` variables (``PGSSLMODE``,
    ``PGSSLROOTCERT``, ...) apply as usual.
    """
    timeout_s = max(1, math.ceil(settings.pg_acquire_connection_timeout_ms / 1000))
    try:
        return psycopg.connect(
            host=settings.db_hostname,
            port=settings.db_port,
            dbname=settings.db_name,
            user=settings.db_username,
            password=settings.db_password.get_secret_value(),
            connect_timeout=timeout_s,
            application_name=settings.service_name,
            autocommit=autocommit,
        )
    except psycopg.Error as exc:
        raise PostgresError(
            sentence(
                f"Cannot connect to {describe_target(settings)}: {one_line(exc)}",
                "Check DB_HOSTNAME, DB_PORT, DB_NAME, DB_USERNAME and DB_PASSWORD.",
            )
        ) from exc


@contextmanager
def translated(what: str, settings: Settings) -> Iterator[None]:
    """Turn a psycopg error raised in the block into a :class:`PostgresError` naming ``what``."""
    try:
        yield
    except psycopg.Error as exc:
        raise PostgresError(
            f"{what} failed on {describe_target(settings)}: {one_line(exc)}"
        ) from exc


def one_line(exc: BaseException) -> str:
    """A driver error on one line: libpq's messages span several lines, each a sentence
    without its stop (``Connection refused`` then ``Is the server running ...?``), so a line
    that does not end with a stop or a colon gets a full stop before the next one. The last
    line is left as it is (callers go on with their own sentence)."""
    parts: list[str] = []
    for line in str(exc).splitlines():
        text = line.strip()
        if not text:
            continue
        if parts and not parts[-1].endswith((".", "?", "!", ":", ";")):
            parts[-1] += "."
        parts.append(text)
    return " ".join(parts) or type(exc).__name__
