"""Shared fixtures. Integration tests talk to the real services started by
``scripts/services.py`` (``scripts/test.sh`` starts them and exports their variables).

A session that runs integration tests gives them a Kafka broker, a Redis and a database of
their own (``tests/own_services.py``), and guards the local deployment's databases, topics and
Redis keys: recorded before the first test, compared after the last; any difference fails the
session, naming it (``tests/deployment_guard.py``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazooka.settings import Settings
from tests import deployment_guard, own_services
from tests.helpers import ROOT, make_settings, scratch_database, service_env

_SERVICE_VARIABLES = ("DB_PORT", "REDIS_URL", "KAFKA_BROKER_URLS")


class _Guard:
    """This session's own services and the deployment's state when it started."""

    own: own_services.OwnServices | None = None
    before: deployment_guard.Snapshot | None = None
    changed: list[str] | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before the first integration test: record the deployment, start the tests' services."""
    wanted = any("integration" in item.path.parts for item in session.items)
    if not wanted or any(v not in os.environ for v in _SERVICE_VARIABLES):
        return  # unit tests only, or no services (the integration tests then say so)
    _Guard.before = deployment_guard.snapshot(make_settings(dict(os.environ)))
    _Guard.own = own_services.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the last test: stop the tests' services; fail when the deployment changed."""
    if _Guard.own is None or _Guard.before is None:
        return
    try:
        own_services.stop(_Guard.own)
    finally:
        _Guard.own = None
    after = deployment_guard.snapshot(make_settings(dict(os.environ)))
    _Guard.changed = deployment_guard.differences(_Guard.before, after)
    if _Guard.changed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say whether the deployment's services were left as they were."""
    if _Guard.changed is None:
        return
    if not _Guard.changed:
        terminalreporter.write_line(
            "deployment guard: the local deployment's databases, topics and Redis keys are "
            "unchanged"
        )
        return
    terminalreporter.section("deployment guard: the tests wrote into the local deployment")
    for line in _Guard.changed:
        terminalreporter.write_line(line, red=True)


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
    version (so with bytecode); built once per session (about 15 s on a 2-core machine)."""
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
