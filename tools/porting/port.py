"""The port itself: the plan (what to port, check or just apply, in name order) and the
:class:`Porter` that runs it on the two scratch databases and verifies each replay."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bazooka.postgres import migrator
from bazooka.postgres.migrations_source import (
    NO_TRANSACTION_MARKER,
    Migration,
    load_from,
)
from tools.porting.base import RUNBOOK, NotVerified, UsageError
from tools.porting.knex import KnexRun, KnexSession
from tools.porting.scratch import Scratch, ScratchRoles, missing_role
from tools.porting.sql import first_difference, first_statement_difference, render, review
from tools.schema_dump import (
    fingerprint,
    state_difference,
)


@dataclass
class Outcome:
    """What happened to one migration."""

    name: str
    action: str  # "port" | "check"
    status: str = "pending"  # "ported" | "verified" | "flagged" | "not verified" | "blocked"
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    captured: dict[str, list[str]] = field(default_factory=dict)  # what Knex sent, if flagged


@dataclass
class Plan:
    """The ordered work: every migration upstream or bundled, and what to do with each."""

    order: list[str]
    action: dict[str, str]  # name -> "bundled" | "port" | "check"
    later: list[str]  # upstream migrations left for later (after the last --only one)
    bundled_only: list[str]  # bundled but not upstream


def make_plan(
    upstream: Sequence[str],
    bundled: Sequence[str],
    only: Sequence[str],
    check: Sequence[str],
) -> Plan:
    """Decide, in name order, which migrations are ported, checked, or just applied.

    A migration is ported on top of every migration before it, so an unported upstream
    migration before a requested one is an error: the ports would not match the original.
    """
    missing = [n for n in upstream if n not in set(bundled)]
    # Without --only: every missing one, unless the run is a --check.
    selected = list(only) if only else [] if check else missing
    for name in selected:
        if name in bundled:
            raise UsageError(f"{name} is already bundled; verify it with --check {name}")
    for name in check:
        if name not in upstream or name not in bundled:
            raise UsageError(f"--check {name}: it must be both upstream and bundled")
    last = max([*selected, *check], default="")
    later = [n for n in missing if n not in selected and n > last]
    skipped = [n for n in missing if n not in selected and n < last]
    if skipped:
        raise UsageError(
            f"{', '.join(skipped)}: upstream before {last}, not bundled: port them first "
            "(each port stands on every migration before it)"
        )
    order = [n for n in sorted(set(bundled) | set(selected)) if n <= last]
    action = {n: "port" if n in selected else "check" if n in check else "bundled" for n in order}
    return Plan(order, action, later, [n for n in bundled if n not in set(upstream)])


class Porter:
    """Runs the plan on two scratch databases: Knex's, and Bazooka's replay."""

    def __init__(
        self,
        *,
        knex: KnexSession,
        build: Path,
        into: Path,
        staging: Path,
        databases: dict[str, Scratch],
        roles: ScratchRoles,
    ) -> None:
        self.knex, self.build, self.into, self.staging = knex, build, into, staging
        self.k, self.b = databases["knex"], databases["bazooka"]
        self.roles = roles

    def known(self, upto: str, extra: Sequence[Migration] = ()) -> list[Migration]:
        """The bundled migrations up to ``upto`` (inclusive), plus ``extra``, by name."""
        present = [m for m in load_from(self.into) if m.name <= upto]
        return sorted([*present, *extra], key=lambda m: m.name)

    def advance(self, upto: str) -> None:
        """Both databases: apply the bundled migrations up to ``upto`` with Bazooka."""
        known = self.known(upto)
        for scratch in (self.k, self.b):
            migrator.migrate(scratch.conn, known)

    def knex_run(self, name: str, direction: str) -> KnexRun:
        reply = self.knex.request(
            {
                "op": "run",
                "build": str(self.build),
                "migration": name,
                "direction": direction,
                "completed": self.k.recorded(),
            }
        )
        return KnexRun.from_reply(reply)

    def process(self, name: str, action: str) -> Outcome:
        """Port (or check) one migration; raise :class:`NotVerified` if the replay differs."""
        outcome = Outcome(name, action)
        checking = action == "check"
        before = self.k.schema()
        runs: dict[str, KnexRun] = {}
        schemas: dict[str, str] = {}
        states: dict[str, list[str]] = {}
        for step, direction in (("up", "up"), ("down", "down"), ("up again", "up")):
            run = self.knex_run(name, direction)
            if step == "up":
                run = self.with_missing_roles(name, run, outcome)
            runs[step] = run
            if not run.ok:
                what = "errors" if step != "up again" else "does not round-trip"
                detail = f"Knex's {direction}" + (" after its down" if step == "up again" else "")
                outcome.flags.append(f"{what}: {detail} fails: {run.error}")
                break
            if not run.returned_promise:
                outcome.flags.append(
                    f"errors: its {direction} does not return a promise, so Knex does not wait "
                    "for its statements (Knex warns 'did not return a promise')"
                )
            if step != "up again":
                flags, notes = review(run.statements, direction)
                outcome.flags += flags
                outcome.notes += notes
            outcome.notes += [f"Knex warned ({direction}): {w}" for w in run.warnings]
            schemas[step] = self.k.schema()
            states[step] = self.k.state()
        if "up again" in schemas:
            difference = first_statement_difference(
                runs["up"].statements, runs["up again"].statements
            )
            if difference:
                outcome.flags.append(
                    f"non-deterministic: the two ups sent different SQL: {difference}"
                )
            if fingerprint(schemas["up again"]) != fingerprint(schemas["up"]):
                outcome.flags.append(
                    "does not round-trip: the schema after up, down, up differs from after up: "
                    + first_difference(
                        schemas["up"], schemas["up again"], "the first up", "the second"
                    )
                )
        if "down" in schemas and fingerprint(schemas["down"]) != fingerprint(before):
            outcome.notes.append(
                "its down is not an exact inverse of its up (reproduced as Knex runs it)"
            )
        if not checking and outcome.flags:
            outcome.status = "flagged"
            outcome.captured = {
                step: [s.shown(0) for s in run.statements] for step, run in runs.items()
            }
            return outcome
        if checking and len(schemas) < 3:
            raise NotVerified(name, "Knex cannot run it up, down, up: " + "; ".join(outcome.flags))
        if checking:
            migration = next(m for m in load_from(self.into) if m.name == name)
        else:
            migration = self.stage(name, runs["up"], runs["down"])
        if migration.transaction != runs["up"].transaction:
            want = "in a transaction" if runs["up"].transaction else "without a transaction"
            raise NotVerified(
                name, f"Knex runs it {want}; the files' '{NO_TRANSACTION_MARKER}' marker disagrees"
            )
        self.verify(migration, schemas, states)
        if checking:
            outcome.status = "verified"
        else:
            for path in (migration.up_file, migration.down_file):
                shutil.move(path, self.into / path.name)
            outcome.status = "ported"
        if checking and outcome.flags:
            # A hand-written port of a flagged migration: the schemas agree; the flags remain
            # for the person who wrote it.
            outcome.notes += [f"flag on Knex's run: {flag}" for flag in outcome.flags]
            outcome.flags = []
        return outcome

    def stage(self, name: str, up: KnexRun, down: KnexRun) -> Migration:
        """Write both files into the staging folder (not yet the migrations folder)."""
        stem = name.removesuffix(".js")
        files = {}
        for direction, run in (("up", up), ("down", down)):
            try:
                text = render(run.statements, up.transaction)
            except ValueError as exc:
                raise NotVerified(name, f"cannot write its {direction}: {exc}") from exc
            path = self.staging / f"{stem}.{direction}.sql"
            path.write_text(text, encoding="utf-8")
            files[direction] = path
        return Migration(name, files["up"], files["down"])

    def with_missing_roles(self, name: str, run: KnexRun, outcome: Outcome) -> KnexRun:
        """Knex's up failed on a role the scratch server lacks (a migration grants to it):
        create the role for this run (:class:`ScratchRoles`) and run the up again. Only a
        migration Knex ran in a transaction is retried: its failure left nothing behind."""
        while not run.ok and run.transaction and (role := missing_role(run.error)) is not None:
            if not self.roles.create(role):
                break
            outcome.notes.append(
                f"created role {role} (NOLOGIN) on the scratch server for this run: the "
                "migration grants to it, so every database it migrates needs that role too "
                f"(the replay and the baseline fail without it; see {RUNBOOK})"
            )
            run = self.knex_run(name, "up")
        if not run.ok and (role := missing_role(run.error)) is not None:
            run.error = (
                f"{run.error} (a migration that runs without a transaction is not retried: "
                f"create the role on this server, e.g. CREATE ROLE {role} NOLOGIN, and run "
                "the tool again)"
            )
        return run

    def verify(
        self, migration: Migration, schemas: dict[str, str], states: dict[str, list[str]]
    ) -> None:
        """Bazooka's migrator replays the files: up, down, up; after each, the schema must be
        Knex's, and so must everything else the database holds (rows, comments, privileges,
        sequence positions)."""
        staged = [migration] if migration.up_file.parent == self.staging else []
        known = self.known(migration.name, staged)
        for step, action in (
            ("up", migrator.migrate),
            ("down", migrator.rollback),
            ("up again", migrator.migrate),
        ):
            try:
                action(self.b.conn, known)
            except Exception as exc:  # any failure of the replay is the verdict
                raise NotVerified(migration.name, f"Bazooka's {step} fails: {exc}") from exc
            ours = self.b.schema()
            if fingerprint(ours) != fingerprint(schemas[step]):
                raise NotVerified(
                    migration.name,
                    f"after Bazooka's {step} the schema differs from Knex's: "
                    + first_difference(schemas[step], ours),
                )
            difference = state_difference(states[step], self.b.state(), "Knex", "Bazooka")
            if difference is not None:
                raise NotVerified(
                    migration.name,
                    f"after Bazooka's {step} the database differs from Knex's (rows, comments, "
                    f"privileges or sequences): {difference}",
                )
