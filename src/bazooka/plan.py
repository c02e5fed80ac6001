"""The plan: which steps an event asks for, in the specification's order. Pure data."""

from __future__ import annotations

from dataclasses import dataclass

from bazooka.event import DESTRUCTIVE_FIELDS, BazookaEvent

STEP_ORDER: tuple[str, ...] = (
    "reset_db",
    "rollback",
    "migrate",
    "clear_db",
    "create_kafka_topics",
    "clear_kafka_topics",
    "clear_redis",
    "send_stateful_orders_to_vulcan",
)

DESCRIPTIONS = {
    "reset_db": "drop and recreate schema public (migrations not re-run unless migrate is set)",
    "rollback": "roll back the latest migration batch",
    "migrate": "apply all pending migrations as one new batch",
    "clear_db": "delete all rows of all indexer tables (schema and bookkeeping kept)",
    "create_kafka_topics": "create missing Kafka topics, grow partition counts below target",
    "clear_kafka_topics": "delete all records of every managed Kafka topic",
    "clear_redis": "flush all Redis data (FLUSHALL)",
    "send_stateful_orders_to_vulcan": "re-send open long-term and conditional orders to Vulcan",
}


@dataclass(frozen=True)
class Step:
    """One planned step: the event field that asked for it, and whether it destroys data."""

    name: str
    destructive: bool
    description: str
    skip_reason: str | None = None


def plan(event: BazookaEvent) -> list[Step]:
    """The steps ``event`` asks for, in execution order."""
    steps = []
    for name in STEP_ORDER:
        if not getattr(event, name):
            continue
        skip = None
        if name == "clear_db" and event.reset_db:
            skip = "reset_db already removed every table"
        steps.append(Step(name, name in DESTRUCTIVE_FIELDS, DESCRIPTIONS[name], skip))
    return steps
