"""``cli.main`` called in-process with its own argv, environment and streams (as click's
``CliRunner`` calls a command): what it writes goes to the given streams only, and the
environment it reads, ``.env`` files included, is the given one, never the process's."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bazooka import __version__, cli


def _main(*argv: str, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), environ=environ or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_version_goes_to_the_given_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main("--version")
    assert code == 0 and __version__ in out and err == ""
    assert capsys.readouterr() == ("", "")  # nothing reached the process's streams


def test_a_flag_error_is_exit_2_on_the_given_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main("plan", "--fo")
    assert code == 2 and out == ""
    assert "unrecognized arguments: --fo" in err and "--force" in err
    assert capsys.readouterr() == ("", "")


def test_the_given_environment_is_read_and_the_process_environment_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DB_PORT=not-a-port\n")
    monkeypatch.delenv("DB_PORT", raising=False)
    environ = {"NODE_ENV": "development"}
    code, _out, err = _main("plan", "--migrate", "--env-dir", str(tmp_path), environ=environ)
    assert code == 2
    assert "DB_PORT='not-a-port' is not an integer" in err
    assert environ["DB_PORT"] == "not-a-port"  # the file's value joined the given environment
    assert "DB_PORT" not in os.environ  # and not the process's
