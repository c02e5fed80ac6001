"""The ``bazooka`` command: a thin adapter over :func:`bazooka.runner.run`.

Exit codes: 0 success; 1 a step failed (or, for ``status``, a service is unreachable; for a
plan, a step it foresees failing); 2 invalid input (event, flags or environment); 3 refused
without force.
Machine output (``--json``) and the human summary go to stdout; JSON log lines go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from bazooka import __version__
from bazooka.errors import (
    BazookaError,
    ExitCode,
    ForceRequired,
    InvalidEvent,
    PlanForeseesFailure,
)
from bazooka.event import EVENT_FIELDS, BazookaEvent, parse_event, parse_event_json
from bazooka.logs import LEVELS
from bazooka.steps import STEPS

if TYPE_CHECKING:
    from rich.console import Console

    from bazooka.envfiles import EnvFiles
    from bazooka.report import Report
    from bazooka.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar (argparse's exit 2 on bad usage is our invalid-input code)."""
    parser = argparse.ArgumentParser(
        prog="bazooka",
        description="Deploy or reset a dYdX v4 Indexer environment: migrations, Kafka topics, "
        "Redis, stateful orders to Vulcan.",
        allow_abbrev=False,  # a tool guarding destructive steps never guesses `--fo` = `--force`
    )
    parser.add_argument(
        "--version",
        action=_Version,
        help="show the version and the newest bundled migration, and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, help_text in (
        ("run", "run the steps the event asks for"),
        ("plan", "show what `run` would do, changing nothing (same as run --dry-run)"),
    ):
        cmd = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        events = cmd.add_argument_group("event (one flag per BazookaEvent field)")
        for step in STEPS:
            needs = " (destructive: needs --force)" if step.destructive else ""
            _event_flag(events.add_argument, step.name, f"{step.summary}{needs}")
        _event_flag(events.add_argument, "force", "allow the destructive steps")
        cmd.add_argument(
            "--event",
            metavar="FILE",
            help="read the event JSON from FILE ('-' for stdin) instead of flags",
        )
        cmd.add_argument(
            "--replay",
            action="store_true",
            help="migrate step by step even on an empty database (no one-transaction baseline; "
            "same as BAZOOKA_MIGRATE_REPLAY=true)",
        )
        if name == "run":
            cmd.add_argument(
                "--dry-run",
                action="store_true",
                help="preview the steps with concrete numbers; change nothing",
            )
        _output_flags(cmd)

    status = sub.add_parser(
        "status", help="read-only state: migrations, lock, topics, Redis", allow_abbrev=False
    )
    _output_flags(status)
    verify = sub.add_parser(
        "verify",
        help="compare the live schema with the one the recorded migrations produce "
        "(exit 0 match, 1 drift, 2 cannot verify)",
        allow_abbrev=False,
    )
    _output_flags(verify)
    unlock = sub.add_parser(
        "unlock",
        help="release a migration lock left by a killed run (knex migrate:unlock)",
        allow_abbrev=False,
    )
    _output_flags(unlock)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; an unknown flag is an error (exit 2) naming the flags it may abbreviate.

    Abbreviations are off for every command (``allow_abbrev=False``): ``--fo`` is not taken for
    ``--force``, and the error names the full flag, so the mistake is obvious.
    """
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = _subparser(parser, getattr(args, "command", None)) or parser
        hints = []
        for token in extras:
            flag = token.split("=", 1)[0]
            options = command._option_string_actions
            full = sorted(o for o in options if o.startswith(flag) and "_" not in o)
            if flag.startswith("--") and full:
                hints.append(f"{flag} -> {' or '.join(full)}")
        hint = (
            f" (flags must be written in full, abbreviations are not accepted: {', '.join(hints)})"
            if hints
            else ""
        )
        command.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    return args


def _subparser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser | None:
    """The parser of the subcommand ``name``."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            chosen: argparse.ArgumentParser = action.choices[name]
            return chosen
    return None


def _event_flag(add: Callable[..., argparse.Action], field: str, help_text: str) -> None:
    """``--reset-db`` (and the event's spelling ``--reset_db``) sets the field to true."""
    flag = field.replace("_", "-")
    aliases = [f"--{flag}"] + ([f"--{field}"] if flag != field else [])
    add(*aliases, dest=field, action="store_true", help=help_text)


