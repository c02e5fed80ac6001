"""Helpers shared by the tests (fixtures are in ``conftest.py``). Integration tests talk to
the real services started by ``scripts/services.py``."""

from __future__ import annotations

import atexit
import contextlib
import functools
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bazooka.postgres.migrations_source import bundled
from bazooka.settings import Settings
from tools.services import ports

ROOT = Path(__file__).resolve().parent.parent

# How many migrations Bazooka ships (one test pins the number on purpose; the others follow).
MIGRATIONS = len(bundled())

# Variables a test must never inherit from the developer's shell by accident.
_SCRUB = ("NODE_ENV", "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE", "BUGSNAG_KEY", "LOG_LEVEL")


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive free ports of 127.0.0.1 for a server a test starts,
    below the kernel's ephemeral range (``scripts/services.py`` chooses them)."""
    return ports.free_ports(count)


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


@functools.cache
def _empty_dir() -> str:
    path = tempfile.mkdtemp(prefix="bazooka-cli-")
    atexit.register(shutil.rmtree, path, True)
    return path


def cli(
    env: Mapping[str, str],
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the ``bazooka`` command line in this process, as click's ``CliRunner`` does:
    :func:`bazooka.cli.main` with ``args``, its own copy of ``env`` and its own streams, in
    ``cwd`` (by default an empty directory, so that no ``.env`` file lying around joins
    ``env``). What it wrote and its exit code come back as from :func:`cli_process`."""
    from bazooka import cli as command

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or _empty_dir()):
        code = command.main(
            list(args), environ=dict(env), stdin=io.StringIO(stdin or ""), stdout=out, stderr=err
        )
    return subprocess.CompletedProcess(["bazooka", *args], code, out.getvalue(), err.getvalue())


def cli_process(
    env: Mapping[str, str],
    *args: str,
    stdin: str | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the ``bazooka`` command as a user would, in its own process (``python -m
    bazooka``): in ``cwd``, by default an empty directory, so that no ``.env`` file lying
    around joins ``env``. For what only a process shows: its exit, a terminal, signals."""
    return subprocess.run(
        [sys.executable, "-m", "bazooka", *args],
        env=dict(env),
        cwd=cwd or _empty_dir(),
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


def admin_dsn(settings: Settings, dbname: str = "postgres") -> str:
    """A libpq DSN for ``dbname`` with the settings' server and user."""
    return (
        f"host={settings.db_hostname} port={settings.db_port} dbname={dbname} "
        f"user={settings.db_username} password={settings.db_password.get_secret_value()}"
    )


@contextmanager
def scratch_database(base_env: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """A fresh, empty database; the environment pointing at it; dropped afterwards."""
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


class RecordingHandler(logging.Handler):
    """Keeps every log record it is given (attach it to a logger to read what was logged)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class LambdaContextStub:
    """A Lambda context for in-process calls of the handler (every attribute it reads);
    ``remaining_ms`` is what :meth:`get_remaining_time_in_millis` answers."""

    remaining_ms: int = 900_000
    function_name: str = "bazooka-test"
    memory_limit_in_mb: int = 1769
    aws_request_id: str = "in-process"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:012345678912:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
