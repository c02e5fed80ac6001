"""The command line of ``scripts/port_migrations.py``: arguments, the run, the summary and the
regeneration of the snapshots."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from bazooka.errors import BazookaError
from bazooka.postgres.migrations_source import load_from
from bazooka.settings import Settings
from tools.porting.base import (
    BUNDLED,
    DATA,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REVIEW,
    EXIT_USAGE,
    ROOT,
    RUNBOOK,
    SNAPSHOTS,
    NotVerified,
    ToolError,
    UsageError,
)
from tools.porting.knex import KnexSession, ensure_node_packages
from tools.porting.port import Outcome, Plan, Porter, make_plan
from tools.porting.scratch import ScratchRoles, scratch_databases
from tools.porting.sql import resolve_name
from tools.schema_dump import BaselineMismatch


def run(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> int:
    """The command line; returns the exit code."""
    args = parse_args(argv)
    try:
        return _run(args, out)
    except UsageError as exc:
        out.write(f"port_migrations: {exc}\n")
        return EXIT_USAGE
    except (ToolError, BazookaError) as exc:
        out.write(f"port_migrations: {exc}\n")
        return EXIT_FAILED


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="port_migrations.py",
        description="Port new upstream Knex migrations into Bazooka, verified against Knex.",
    )
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        type=Path,
        metavar="PATH",
        help="upstream migrations directory (holds migration_files/ and helpers.ts)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="port only these (Knex name, file name, stem or timestamp)",
    )
    parser.add_argument(
        "--check",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="verify these bundled migrations against Knex ('all' for every one); writes nothing",
    )
    parser.add_argument(
        "--into",
        type=Path,
        metavar="DIR",
        help=f"migrations folder to port into (default: {BUNDLED.relative_to(ROOT)})",
    )
    snapshots = parser.add_mutually_exclusive_group()
    snapshots.add_argument(
        "--snapshots",
        type=Path,
        metavar="DIR",
        help=f"snapshots folder to regenerate (default with the bundled folder: "
        f"{SNAPSHOTS.relative_to(ROOT)}; required with --into)",
    )
    snapshots.add_argument(
        "--no-snapshots", action="store_true", help="do not regenerate the snapshots"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="bound on each Knex run (default 600)",
    )
    return parser.parse_args(argv)


def _run(args: argparse.Namespace, out: IO[str]) -> int:
    source: Path = args.source.resolve()
    if not (source / "migration_files").is_dir():
        raise UsageError(f"{source} has no migration_files/ folder")
    into: Path = (args.into or BUNDLED).resolve()
    if not into.is_dir():
        raise UsageError(f"--into {into}: no such folder")
    snapshots: Path | None = None
    if not args.no_snapshots:
        if args.snapshots is None and into != BUNDLED.resolve():
            raise UsageError("--into needs --snapshots DIR or --no-snapshots")
        snapshots = (args.snapshots or SNAPSHOTS).resolve()
    for tool in ("pg_dump",):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found on PATH")
    started = time.monotonic()
    ensure_node_packages(out)
    base = Settings.from_env()
    roles = ScratchRoles(base)
    try:
        return _port(
            args,
            source=source,
            into=into,
            snapshots=snapshots,
            started=started,
            base=base,
            roles=roles,
            out=out,
        )
    finally:
        roles.drop(out)


def _port(
    args: argparse.Namespace,
    *,
    source: Path,
    into: Path,
    snapshots: Path | None,
    started: float,
    base: Settings,
    roles: ScratchRoles,
    out: IO[str],
) -> int:
    with tempfile.TemporaryDirectory(prefix="bazooka-port-") as tmp:
        work = Path(tmp)
        (work / "staging").mkdir()
        knex = KnexSession(args.timeout)
        try:
            compiled = knex.request(
                {"op": "compile", "from": str(source), "to": str(work / "build")}
            )
            if not compiled.get("ok"):
                raise ToolError(f"cannot compile {source}: {compiled.get('error')}")
            upstream = [m["name"] for m in compiled["migrations"]]
            bundled = [m.name for m in load_from(into)]
            names = sorted(set(upstream) | set(bundled))
            only = [resolve_name(a, upstream) for a in args.only]
            check_args = list(args.check)
            if "all" in check_args:
                check_args = [n for n in bundled if n in set(upstream)]
            check = [resolve_name(a, names) for a in check_args]
            plan = make_plan(upstream, bundled, only, check)
            work_items = [n for n in plan.order if plan.action[n] != "bundled"]
            out.write(
                f"Upstream {source}: {len(upstream)} migration(s) (TypeScript "
                f"{compiled.get('typescript')}); {into}: {len(bundled)} bundled; "
                f"to port: {sum(plan.action[n] == 'port' for n in work_items)}, "
                f"to check: {sum(plan.action[n] == 'check' for n in work_items)}\n"
            )
            if plan.bundled_only:
                shown = ", ".join(plan.bundled_only[:3])
                more = len(plan.bundled_only) - 3
                out.write(
                    f"  note: {len(plan.bundled_only)} bundled migration(s) are not upstream: "
                    f"{shown}{f' and {more} more' if more > 0 else ''}\n"
                )
            if not work_items:
                out.write("Nothing to port: this folder has every upstream migration.\n")
                return EXIT_OK
            with scratch_databases(base, "knex", "bazooka") as databases:
                versions = knex.request(
                    {"op": "open", "connection": _knex_connection(databases["knex"].settings)}
                )
                if not versions.get("ok"):
                    raise ToolError(f"Knex cannot connect: {versions.get('error')}")
                errors = _compile_errors(compiled, out)
                porter = Porter(
                    knex=knex,
                    build=work / "build",
                    into=into,
                    staging=work / "staging",
                    databases=databases,
                    roles=roles,
                )
                try:
                    outcomes = _work(porter, plan, work_items, errors, out)
                finally:
                    with contextlib.suppress(ToolError):  # before the databases are dropped
                        knex.request({"op": "disconnect"})
        finally:
            knex.close()
    return _finish(outcomes, plan=plan, into=into, snapshots=snapshots, started=started, out=out)


def _compile_errors(compiled: dict[str, Any], out: IO[str]) -> dict[str, str]:
    """TypeScript's syntax errors by migration name; others (helpers) are printed."""
    names = {m["file"]: m["name"] for m in compiled["migrations"]}
    errors: dict[str, str] = {}
    for file, error in (compiled.get("errors") or {}).items():
        if file in names:
            errors[names[file]] = error
        else:
            out.write(f"  warning: {file} does not compile: {error}\n")
    return errors


