"""The JSON report is an interface (the Lambda response body, ``--json``): its shape is pinned
here, step by step, so that any change to it is deliberate.

Each entry lists the keys of a step's ``details`` and the JSON types of their values, for its
plan (dry run) and its result (run), built from the typed outcomes without any service.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest

from bazooka.errors import BazookaError, KafkaOperationError
from bazooka.event import BazookaEvent
from bazooka.kafka.admin import Watermarks
from bazooka.kafka.clear import ClearResult as TopicsClearResult
from bazooka.kafka.clear import ClearTopicsPlan, TopicCleared, TopicToClear
from bazooka.kafka.create import CreationPlan, CreationResult
from bazooka.kafka.topics import MANAGED_TOPICS, plan_topics
from bazooka.outcome import Outcome, Skipped
from bazooka.postgres.lock import StaleLockRecovery
from bazooka.postgres.lock_plan import lock_report
from bazooka.postgres.maintenance import ClearDbPlan, ClearResult, ResetPlan, ResetResult
from bazooka.postgres.migrations_source import Direction, bundled
from bazooka.postgres.migrator import (
    MigratePlan,
    MigrateResult,
    RollbackPlan,
    RollbackResult,
    TransactionMode,
    plan_migrate_from_empty,
    plan_rollback_after_reset,
)
from bazooka.postgres.verify import SchemaReport, VerifyPlan
from bazooka.redis_ops import FlushPlan, FlushResult
from bazooka.report import Report, StepOutcome, StepStatus
from bazooka.steps import STEPS
from bazooka.vulcan.send import SendPlan, SendResult, plan_send_after_reset
from bazooka.vulcan.share import Tally

INT, STR, BOOL, LIST, OBJ, NULL = int, str, bool, list, dict, type(None)
COUNT = (int, str)  # a number, or "unknown: <reason>"

KNOWN = bundled()
STALE = StaleLockRecovery("1234", 2.0, datetime(2026, 11, 30, tzinfo=UTC))

# step -> [(what, outcome, {key: JSON type(s)})]
SHAPES: dict[str, list[tuple[str, Outcome, dict[str, Any]]]] = {
    "reset_db": [
        (
            "plan",
            ResetPlan(("blocks",), ("vaults_daily_pnl",), ()),
            {"tables_to_drop": INT, "materialized_views_to_drop": INT, "tables": LIST},
        ),
        (
            "result",
            ResetResult(1, 1, 0),
            {"tables_dropped": INT, "materialized_views_dropped": INT, "views_dropped": INT},
        ),
    ],
    "rollback": [
        (
            "plan",
            RollbackPlan(2, KNOWN[-2:], locked=False, unknown=()),
            {
                "batch": (INT, NULL),
                "migrations_to_roll_back": LIST,
                "locked": BOOL,
                "unknown_recorded_migrations": LIST,
                "unknown_in_latest_batch": LIST,
            },
        ),
        (
            "plan of a dry run: with the lock report of the downs",
            RollbackPlan(
                2,
                KNOWN[-2:],
                locked=False,
                unknown=(),
                locks=lock_report(None, KNOWN[-2:], direction=Direction.DOWN),
            ),
            {
                "batch": (INT, NULL),
                "migrations_to_roll_back": LIST,
                "locked": BOOL,
                "unknown_recorded_migrations": LIST,
                "unknown_in_latest_batch": LIST,
                "locks": OBJ,
            },
        ),
        (
            "plan after reset_db",
            plan_rollback_after_reset(),
            {"migrations_to_roll_back": LIST, "note": STR},
        ),
        (
            "result",
            RollbackResult(2, ("a.js",)),
            {"batch": (INT, NULL), "rolled_back": LIST, "rolled_back_count": INT},
        ),
        (
            "result after releasing a stale lock",
            RollbackResult(2, ("a.js",), STALE),
            {
                "batch": (INT, NULL),
                "rolled_back": LIST,
                "rolled_back_count": INT,
                "recovered_stale_lock": OBJ,
            },
        ),
    ],
    "migrate": [
        (
            "plan",
            MigratePlan(KNOWN[:3], locked=False, unknown=(), bookkeeping_ready=True),
            {
                "migrations_to_apply": LIST,
                "count": INT,
                "path": STR,
                "mode": STR,
                "locked": BOOL,
                "unknown_recorded_migrations": LIST,
            },
        ),
        (
            "plan of a dry run: with the lock report",
            MigratePlan(
                KNOWN[:3],
                locked=False,
                unknown=(),
                bookkeeping_ready=True,
                locks=lock_report(None, KNOWN[:3]),
            ),
            {
                "migrations_to_apply": LIST,
                "count": INT,
                "path": STR,
                "mode": STR,
                "locked": BOOL,
                "unknown_recorded_migrations": LIST,
                "locks": OBJ,
            },
        ),
        (
            "plan after reset_db",
            plan_migrate_from_empty(KNOWN),
            {
                "migrations_to_apply": LIST,
                "count": INT,
                "path": STR,
                "mode": STR,
                "locked": BOOL,
                "unknown_recorded_migrations": LIST,
            },
        ),
        (
            "result",
            MigrateResult(1, ("a.js",), TransactionMode.ONE),
            {
                "batch": (INT, NULL),
                "applied": LIST,
                "applied_count": INT,
                "mode": STR,
                "path": STR,
            },
        ),
        (
            "result with invalid indexes",
            MigrateResult(1, ("a.js",), TransactionMode.PER_MIGRATION, ("x_index",)),
            {
                "batch": (INT, NULL),
                "applied": LIST,
                "applied_count": INT,
                "mode": STR,
                "path": STR,
                "invalid_indexes": LIST,
            },
        ),
        (
            "result after releasing a stale lock",
            MigrateResult(1, ("a.js",), TransactionMode.ONE, recovered_stale_lock=STALE),
            {
                "batch": (INT, NULL),
                "applied": LIST,
                "applied_count": INT,
                "mode": STR,
                "path": STR,
                "recovered_stale_lock": OBJ,
            },
        ),
    ],
    "clear_db": [
        (
            "plan",
            ClearDbPlan(("blocks",), (), (), MappingProxyType({"blocks": 2})),
            {"tables_to_clear": INT, "rows_to_remove": OBJ, "total_rows_to_remove": INT},
        ),
        (
            "result",
            ClearResult(1, MappingProxyType({"blocks": 2}), ("vaults_daily_pnl",), ()),
            {
                "tables_cleared": INT,
                "rows_removed": OBJ,
                "total_rows_removed": INT,
                "materialized_views_refreshed": LIST,
                "missing_tables": LIST,
            },
        ),
        (
            "skipped after reset_db",
            Skipped("reset_db already removed every table"),
            {"reason": STR},
        ),
    ],
    "verify_schema": [
        (
            "plan",
            VerifyPlan(113, "20260302120000_add_created_at_to_orders.js"),
            {
                "step": INT,
                "latest_migration": (STR, NULL),
            },
        ),
        (
            "result",
            SchemaReport(
                step=113,
                latest_migration="20260302120000_add_created_at_to_orders.js",
                walk="up",
                differences=(),
                objects_expected=300,
                objects_live=300,
            ),
            {
                "ok": BOOL,
                "headline": STR,
                "step": INT,
                "latest_migration": (STR, NULL),
                "compared_with": STR,
                "state": STR,
                "objects_expected": INT,
                "objects_live": INT,
                "summary": OBJ,
                "differences": LIST,
                "runtime_functions": LIST,
                "other_walk_differences": (INT, NULL),
                "notes": LIST,
            },
        ),
        (
            "result with grants beyond the migrations (information, added when there is some)",
            SchemaReport(
                step=113,
                latest_migration="20260302120000_add_created_at_to_orders.js",
                walk="up",
                differences=(),
                objects_expected=300,
                objects_live=300,
                information=("table orders: readers SELECT (not granted by the migrations)",),
            ),
            {
                "ok": BOOL,
                "headline": STR,
                "step": INT,
                "latest_migration": (STR, NULL),
                "compared_with": STR,
                "state": STR,
                "objects_expected": INT,
                "objects_live": INT,
                "summary": OBJ,
                "differences": LIST,
                "runtime_functions": LIST,
                "other_walk_differences": (INT, NULL),
                "notes": LIST,
                "information": LIST,
            },
        ),
    ],
    "create_kafka_topics": [
        (
            "plan",
            CreationPlan(1, 1, plan_topics({"to-ender": 1})),
            {
                "brokers": INT,
                "replication_factor": INT,
                "topics_to_create": LIST,
                "partitions_to_create": INT,
                "topics_to_grow": OBJ,
                "topics_above_target": OBJ,
                "topics_unchanged": LIST,
            },
        ),
        (
            "plan refused for its replication factor",
            CreationPlan(1, 3, plan_topics({})),
            {
                "brokers": INT,
                "replication_factor": INT,
                "topics_to_create": LIST,
                "partitions_to_create": INT,
                "topics_to_grow": OBJ,
                "topics_above_target": OBJ,
                "topics_unchanged": LIST,
                "problem": STR,
            },
        ),
        (
            "result, topics created",
            CreationResult(CreationPlan(1, 1, plan_topics({}))),
            {
                "brokers": INT,
                "replication_factor": INT,
                "topics_to_create": LIST,
                "partitions_to_create": INT,
                "topics_to_grow": OBJ,
                "topics_above_target": OBJ,
                "topics_unchanged": LIST,
                "created_concurrently_by_someone_else": LIST,
                "changed": BOOL,
            },
        ),
        (
            "result, nothing to do",
            CreationResult(CreationPlan(1, 1, plan_topics(MANAGED_TOPICS))),
            {
                "brokers": INT,
                "replication_factor": INT,
                "topics_to_create": LIST,
                "partitions_to_create": INT,
                "topics_to_grow": OBJ,
                "topics_above_target": OBJ,
                "topics_unchanged": LIST,
                "changed": BOOL,
                "message": STR,
            },
        ),
    ],
    "clear_kafka_topics": [
        (
            "plan",
            ClearTopicsPlan(
                (TopicToClear("to-ender", MappingProxyType({0: Watermarks(0, 4)})),),
                ("to-vulcan",),
            ),
            {"records_to_delete": OBJ, "total_records_to_delete": COUNT, "missing_topics": LIST},
        ),
        (
            "result",
            TopicsClearResult(MappingProxyType({"to-ender": TopicCleared(1, 4, 2)}), ()),
            {
                "records_removed": OBJ,
                "total_records_removed": COUNT,
                "partitions_cleared": INT,
                "attempts": OBJ,
                "missing_topics": LIST,
            },
        ),
        (
            "result of a failed clear (the error's details)",
            TopicsClearResult(MappingProxyType({}), (), MappingProxyType({"to-ender": "gone"})),
            {
                "records_removed": OBJ,
                "total_records_removed": COUNT,
                "partitions_cleared": INT,
                "attempts": OBJ,
                "missing_topics": LIST,
                "failed_topics": OBJ,
            },
        ),
        (
            "result of a failed clear with partitions unknown and not cleared",
            TopicsClearResult(
                MappingProxyType({"to-ender": TopicCleared(1, 4, 2)}),
                (),
                MappingProxyType({"to-vulcan": "no leader"}),
                partial=MappingProxyType({"to-vulcan": TopicCleared(207, 900, 3, (4, 9), (12,))}),
            ),
            {
                "records_removed": OBJ,
                "total_records_removed": COUNT,
                "partitions_cleared": INT,
                "attempts": OBJ,
                "missing_topics": LIST,
                "failed_topics": OBJ,
                "partitions_unknown": OBJ,
                "partitions_not_cleared": OBJ,
            },
        ),
        (
            "result of a clear the time budget stopped (the error's details)",
            TopicsClearResult(
                MappingProxyType({}), (), stopped=MappingProxyType({"to-ender": "no time"})
            ),
            {
                "records_removed": OBJ,
                "total_records_removed": COUNT,
                "partitions_cleared": INT,
                "attempts": OBJ,
                "missing_topics": LIST,
                "stopped_topics": OBJ,
            },
        ),
    ],
    "clear_redis": [
        (
            "plan",
            FlushPlan(MappingProxyType({"db0": 3})),
            {"keys_to_flush": OBJ, "total_keys_to_flush": INT},
        ),
        (
            "result",
            FlushResult("redis://localhost:6382", MappingProxyType({"db0": 3}), 0),
            {"redis": STR, "keys_removed": OBJ, "total_keys_removed": INT, "keys_left": INT},
        ),
    ],
    "send_stateful_orders_to_vulcan": [
        (
            "plan",
            SendPlan(3, 1, 210),
            {
                "orders_to_send": INT,
                "order_updates_to_send": INT,
                "messages_to_send": INT,
                "topic": STR,
            },
        ),
        ("plan after reset_db", plan_send_after_reset(), {"orders_to_send": INT, "note": STR}),
        (
            "result",
            SendResult(Tally(orders=3, updates=1, produced=4, delivered=4), 210, 2, 0.5),
            {
                "orders_read": INT,
                "orders_sent": INT,
                "messages_produced": INT,
                "messages_acknowledged": INT,
                "order_updates": INT,
                "invalid_orders": INT,
                "partitions": INT,
                "workers": INT,
                "encoder": STR,
                "duration_s": (float, int),
            },
        ),
        (
            "result of a failed send (the error's details)",
            SendResult(
                Tally(orders=3, rejected=1, invalid={"id": "why"}, produced=2, delivered=2),
                210,
                1,
                0.5,
                ("bad",),
            ),
            {
                "orders_read": INT,
                "orders_sent": INT,
                "messages_produced": INT,
                "messages_acknowledged": INT,
                "order_updates": INT,
                "invalid_orders": INT,
                "partitions": INT,
                "workers": INT,
                "encoder": STR,
                "duration_s": (float, int),
                "invalid": OBJ,
            },
        ),
    ],
}


CASES = [
    (step, what, outcome, keys) for step, shapes in SHAPES.items() for what, outcome, keys in shapes
]


def test_every_step_of_the_table_has_its_shape_pinned() -> None:
    assert list(SHAPES) == [step.name for step in STEPS]


@pytest.mark.parametrize(
    ("step", "what", "outcome", "keys"), CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES]
)
def test_step_details_keep_their_keys_and_json_types(
    step: str, what: str, outcome: Outcome, keys: dict[str, Any]
) -> None:
    details = json.loads(json.dumps(outcome.to_dict()))
    assert set(details) == set(keys), f"{step} {what}: keys changed"
    for key, kind in keys.items():
        assert isinstance(details[key], kind), f"{step} {what}: {key} is {details[key]!r}"
    assert isinstance(outcome.headline(), str) and outcome.headline()


def _report(*steps: StepOutcome, failure: BazookaError | None = None) -> dict[str, Any]:
    report = Report(BazookaEvent(migrate=True).as_dict(), list(steps), failure=failure)
    decoded: dict[str, Any] = json.loads(json.dumps(report.to_dict()))
    return decoded


STEP_KEYS = {"name", "status", "destructive", "duration_s", "details"}
REPORT_KEYS = {"ok", "dry_run", "duration_s", "event", "steps"}


def test_the_report_and_its_steps_keep_their_keys() -> None:
    done = StepOutcome("migrate", False, StepStatus.SUCCEEDED, 0.5, RollbackResult(None, ()))
    ok = _report(done)
    assert set(ok) == REPORT_KEYS and ok["ok"] is True
    assert set(ok["steps"][0]) == STEP_KEYS
    assert set(ok["event"]) == {"force", *(s.name for s in STEPS)}

    failed = StepOutcome("create_kafka_topics", False, StepStatus.FAILED, 0.1, error="gone")
    bad = _report(done, failed, failure=KafkaOperationError("gone"))
    assert set(bad) == REPORT_KEYS | {"failed_step", "error"} and bad["ok"] is False
    assert set(bad["steps"][1]) == STEP_KEYS | {"error"} and bad["steps"][1]["details"] == {}

    refused = _report(failure=KafkaOperationError("refused"))  # no step failed: still an error
    assert set(refused) == REPORT_KEYS | {"error"} and refused["ok"] is False


def test_statuses_are_the_documented_words() -> None:
    assert {s.value for s in StepStatus} == {
        "succeeded",
        "failed",
        "skipped",
        "not_run",
        "planned",
        "refused",
        "would_fail",
    }
