"""pg_dump-based schema snapshots, normalised for comparison.

Normalisation drops what changes between otherwise identical dumps: comment lines (including
the block pg_dump writes for a recreated schema ``public``), ``\\restrict`` / ``\\unrestrict``
lines with their random keys, and blank lines. Dumps are taken with ``PGTZ=UTC`` because two
partial-index predicates hold timestamptz literals printed in the session time zone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess

from bazooka.settings import Settings

KNEX_TABLES = (
    "knex_migrations",
    "knex_migrations_lock",
    "knex_migrations_id_seq",
    "knex_migrations_lock_index_seq",
)


def dump(settings: Settings, *, exclude_knex: bool = False) -> str:
    """``pg_dump --schema-only --no-owner --no-privileges --no-comments`` of the database."""
    args = [
        "pg_dump",
        "-h",
        settings.db_hostname,
        "-p",
        str(settings.db_port),
        "-U",
        settings.db_username,
        "-d",
        settings.db_name,
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--no-comments",
    ]
    if exclude_knex:
        for table in KNEX_TABLES:
            args += ["-T", table]
    env = {**os.environ, "PGTZ": "UTC", "PGPASSWORD": settings.db_password.get_secret_value()}
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr}")
    return result.stdout


def normalize(text: str) -> str:
    """The dump without comments, restrict keys and blank lines."""
    kept = [
        line
        for line in text.splitlines()
        if line.strip()
        and not line.startswith("--")
        and not line.startswith("\\restrict")
        and not line.startswith("\\unrestrict")
    ]
    return "\n".join(kept) + "\n"


def fingerprint(text: str) -> str:
    """sha256 of the normalised dump."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()
