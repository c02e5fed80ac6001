"""Outcomes as data: what each step did, for the Lambda body, the CLI and tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bazooka.errors import BazookaError


class StepStatus(StrEnum):
    """What happened to a planned step."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # planned, but made unnecessary by another step (clear_db after reset_db)
    NOT_RUN = "not_run"  # a previous step failed or time ran out
    PLANNED = "planned"  # dry run: would run


@dataclass
class StepOutcome:
    """One step of the plan and what came of it."""

    name: str
    destructive: bool
    status: StepStatus
    duration_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "name": self.name,
            "status": self.status.value,
            "destructive": self.destructive,
            "duration_s": round(self.duration_s, 3),
            "details": self.details,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class Report:
    """The result of one invocation: the event, each step's outcome, and the first failure."""

    event: dict[str, bool]
    steps: list[StepOutcome]
    dry_run: bool = False
    duration_s: float = 0.0
    failure: BazookaError | None = None

    @property
    def ok(self) -> bool:
        """True when no step failed."""
        return self.failure is None and all(s.status != StepStatus.FAILED for s in self.steps)

    @property
    def failed_step(self) -> StepOutcome | None:
        """The step that stopped the run, if any."""
        return next((s for s in self.steps if s.status == StepStatus.FAILED), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the failure's exception object is kept out)."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "duration_s": round(self.duration_s, 3),
            "event": self.event,
            "steps": [s.to_dict() for s in self.steps],
        }
        failed = self.failed_step
        if failed is not None:
            out["failed_step"] = failed.name
            out["error"] = failed.error
        return out


def headline(name: str, details: dict[str, Any]) -> str:
    """One human line summarising a step's details (CLI table, plain-text output)."""
    d = details
    if "reason" in d and len(d) == 1:
        return str(d["reason"])
    match name:
        case "reset_db":
            if "tables_to_drop" in d:
                return f"would drop {d['tables_to_drop']} table(s)"
            return f"dropped {d.get('tables_dropped', 0)} table(s)"
        case "migrate":
            if "migrations_to_apply" in d:
                return f"would apply {d['count']} migration(s) ({d['mode']})"
            if not d.get("applied_count"):
                return "already up to date"
            return f"applied {d['applied_count']} migration(s) as batch {d['batch']}"
        case "rollback":
            if "migrations_to_roll_back" in d:
                return f"would roll back {len(d['migrations_to_roll_back'])} migration(s)"
            if not d.get("rolled_back_count"):
                return "nothing to roll back"
            return f"rolled back {d['rolled_back_count']} migration(s) of batch {d['batch']}"
        case "clear_db":
            if "total_rows_to_remove" in d:
                return f"would remove {d['total_rows_to_remove']} row(s)"
            return (
                f"removed {d.get('total_rows_removed', 0)} row(s) from "
                f"{d.get('tables_cleared', 0)} table(s)"
            )
        case "create_kafka_topics":
            verb = "would create" if "changed" not in d else "created"
            grow_verb = "grow" if verb == "would create" else "grew"
            if d.get("changed") is False:
                return "nothing to do"
            return (
                f"{verb} {len(d.get('topics_to_create', []))} topic(s), "
                f"{grow_verb} {len(d.get('topics_to_grow', {}))}"
            )
        case "clear_kafka_topics":
            if "total_records_to_delete" in d:
                return f"would delete {d['total_records_to_delete']} record(s)"
            return (
                f"deleted {d.get('total_records_removed', 0)} record(s) from "
                f"{len(d.get('records_removed', {}))} topic(s)"
            )
        case "clear_redis":
            if "total_keys_to_flush" in d:
                return f"would flush {d['total_keys_to_flush']} key(s)"
            return f"flushed {d.get('total_keys_removed', 0)} key(s)"
        case "send_stateful_orders_to_vulcan":
            if "orders_to_send" in d:
                return f"would send {d['orders_to_send']} order(s)"
            return (
                f"sent {d.get('orders_sent', 0)} order(s), "
                f"{d.get('messages_acknowledged', 0)} message(s) acknowledged"
            )
    return ""
