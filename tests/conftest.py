"""Shared fixtures. Integration tests talk to the real services started by
``scripts/services.py`` (``scripts/test.sh`` starts them and exports their variables)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bazooka.settings import Settings
from tests.helpers import make_settings, scratch_database, service_env


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """The entry points configure the library's logger (the Lambda handler, in process, with
    a test's captured stdout): give it back as it was after every test."""
    root = logging.getLogger("bazooka")
    handlers, level, propagate = list(root.handlers), root.level, root.propagate
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    root.propagate = propagate


@pytest.fixture
def base_env() -> dict[str, str]:
    """The service environment, for subprocess tests."""
    return service_env()


@pytest.fixture
def scratch_db(base_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A fresh, empty database; yields the environment pointing at it; dropped afterwards."""
    with scratch_database(base_env) as env:
        yield env


@pytest.fixture
def db_settings(scratch_db: dict[str, str]) -> Settings:
    """Settings pointing at a fresh empty database."""
    return make_settings(scratch_db)
