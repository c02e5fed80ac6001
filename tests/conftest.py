"""Shared fixtures. Integration tests talk to the real services started by
``scripts/services.py`` (``scripts/test.sh`` starts them and exports their variables)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazooka.settings import Settings
from tests.helpers import ROOT, make_settings, scratch_database, service_env


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


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Lambda zip as ``scripts/build_lambda_zip.py`` builds it for this interpreter's
    version (so with bytecode); built once per session, it takes a minute or two."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    artifact = tmp_path_factory.mktemp("lambda-zip") / "bazooka-lambda.zip"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_lambda_zip.py"),
            "--python-version",
            version,
            "--output",
            str(artifact),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    return artifact


@pytest.fixture
def db_settings(scratch_db: dict[str, str]) -> Settings:
    """Settings pointing at a fresh empty database."""
    return make_settings(scratch_db)
