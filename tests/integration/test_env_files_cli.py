"""The .env files end to end: the CLI reads them (working directory or --env-dir), says which
in ``bazooka status``, and names the file of a bad value; the Lambda handler reads none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bazooka import lambda_handler
from tests.helpers import cli

CONNECTION = ("DB_HOSTNAME", "DB_PORT", "REDIS_URL", "KAFKA_BROKER_URLS")


def test_status_reaches_the_services_configured_by_files_and_names_them(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    # The connection settings come from files only: .env points nowhere, .env.local (higher)
    # at the real services; the shell's own DB_NAME still wins over both.
    env = {k: v for k, v in base_env.items() if k not in CONNECTION}
    env["DB_NAME"] = base_env.get("DB_NAME", "dydx_dev")
    config = tmp_path / "config"
    config.mkdir()
    (config / ".env").write_text(
        "DB_HOSTNAME=127.0.0.1\nDB_PORT=1\nREDIS_URL=redis://127.0.0.1:1\n"
        "KAFKA_BROKER_URLS=127.0.0.1:1\nDB_NAME=not_this_one\n"
    )
    (config / ".env.local").write_text("".join(f"{name}={base_env[name]}\n" for name in CONNECTION))

    result = cli(env, "status", "--json", "--env-dir", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads(result.stdout)
    assert state["env_files"] == {
        "directory": str(config),
        "read": [f"{config}/.env.local", f"{config}/.env"],
    }
    assert f"database '{env['DB_NAME']}'" in state["postgres"]["target"]
    assert state["kafka"]["brokers_url"] == base_env["KAFKA_BROKER_URLS"]

    # The same from the working directory, in the text output.
    human = cli(env, "status", cwd=config)
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines()[0] == (
        "Environment files (highest precedence first): ./.env.local, ./.env"
    )

    # Nothing to read: said so, and the environment alone applies.
    bare = cli(base_env, "status", "--json", "--env-dir", str(tmp_path))
    assert json.loads(bare.stdout)["env_files"] == {"directory": str(tmp_path), "read": []}


def test_an_invalid_value_in_a_file_names_the_file_and_touches_nothing(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    # Were the files ignored, the default port would apply: on a host where no PostgreSQL
    # listens (they listen on 127.0.0.1), so that a regression could touch no database.
    env = {k: v for k, v in base_env.items() if k != "DB_PORT"}
    env["DB_HOSTNAME"] = "127.0.0.2"
    (tmp_path / ".env").write_text("DB_PORT=5435\n")
    (tmp_path / ".env.local").write_text("DB_PORT=abc\nDB_PASSWORD=s3cret-in-a-file\n")
    result = cli(env, "run", "--migrate", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "bazooka: Invalid configuration: DB_PORT='abc' is not an integer (from ./.env.local)\n"
    )
    as_json = cli(env, "run", "--migrate", "--json", "--env-dir", str(tmp_path))
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"] == (
        f"Invalid configuration: DB_PORT='abc' is not an integer (from {tmp_path}/.env.local)"
    )
    for output in (result.stdout, result.stderr, as_json.stdout, as_json.stderr):
        assert "s3cret-in-a-file" not in output
    missing = cli(env, "status", "--env-dir", str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "--env-dir" in missing.stderr and "is not a directory" in missing.stderr


def test_the_lambda_handler_reads_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (".env", ".env.local", ".env.production"):
        (tmp_path / name).write_text("KAFKA_CONNECTION_TIMEOUT_MS=abc\n")
    monkeypatch.delenv("KAFKA_CONNECTION_TIMEOUT_MS", raising=False)
    monkeypatch.chdir(tmp_path)
    response = lambda_handler.handler({}, None)  # no step: nothing is contacted
    assert response["statusCode"] == 200
    assert "KAFKA_CONNECTION_TIMEOUT_MS" not in capsys.readouterr().out
