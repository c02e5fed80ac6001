"""Shared fixtures. Integration tests talk to the real services started by
``scripts/services.py`` (``scripts/test.sh`` starts them and exports their variables)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bazooka.settings import Settings
from tests.helpers import admin_dsn, make_settings, service_env


@pytest.fixture
def base_env() -> dict[str, str]:
    """The service environment, for subprocess tests."""
    return service_env()


@pytest.fixture
def scratch_db(base_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh, empty database; yields the environment pointing at it; dropped afterwards."""
    import psycopg

    name = f"bz_test_{uuid.uuid4().hex[:10]}"
    admin = make_settings(base_env)
    with psycopg.connect(admin_dsn(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**base_env, "DB_NAME": name}
    finally:
        with psycopg.connect(admin_dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_settings(scratch_db: dict[str, str]) -> Settings:
    """Settings pointing at a fresh empty database."""
    return make_settings(scratch_db)
