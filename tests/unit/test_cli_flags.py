"""The command line's grammar: no flag is ever guessed from an abbreviation."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bazooka import cli
from bazooka.errors import ForceRequired
from bazooka.event import BazookaEvent
from bazooka.schedule import check_force


@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize("abbreviation", ["--fo", "--f", "--forc"])
def test_an_abbreviated_force_is_an_error_naming_the_full_flag(
    command: str, abbreviation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([command, "--reset-db", "--migrate", abbreviation]) == 2
    err = capsys.readouterr().err
    assert f"unrecognized arguments: {abbreviation}" in err
    assert f"{abbreviation} -> --force" in err
    assert "abbreviations are not accepted" in err


@pytest.mark.parametrize(
    ("argv", "full"),
    [
        (["plan", "--mig"], "--migrate"),
        (["run", "--clear-k"], "--clear-kafka-topics"),
        (["run", "--dry"], "--dry-run"),
        (["status", "--js"], "--json"),
        (["verify", "--js"], "--json"),
        (["unlock", "--env"], "--env-dir"),
    ],
)
def test_every_command_refuses_abbreviations(
    argv: list[str], full: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert f"{argv[-1]} -> {full}" in capsys.readouterr().err


def test_the_parser_and_every_subcommand_parser_disallow_abbreviations() -> None:
    parser = cli.build_parser()
    assert parser.allow_abbrev is False
    assert parser._subparsers is not None
    (subparsers,) = (
        a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction)
    )
    assert set(subparsers.choices) == {"run", "plan", "status", "verify", "unlock"}
    for name, sub in subparsers.choices.items():
        assert sub.allow_abbrev is False, name


def test_full_flags_still_parse() -> None:
    args = cli.build_parser().parse_args(["plan", "--reset-db", "--migrate", "--force"])
    assert (args.reset_db, args.migrate, args.force) == (True, True, True)


def test_a_refusal_names_the_refused_steps_and_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file joins in
    for name in ("PREVENT_BREAKING_CHANGES_WITHOUT_FORCE", "NODE_ENV"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["run", "--migrate", "--reset-db", "--clear-redis"]) == 3
    err = capsys.readouterr().err
    assert err.startswith('bazooka: Cannot run bazooka without force flag set to "true": ')
    assert "refused --reset-db --clear-redis (reset_db, clear_redis: destructive)" in err
    assert "Add --force to run them (bazooka run --reset-db --clear-redis --force)" in err


def test_the_lambda_refusal_is_the_original_sentence_and_carries_the_steps() -> None:
    with pytest.raises(ForceRequired) as refused:
        check_force(BazookaEvent(migrate=True, clear_db=True), force_required=True)
    assert str(refused.value) == 'Cannot run bazooka without force flag set to "true"'
    assert refused.value.steps == ("clear_db",)
