"""Shared fixtures. Integration tests talk to the real services started by
``scripts/services.py`` (``scripts/test.sh`` starts them and exports their variables)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bazooka.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# Variables a test must never inherit from the developer's shell by accident.
_SCRUB = ("NODE_ENV", "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE", "BUGSNAG_KEY", "LOG_LEVEL")


def service_env() -> dict[str, str]:
    """The environment of the local services (as exported by ``scripts/services.py env``)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    missing = [v for v in ("DB_PORT", "REDIS_URL", "KAFKA_BROKER_URLS") if v not in env]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not set: run the tests with scripts/test.sh, or "
            'eval "$(python3 scripts/services.py env --cluster)" after starting the services',
            pytrace=False,
        )
    return env


def cli(
    env: Mapping[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the ``bazooka`` command as a user would, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "bazooka", *args],
        env=dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_settings(env: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Settings from the service environment plus ``overrides`` (variable names)."""
    merged = {**(env if env is not None else service_env()), **overrides}
    return Settings.from_env(merged)


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
    with psycopg.connect(_dsn(admin, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**base_env, "DB_NAME": name}
    finally:
        with psycopg.connect(_dsn(admin, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


def _dsn(settings: Settings, dbname: str) -> str:
    return (
        f"host={settings.db_hostname} port={settings.db_port} dbname={dbname} "
        f"user={settings.db_username} password={settings.db_password.get_secret_value()}"
    )


@pytest.fixture
def db_settings(scratch_db: dict[str, str]) -> Settings:
    """Settings pointing at a fresh empty database."""
    return make_settings(scratch_db)
