"""The .env files as dotenv-flow 3.2 reads them for the original: which files, in which order,
what the real environment keeps, and how a bad value names its file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bazooka.envfiles import file_names, read_env_files
from bazooka.errors import ConfigError
from bazooka.settings import Settings

ALL_FILES = (
    ".env.defaults",
    ".env",
    ".env.development",
    ".env.local",
    ".env.development.local",
    ".env.test",
    ".env.test.local",
)


def write(directory: Path, **files: str) -> None:
    for name, text in files.items():
        (directory / name).write_text(text)


@pytest.fixture
def every_file(tmp_path: Path) -> Path:
    """Each file sets WHO to its own name, and a variable only it sets."""
    for name in ALL_FILES:
        only = "ONLY" + name.upper().replace(".", "_")
        (tmp_path / name).write_text(f"WHO={name}\n{only}=yes\n")
    return tmp_path


def test_file_names_follow_dotenv_flow() -> None:
    assert file_names("development") == [
        ".env.development.local",
        ".env.local",
        ".env.development",
        ".env",
        ".env.defaults",
    ]
    # .env.local is skipped for tests, so that tests read the same for everyone.
    assert file_names("test") == [".env.test.local", ".env.test", ".env", ".env.defaults"]
    assert file_names(None) == [".env.local", ".env", ".env.defaults"]
    assert file_names("../x") == [".env.local", ".env", ".env.defaults"]


@pytest.mark.parametrize(
    ("node_env", "winner", "read"),
    [
        (
            "development",
            ".env.development.local",
            [".env.development.local", ".env.local", ".env.development", ".env", ".env.defaults"],
        ),
        ("test", ".env.test.local", [".env.test.local", ".env.test", ".env", ".env.defaults"]),
        (None, ".env.local", [".env.local", ".env", ".env.defaults"]),
    ],
)
def test_precedence_highest_first(
    every_file: Path, node_env: str | None, winner: str, read: list[str]
) -> None:
    environ = {"NODE_ENV": node_env} if node_env else {}
    files = read_env_files(str(every_file), environ)
    assert files.read == tuple(f"{every_file}/{name}" for name in read)
    assert files.values["WHO"] == winner
    assert files.sources["WHO"] == f"{every_file}/{winner}"
    # Every file read contributes what only it sets; the others contribute nothing.
    only = {k for k in files.values if k.startswith("ONLY")}
    assert only == {"ONLY" + name.upper().replace(".", "_") for name in read}


def test_the_real_environment_wins_even_when_empty(every_file: Path) -> None:
    files = read_env_files(str(every_file), {"WHO": "", "ONLY_ENV": "shell"})
    assert "WHO" not in files.values and "WHO" not in files.sources
    assert "ONLY_ENV" not in files.values
    environ = {"WHO": ""}
    files.apply(environ)
    assert environ["WHO"] == ""
    assert environ["ONLY_ENV_LOCAL"] == "yes"


def test_node_env_choosing_the_files_is_the_environment_s_not_a_file_s(tmp_path: Path) -> None:
    write(tmp_path, **{".env": "NODE_ENV=production\n", ".env.production": "PG_POOL_MAX=10\n"})
    files = read_env_files(str(tmp_path), {})
    assert files.read == (f"{tmp_path}/.env",)
    assert files.values == {"NODE_ENV": "production"}  # still a setting, like any variable
    files = read_env_files(str(tmp_path), {"NODE_ENV": "production"})
    assert files.values == {"PG_POOL_MAX": "10"}


def test_default_node_env_chooses_when_node_env_is_unset_or_empty(tmp_path: Path) -> None:
    write(tmp_path, **{".env.staging": "X=staging\n", ".env.test": "X=test\n"})
    assert read_env_files(str(tmp_path), {"DEFAULT_NODE_ENV": "staging"}).values == {"X": "staging"}
    assert read_env_files(str(tmp_path), {"NODE_ENV": "", "DEFAULT_NODE_ENV": "test"}).values == {
        "X": "test"
    }
    assert read_env_files(
        str(tmp_path), {"NODE_ENV": "test", "DEFAULT_NODE_ENV": "staging"}
    ).values == {"X": "test"}


def test_values_are_taken_literally(tmp_path: Path) -> None:
    write(
        tmp_path,
        **{
            ".env": (
                "# comment\n"
                "DB_PASSWORD=pa$$word${HOME}\n"
                "QUOTED='single $HOME'\n"
                'DOUBLE="a b"\n'
                "EMPTY=\n"
                "BARE\n"
                "export EXPORTED=1\n"
            ),
            ".env.local": "EMPTY=\n",
        },
    )
    files = read_env_files(str(tmp_path), {})
    assert files.values == {
        "DB_PASSWORD": "pa$$word${HOME}",  # no interpolation, as dotenv 8 does none
        "QUOTED": "single $HOME",
        "DOUBLE": "a b",
        "EMPTY": "",  # an empty value is set, and then means the default
        "EXPORTED": "1",
    }
    assert "BARE" not in files.values  # a name without '=' sets nothing


def test_bare_name_in_a_higher_file_leaves_the_lower_value(tmp_path: Path) -> None:
    write(tmp_path, **{".env": "X=1\n", ".env.local": "X\n"})
    files = read_env_files(str(tmp_path), {})
    assert files.values == {"X": "1"} and files.sources == {"X": f"{tmp_path}/.env"}


def test_unparseable_lines_are_skipped_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, **{".env": "A=1\nthis is not a line\nB='unterminated\nC=3\n"})
    with caplog.at_level(logging.DEBUG):
        files = read_env_files(str(tmp_path), {})
    assert files.values["A"] == "1" and files.values["C"] == "3"
    assert files.warnings == (
        f"{tmp_path}/.env, line 2 cannot be parsed: skipped",
        f"{tmp_path}/.env, line 3 cannot be parsed: skipped",
    )
    assert not [r for r in caplog.records if r.name.startswith("dotenv")]  # said once, by us
    files.log_warnings()
    assert [r.getMessage() for r in caplog.records] == list(files.warnings)


def test_default_directory_is_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, **{".env.local": "X=1\n"})
    monkeypatch.chdir(tmp_path)
    files = read_env_files(None, {})
    assert files.read == ("./.env.local",) and files.sources == {"X": "./.env.local"}
    assert files.describe() == "Environment files (highest precedence first): ./.env.local"
    assert files.to_dict() == {"directory": ".", "read": ["./.env.local"]}


def test_nothing_to_read(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()  # a virtualenv named .env is not a file of variables
    files = read_env_files(str(tmp_path), {})
    assert files.read == () and files.values == {}
    assert files.describe() == f"Environment files: none in {tmp_path} (environment only)"


def test_unreadable_files_and_directories_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--env-dir .*/missing is not a directory"):
        read_env_files(str(tmp_path / "missing"), {})
    (tmp_path / ".env").write_bytes(b"X=\xff\n")
    with pytest.raises(ConfigError, match=r"\.env is not UTF-8 text"):
        read_env_files(str(tmp_path), {})


def test_an_invalid_value_names_its_file_and_never_shows_a_secret(tmp_path: Path) -> None:
    write(
        tmp_path,
        **{
            ".env": "DB_PORT=5435\nPREVENT_BREAKING_CHANGES_WITHOUT_FORCE=maybe\n",
            ".env.local": "DB_PORT=abc\n",
        },
    )
    files = read_env_files(str(tmp_path), {"LOG_LEVEL": "loud"})
    environ = {"LOG_LEVEL": "loud"}
    files.apply(environ)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ, sources=files.sources)
    message = str(raised.value)
    assert f"DB_PORT='abc' is not an integer (from {tmp_path}/.env.local)" in message
    assert (
        "PREVENT_BREAKING_CHANGES_WITHOUT_FORCE='maybe' is not a boolean: use 'true' or 'false' "
        f"(from {tmp_path}/.env)"
    ) in message
    assert "LOG_LEVEL='loud' must be one of" in message
    assert (
        "LOG_LEVEL='loud' must be one of debug, info, notice, warning, error, crit (" not in message
    )

    secret = "REDIS_URL=redis://:hunter2@127.0.0.1:6379\nKAFKA_SECURITY_PROTOCOL=sasl_ssl\n"
    write(tmp_path, **{".env": secret, ".env.local": ""})
    files = read_env_files(str(tmp_path), {})
    environ = {}
    files.apply(environ)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ, sources=files.sources)
    assert "KAFKA_SASL_MECHANISM is required" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_settings_read_the_files_values(tmp_path: Path) -> None:
    write(
        tmp_path, **{".env": "SERVICE_NAME=bazooka\nDB_PORT=5436\n", ".env.local": "DB_PORT=5437\n"}
    )
    files = read_env_files(str(tmp_path), {"DB_NAME": "from_shell"})
    environ = {"DB_NAME": "from_shell"}
    files.apply(environ)
    settings = Settings.from_env(environ, sources=files.sources)
    assert (settings.db_port, settings.db_name, settings.service_name) == (
        5437,
        "from_shell",
        "bazooka",
    )
