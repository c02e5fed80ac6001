"""Human output for the CLI: live progress on a TTY, a summary table, status tables.

Nothing here runs in Lambda or with ``--json``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bazooka.logs import writing_to
from bazooka.outcome import table_size
from bazooka.report import Report, StepOutcome, StepStatus
from bazooka.schedule import ScheduledStep
from bazooka.systems import System

_STYLE = {
    StepStatus.SUCCEEDED: "[green]✔ succeeded[/]",
    StepStatus.FAILED: "[bold red]✘ failed[/]",
    StepStatus.SKIPPED: "[yellow]- skipped[/]",
    StepStatus.NOT_RUN: "[dim]· not run[/]",
    StepStatus.PLANNED: "[cyan]→ would run[/]",
    StepStatus.REFUSED: "[bold red]⊘ refused[/]",
    StepStatus.WOULD_FAIL: "[bold red]✘ would fail[/]",
}


class RichProgress:
    """A live progress display: one line per step, with a bar when the step's work is counted.

    While it is shown, log lines go through it (printed above the live lines), so a failure's
    log never lands in the middle of a progress line.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[step]}[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._shown = ExitStack()

    def __enter__(self) -> RichProgress:
        self._progress.start()
        # On a terminal, rich now routes sys.stderr through the display: send the logs there.
        self._shown.enter_context(writing_to(sys.stderr))
        self._shown.callback(self._progress.stop)  # stops first, then the logs are restored
        return self

    def __exit__(self, *exc: object) -> None:
        self._shown.close()

    def step_started(self, step: ScheduledStep) -> None:
        """Add a line for the step."""
        self._task = self._progress.add_task("", total=None, step=step.name)

    def step_finished(self, outcome: StepOutcome) -> None:
        """Close the step's line with its outcome."""
        if self._task is None:
            self._task = self._progress.add_task("", total=None, step=outcome.name)
        total = self._progress.tasks[self._task].total
        self._progress.update(
            self._task,
            description=f"{_STYLE[outcome.status]} {escape(outcome.headline())}",
            total=total if total is not None else 1,
            completed=total if total is not None else 1,
        )
        self._task = None

    def start_task(self, description: str, total: int | None) -> None:
        """The current step's countable work."""
        if self._task is not None:
            self._progress.update(self._task, description=description, total=total, completed=0)

    def advance(self, amount: int = 1, description: str | None = None) -> None:
        """Move the current step's bar."""
        if self._task is not None:
            self._progress.advance(self._task, amount)
            if description:
                self._progress.update(self._task, description=description)


def summary_table(report: Report) -> Table:
    """One row per planned step: status, duration, what it did."""
    title = "Bazooka plan (dry run: nothing changed)" if report.dry_run else "Bazooka run"
    table = Table(title=title, title_justify="left")
    table.add_column("step")
    table.add_column("destructive", justify="center")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("details")
    for step in report.steps:
        table.add_row(
            step.name,
            "[red]yes[/]" if step.destructive else "no",
            _STYLE[step.status],
            f"{step.duration_s:.2f}s",
            escape(step.headline()),
        )
    return table


def print_plan_details(console: Console, report: Report) -> None:
    """For a dry run, the concrete lists behind each step (migration names, topics...)."""
    for step in report.steps:
        interesting = {k: v for k, v in step.details.items() if v not in (None, [], {}, 0)}
        if not interesting:
            continue
        console.print(f"[bold]{step.name}[/]")
        locks = interesting.pop("locks", None)
        for key, value in interesting.items():
            console.print(f"  {key}: {_short(value)}")
        if locks is not None:
            _print_locks(console, locks)


def _print_locks(console: Console, locks: dict[str, Any]) -> None:
    """``plan --migrate``'s lock report: per migration and statement, each table's lock, the
    work done under it and the table's size; then the warnings (postgres/lock_plan.py)."""
    sizes = locks["table_sizes"]
    console.print(
        "  locks (per statement: table, lock mode, work under it, size from the catalog):"
    )
    for migration in locks["migrations"]:
        console.print(f"    {escape(migration['migration'])}", highlight=False)
        for statement in migration["statements"]:
            console.print(
                f"      {statement['statement']}. {escape(statement['sql'])}", highlight=False
            )
            if "unknown" in statement:
                console.print(
                    f"         [yellow]unknown[/]: {escape(statement['unknown'])}", highlight=False
                )
            for table in statement["tables"]:
                console.print(f"         {_table_lock_line(table, sizes)}", highlight=False)
    thresholds = locks["thresholds"]
    warnings = locks["warnings"]
    limit = f"{thresholds['rows']:,} rows or {thresholds['bytes']:,} bytes"
    if not warnings:
        console.print(f"  lock warnings: none (heavy work on tables of at least {limit})")
        return
    console.print(
        f"  [bold yellow]lock warnings[/] ({len(warnings)}; tables of at least {limit}; "
        "see docs/operators.md#the-plans-lock-report):"
    )
    for warning in warnings:
        console.print(f"    [yellow]![/] {escape(warning['message'])}", highlight=False)


def _table_lock_line(table: dict[str, Any], sizes: dict[str, Any]) -> str:
    blocks = f" (blocks {table['blocks']})" if "blocks" in table else ""
    line = f"{escape(table['table'])}: {table['lock']}{blocks}, work: {table['work']}"
    if table.get("new_in_batch"):
        line += ", new in this batch (empty)"
    elif table["table"] in sizes:
        size = sizes[table["table"]]
        rows = size["estimated_rows"]
        line += f", {table_size(rows if isinstance(rows, int) else None, size['bytes'])}"
    if "note" in table:
        line += f" [dim]({escape(table['note'])})[/]"
    return line


def status_tables(console: Console, status: dict[str, Any]) -> None:
    """Render ``bazooka status``: one section per system, an unreachable one says why."""
    for system, (title, render) in _SECTIONS.items():
        section = status[system]
        console.print(f"[bold]{title}[/]")
        if "error" in section:
            console.print(f"  [red]unreachable[/]: {escape(section['error'])}")
        else:
            render(console, section)


def _postgres_section(console: Console, pg: dict[str, Any]) -> None:
    lock = {None: "no lock table", True: "[red]LOCKED[/]", False: "free"}[pg["locked"]]
    console.print(f"  {escape(pg['target'])}")
    console.print(
        f"  migrations: {pg['applied_count']} applied, {pg['pending_count']} pending "
        f"(of {pg['known_migrations']} known); latest batch {pg['latest_batch']}; lock {lock}"
    )
    console.print(f"  newest bundled migration: {pg['newest_known_migration']}")
    if pg["batches"]:
        per_batch = ", ".join(f"batch {b}: {n}" for b, n in pg["batches"].items())
        console.print(f"  applied per batch: {per_batch}")
    if pg["unknown"]:
        console.print(
            f"  [red]recorded but not bundled[/] (this Bazooka is behind this database; "
            f"see docs/maintainers.md): {', '.join(pg['unknown'])}"
        )
    if pg["pending"]:
        console.print(f"  pending: {_short(pg['pending'])}")
    if pg["invalid_indexes"]:
        console.print(f"  [red]invalid indexes[/]: {', '.join(pg['invalid_indexes'])}")
    if "schema" in pg:
        verdict = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[yellow]?[/]"}
        schema = pg["schema"]
        console.print(
            f"  schema: {verdict[schema['ok']]} {escape(schema['headline'])}", highlight=False
        )


def _kafka_section(console: Console, kafka: dict[str, Any]) -> None:
    table = Table("topic", "partitions", "target", "replicas", "records")
    for topic, info in kafka["topics"].items():
        if not info["exists"]:
            table.add_row(topic, "[red]missing[/]", str(info["target_partitions"]), "", "")
            continue
        mark = "" if info["partitions"] == info["target_partitions"] else "[yellow]≠[/] "
        table.add_row(
            topic,
            f"{mark}{info['partitions']}",
            str(info["target_partitions"]),
            str(info["replication_factor"]),
            escape(str(info["records"])),
        )
    console.print(f"  {kafka['brokers']} broker(s) at {escape(kafka['brokers_url'])}")
    console.print(table)


def _redis_section(console: Console, redis: dict[str, Any]) -> None:
    per_db = ", ".join(f"{db}: {n}" for db, n in redis["keys"].items()) or "empty"
    console.print(f"  {escape(redis['url'])}: {redis['total_keys']} key(s) ({per_db})")


_SECTIONS: dict[System, tuple[str, Callable[[Console, dict[str, Any]], None]]] = {
    System.POSTGRES: ("PostgreSQL", _postgres_section),
    System.KAFKA: ("Kafka", _kafka_section),
    System.REDIS: ("Redis", _redis_section),
}


def _short(value: Any, limit: int = 8) -> str:
    if isinstance(value, list) and len(value) > limit:
        return ", ".join(map(str, value[:limit])) + f" … (+{len(value) - limit} more)"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)