class _Version(argparse.Action):
    """``--version``: lists the bundled migrations only when asked (``--help`` stays fast)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        sys.stdout.write(version_text() + "\n")  # main() points sys.stdout at its stdout
        parser.exit()


def version_text() -> str:
    """``bazooka 0.1.0 (migrations up to <newest Knex name>, 113 bundled)``.

    The newest bundled migration tells an operator whether this Bazooka is current with the
    indexer release that migrates their database (``docs/maintainers.md``).
    """
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    known = bundled()
    newest = known[-1].name if known else "none"
    return f"bazooka {__version__} (migrations up to {newest}, {len(known)} bundled)"


def _output_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--json", action="store_true", help="print a JSON document on stdout")
    cmd.add_argument(
        "--env-dir",
        metavar="DIR",
        help="read the .env files from DIR (default: the working directory)",
    )
    cmd.add_argument(
        "--log-level",
        choices=list(LEVELS),
        help="JSON logs on stderr at this level (default: LOG_LEVEL, or warning on a terminal)",
    )


def entrypoint() -> NoReturn:
    """The ``bazooka`` command (and ``python -m bazooka``): :func:`main`, then a quick exit.

    When :func:`main` returns, the report is written and every connection it opened is closed;
    the interpreter's own teardown would only free, module by module, what psycopg, Kafka and
    the rest loaded: 20-40 ms per process on a 2-core machine, a tenth of a ``clear_db``. So
    logging is shut down, both streams are flushed, and the process exits at once. An exception
    escaping :func:`main` takes the normal path, traceback and all.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A reader gone (closed pipe) means nothing more can be written anyway.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def main(
    argv: list[str] | None = None,
    *,
    environ: MutableMapping[str, str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line ``argv`` (default: ``sys.argv``); return the exit code.

    ``environ`` is the environment it reads (the process's by default; the ``.env`` files'
    values are added to it, as dotenv-flow adds them to the process's, where libpq finds its
    ``PG*`` variables), ``stdin``, ``stdout`` and ``stderr`` its streams (the process's by
    default): the tests call it in-process with their own, as click's ``CliRunner`` does.
    """
    env = os.environ if environ is None else environ
    io = _Streams(stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr)
    try:
        # argparse writes its usage, errors and the version to sys.stdout/sys.stderr.
        with contextlib.redirect_stdout(io.out), contextlib.redirect_stderr(io.err):
            args = _parse(build_parser(), argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else ExitCode.INVALID_INPUT
    try:
        from bazooka.envfiles import read_env_files  # noqa: PLC0415
        from bazooka.settings import Settings  # noqa: PLC0415

        env_files = read_env_files(args.env_dir, env)
        env_files.apply(env)
        settings = Settings.from_env(env, sources=env_files.sources)
    except BazookaError as exc:
        return _fail(io, args.json, exc)
    _configure_logs(args.log_level or _default_log_level(settings.log_level, io), io)
    env_files.log_warnings()
    if args.command == "status":
        return _status(io, args.json, settings, env_files)
    if args.command == "unlock":
        return _unlock(io, args.json, settings)
    if args.command == "verify":
        return _verify(io, args.json, settings)
    if args.replay:
        settings = settings.replace(migrate_replay=True)
    return _run(io, args, settings)


@dataclass(frozen=True)
class _Streams:
    """The command's standard streams."""

    stdin: TextIO
    out: TextIO
    err: TextIO


def _run(io: _Streams, args: argparse.Namespace, settings: Settings) -> int:
    from bazooka.runner import run  # noqa: PLC0415

    out = io.out
    try:
        event = _event_from_args(args, io.stdin)
    except InvalidEvent as exc:
        return _fail(io, args.json, exc)
    dry_run = args.command == "plan" or getattr(args, "dry_run", False)
    live = not args.json and out.isatty()
    try:
        if live:
            from rich.console import Console  # noqa: PLC0415

            from bazooka.console import RichProgress  # noqa: PLC0415

            with RichProgress(Console(file=out)) as progress:
                report = run(event, settings, dry_run=dry_run, progress=progress)
        else:
            report = run(event, settings, dry_run=dry_run)
    except ForceRequired as exc:
        return _fail(io, args.json, exc)
    if args.json:
        out.write(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    else:
        _print_report(out, report)
    return report.failure.exit_code if report.failure is not None else ExitCode.OK


def _event_from_args(args: argparse.Namespace, stdin: TextIO) -> BazookaEvent:
    flagged = {f: True for f in EVENT_FIELDS if getattr(args, f)}
    if args.event is None:
        return parse_event(flagged)
    if flagged:
        raise InvalidEvent(
            "Invalid event: use either --event FILE or flags, not both "
            f"(flags given: {', '.join(flagged)})"
        )
    source = "the event on standard input" if args.event == "-" else "the event file"
    try:
        text = stdin.read() if args.event == "-" else Path(args.event).read_text("utf-8")
    except OSError as exc:
        raise InvalidEvent(f"Invalid event: cannot read {args.event}: {exc.strerror}") from None
    if not text.strip():
        raise InvalidEvent(f"Invalid event: {source} is empty ({args.event})")
    return parse_event_json(text)


def _print_report(out: TextIO, report: Report) -> None:
    from rich.markup import escape  # noqa: PLC0415

    from bazooka.console import print_plan_details, summary_table  # noqa: PLC0415

    console = _console(out)
    if not report.steps:
        console.print("Nothing to do: the event sets no step.")
        return
    console.print(summary_table(report))
    if report.dry_run:
        print_plan_details(console, report)
    if report.failure is not None:
        label = (
            "Refused"
            if isinstance(report.failure, ForceRequired)
            else "Would fail"
            if isinstance(report.failure, PlanForeseesFailure)
            else "Failed"
        )
        console.print(f"[bold red]{label}[/]: {escape(_message(report.failure))}")


def _console(out: TextIO) -> Console:
    """A rich console: the terminal's width on a TTY, wide and plain when piped or logged."""
    from rich.console import Console  # noqa: PLC0415

    if out.isatty():
        return Console(file=out)
    return Console(file=out, width=160, no_color=True)


def _status(io: _Streams, as_json: bool, settings: Settings, env_files: EnvFiles) -> int:
    from bazooka import status  # noqa: PLC0415

    out = io.out
    state = status.gather(settings)
    reachable = status.all_reachable(state)
    if as_json:
        state["env_files"] = env_files.to_dict()
        out.write(json.dumps(state, indent=2, default=str) + "\n")
    else:
        from bazooka.console import status_tables  # noqa: PLC0415

        console = _console(out)
        console.print(env_files.describe(), markup=False, highlight=False)
        status_tables(console, state)
    return ExitCode.OK if reachable else ExitCode.FAILED


def _unlock(io: _Streams, as_json: bool, settings: Settings) -> int:
    from bazooka.postgres import lock  # noqa: PLC0415
    from bazooka.postgres.connection import connect, translated  # noqa: PLC0415

    try:
        with connect(settings) as conn, translated("unlock", settings):
            result = lock.unlock(conn)
    except BazookaError as exc:
        return _fail(io, as_json, exc)
    io.out.write((json.dumps(result.to_dict()) if as_json else result.headline()) + "\n")
    return ExitCode.OK


def _verify(io: _Streams, as_json: bool, settings: Settings) -> int:
    """Exit 0 when the schema matches, 1 on drift, 2 when it cannot be verified."""
    from bazooka.postgres import verify  # noqa: PLC0415
    from bazooka.postgres.connection import connect, describe_target, translated  # noqa: PLC0415
    from bazooka.postgres.migrations_source import bundled  # noqa: PLC0415

    try:
        with connect(settings) as conn, translated("verify", settings):
            report = verify.verify(conn, bundled())
    except BazookaError as exc:
        return _fail(io, as_json, exc, ExitCode.INVALID_INPUT)
    if as_json:
        io.out.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        io.out.write(verify.render_text(report, describe_target(settings)))
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _fail(io: _Streams, as_json: bool, exc: BazookaError, code: ExitCode | None = None) -> int:
    """Say why nothing ran (a JSON document with ``--json``); the exit code: ``code``, or the
    error's own."""
    if as_json:
        payload = {"ok": False, "error": _message(exc), "kind": type(exc).__name__}
        io.out.write(json.dumps(payload) + "\n")
    else:
        io.err.write(f"bazooka: {_message(exc)}\n")
    return code if code is not None else exc.exit_code


def _message(exc: BazookaError) -> str:
    """The error as the command line says it: a refusal names the refused steps' flags and
    ``--force`` (after the original's sentence, which the Lambda error keeps alone)."""
    if isinstance(exc, ForceRequired) and exc.steps:
        from bazooka.schedule import FORCE_REQUIRED_MESSAGE  # noqa: PLC0415

        flags = " ".join(f"--{s.replace('_', '-')}" for s in exc.steps)
        return (
            f"{FORCE_REQUIRED_MESSAGE}: refused {flags} ({', '.join(exc.steps)}: destructive). "
            f"Add --force to run them (bazooka run {flags} --force), or review them first with "
            f"bazooka plan {flags} --force."
        )
    return str(exc)


def _default_log_level(configured: str, io: _Streams) -> str:
    return "warning" if io.err.isatty() else configured


def _configure_logs(level: str, io: _Streams) -> None:
    from bazooka.logs import configure  # noqa: PLC0415

    configure(level, stream=io.err)


if __name__ == "__main__":  # pragma: no cover
    entrypoint()