def _knex_connection(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.db_hostname,
        "port": settings.db_port,
        "user": settings.db_username,
        "password": settings.db_password.get_secret_value(),
        "database": settings.db_name,
    }


def _work(
    porter: Porter,
    plan: Plan,
    work_items: list[str],
    compile_errors: dict[str, str],
    out: IO[str],
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    pending_bundled: str | None = None
    for name in plan.order:
        action = plan.action[name]
        if action == "bundled":
            pending_bundled = name
            continue
        if pending_bundled is not None:
            porter.advance(pending_bundled)
            pending_bundled = None
        number = len(outcomes) + 1
        out.write(f"[{number}/{len(work_items)}] {action} {name} ... ")
        out.flush()
        started = time.monotonic()
        compile_error = compile_errors.get(name)
        if compile_error:
            outcome = Outcome(
                name, action, "flagged", [f"errors: does not compile: {compile_error}"]
            )
        else:
            try:
                outcome = porter.process(name, action)
            except NotVerified as exc:
                outcome = Outcome(name, action, "not verified", [exc.detail])
        outcome.seconds = time.monotonic() - started
        outcomes.append(outcome)
        out.write(f"{outcome.status} ({outcome.seconds:.1f} s)\n")
        for note in outcome.notes:
            out.write(f"    note: {note}\n")
        if outcome.status in ("flagged", "not verified"):
            for item in plan.order:
                if item > name and plan.action[item] != "bundled":
                    outcomes.append(Outcome(item, plan.action[item], "blocked"))
            break
    return outcomes


def _finish(
    outcomes: list[Outcome],
    *,
    plan: Plan,
    into: Path,
    snapshots: Path | None,
    started: float,
    out: IO[str],
) -> int:
    ported = [o for o in outcomes if o.status == "ported"]
    failed = next((o for o in outcomes if o.status == "not verified"), None)
    flagged = [o for o in outcomes if o.status == "flagged"]
    blocked = [o for o in outcomes if o.status == "blocked"]
    porting = time.monotonic() - started
    not_proven: str | None = None
    if ported and snapshots is not None:
        snapshots.mkdir(parents=True, exist_ok=True)
        try:
            regenerate_snapshots(into, snapshots, out)
        except BaselineMismatch as exc:
            not_proven = str(exc)
    regenerating = time.monotonic() - started - porting
    out.write(
        f"\n{len(ported)} ported and verified, "
        f"{sum(o.status == 'verified' for o in outcomes)} checked and verified "
        f"in {porting:.1f} s"
        + (f" + {regenerating:.1f} s for the snapshots" if ported else "")
        + f"; files in {into}\n"
    )
    if plan.later:
        out.write(f"Not bundled, left for a later run: {', '.join(plan.later)}\n")
    if flagged or blocked:
        out.write(f"\nReview list (nothing was written for these; see {RUNBOOK}):\n")
        for outcome in flagged:
            out.write(f"  - {outcome.name}\n")
            for flag in outcome.flags:
                out.write(f"      {flag}\n")
            for step, statements in outcome.captured.items():
                out.write(f"      Knex sent ({step}):\n")
                for statement in statements or ["(nothing)"]:
                    out.write(f"        {statement}\n")
        if blocked:
            first = (failed or flagged[0]).name
            out.write(f"  - not attempted, they come after {first}:\n")
            for outcome in blocked:
                out.write(f"      {outcome.name}\n")
    if failed is not None:
        out.write(
            f"\nNOT VERIFIED: {failed.name}: {failed.flags[0]}\n"
            f"Nothing was written for it. See {RUNBOOK}.\n"
        )
        return EXIT_FAILED
    if not_proven is not None:
        out.write(
            f"\nBASELINE NOT PROVEN: {not_proven}\nThe ported migrations are written; the "
            "snapshots, the schema model and the baseline are not (the old ones are stale: the "
            f"tests fail until this is resolved). See {RUNBOOK}.\n"
        )
        return EXIT_FAILED
    return EXIT_REVIEW if flagged else EXIT_OK


def regenerate_snapshots(into: Path, snapshots: Path, out: IO[str]) -> None:
    """tools/update_snapshots.py for this folder; say if an existing step changed."""
    from tools.update_snapshots import regenerate

    steps = snapshots / "steps.json"
    previous = json.loads(steps.read_text()) if steps.exists() else None
    out.write(f"Regenerating the snapshots in {snapshots} ...\n")
    out.flush()
    # The bundled migrations' model and baseline are package data; another folder's go with
    # its snapshots.
    data = DATA if into == BUNDLED.resolve() else snapshots
    with contextlib.redirect_stdout(out):
        regenerate(load_from(into), snapshots, data)
    if previous is None:
        return
    current = json.loads(steps.read_text())
    # The steps before the first new or moved migration must keep their fingerprints.
    same = ["000"]
    for step, name in sorted(previous["migrations"].items()):
        if current["migrations"].get(step) != name:
            break
        same.append(step)
    changed = [step for step in same if current["up"].get(step) != previous["up"].get(step)]
    if changed:
        out.write(
            f"WARNING: the schema after existing step(s) {', '.join(changed)} changed: "
            "an existing migration or the PostgreSQL version differs; review the diff\n"
        )


def main() -> None:
    sys.exit(run())
