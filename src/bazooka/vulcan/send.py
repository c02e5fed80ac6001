"""``send_stateful_orders_to_vulcan``: stream, convert, encode, produce, and insist on every ack.

The original swallows every error here and reports success having sent nothing. This step
succeeds only when every valid order's messages were acknowledged by the broker (acks=all)
and no order had to be rejected; otherwise it fails with the counts and the bad order ids.
Large sends are spread over processes (:mod:`.workers`), one share of the orders each.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient

from bazooka.budget import TimeBudget
from bazooka.errors import KafkaOperationError, OutOfTime, VulcanSendError
from bazooka.kafka.admin import connect_admin, describe_cluster
from bazooka.kafka.producer import DELIVERY_TIMEOUT_MS
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.logs import emit
from bazooka.outcome import EarlierSteps, NoLaterEffect
from bazooka.postgres.connection import Connection, one_line
from bazooka.progress import TaskProgress
from bazooka.settings import Settings
from bazooka.vulcan import official, wire
from bazooka.vulcan.orders import count_open_stateful
from bazooka.vulcan.share import Tally
from bazooka.vulcan.workers import Job, send_in_processes, worker_count

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # orders read, converted and produced between two progress updates
SHOWN_INVALID = 20  # bad order ids listed in the error message


@dataclass(frozen=True)
class SendPlan(NoLaterEffect):
    """How many orders (and fill updates) the step would send, into how many partitions."""

    orders: int
    updates: int
    partitions: int | None  # of to-vulcan; None: the topic does not exist
    note: str | None = None  # why there is nothing to send, when an earlier step says so

    @property
    def problem(self) -> str | None:
        """Why the send would be refused: no ``to-vulcan`` topic."""
        if self.partitions is None and self.note is None:
            return f"topic {TO_VULCAN} does not exist: the send would be refused"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        if self.note is not None:
            return {"orders_to_send": 0, "note": self.note}
        out: dict[str, Any] = {
            "orders_to_send": self.orders,
            "order_updates_to_send": self.updates,
            "messages_to_send": self.orders + self.updates,
            "topic": TO_VULCAN,
        }
        if self.problem is not None:
            out["problem"] = self.problem
        return out

    def headline(self) -> str:
        """``would send N order(s)``."""
        return f"would send {self.orders} order(s)"


@dataclass(frozen=True)
class SendResult:
    """What was read, sent and acknowledged (and, on failure, which orders were rejected)."""

    tally: Tally
    partitions: int
    workers: int
    duration_s: float
    problems: tuple[str, ...] = ()  # why the step failed; empty on success
    encoder: str = wire.ENCODER  # "C", or "Python" when the C encoder was not built

    def to_dict(self) -> dict[str, Any]:
        """JSON form (on failure with ``invalid``: the rejected ids kept, with reasons)."""
        tally = self.tally
        out: dict[str, Any] = {
            "orders_read": tally.orders,
            "orders_sent": tally.orders - tally.rejected,
            "messages_produced": tally.produced,
            "messages_acknowledged": tally.delivered,
            "order_updates": tally.updates,
            "invalid_orders": tally.rejected,
            "partitions": self.partitions,
            "workers": self.workers,
            "encoder": self.encoder,
            "duration_s": round(self.duration_s, 3),
        }
        if self.problems:
            out["invalid"] = dict(tally.invalid)
        return out

    def headline(self) -> str:
        """``sent N order(s), M message(s) acknowledged``."""
        return (
            f"sent {self.tally.orders - self.tally.rejected} order(s), "
            f"{self.tally.delivered} message(s) acknowledged"
        )


def plan_send(
    conn: Connection, admin: AdminClient, settings: Settings, earlier: EarlierSteps | None = None
) -> SendPlan:
    """Count the open stateful orders; find ``to-vulcan`` (or, in a dry run, its planned
    creation)."""
    orders, updates = count_open_stateful(conn)
    partitions = describe_cluster(admin, settings).partitions.get(TO_VULCAN)
    if partitions is None and earlier is not None:
        partitions = earlier.topics_created.get(TO_VULCAN)
    return SendPlan(orders, updates, partitions)


def plan_send_after_reset() -> SendPlan:
    """After ``reset_db`` in a dry run: no orders table, nothing to send."""
    return SendPlan(0, 0, None, note="reset_db leaves no orders")


def apply_send(
    conn: Connection,
    settings: Settings,
    plan: SendPlan,
    progress: TaskProgress,
    budget: TimeBudget,
    *,
    batch_size: int = BATCH_SIZE,
    delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
) -> SendResult:
    """Send an OrderPlace (and OrderUpdate when filled) for every open stateful order."""
    started = time.monotonic()
    official.self_check()
    if wire.NATIVE_REFUSED is not None:
        emit(log, logging.WARNING, "vulcan.send#apply_send", wire.NATIVE_REFUSED)
    job = Job(
        settings=settings,
        snapshot="",
        slot=0,
        workers=worker_count(settings, plan.orders),
        partitions=_partitions(plan, settings),
        batch_size=batch_size,
        delivery_timeout_ms=delivery_timeout_ms,
        deadline=None,  # set when workers start
        reserve_ms=budget.reserve_ms,
    )
    progress.start_task("sending orders", plan.orders)
    emit(
        log,
        logging.INFO,
        "vulcan.send#apply_send",
        f"Sending {plan.orders} open stateful orders to Vulcan",
        orders=plan.orders,
        workers=job.workers,
    )
    try:
        tally, failures = send_in_processes(conn, settings, job, progress, budget)
    except psycopg.Error as exc:
        raise VulcanSendError(f"Reading open orders failed: {one_line(exc)}") from exc
    except OutOfTime:
        raise
    problems = failures + _problems(tally)
    result = SendResult(
        tally, job.partitions, job.workers, time.monotonic() - started, tuple(problems)
    )
    if problems:
        raise VulcanSendError(
            "Sending stateful orders to Vulcan failed: " + "; ".join(problems), details=result
        )
    emit(
        log,
        logging.INFO,
        "vulcan.send#apply_send",
        "Successfully sent stateful orders to Vulcan",
        report=result.to_dict(),
    )
    return result


def send_stateful_orders(
    conn: Connection,
    settings: Settings,
    progress: TaskProgress,
    budget: TimeBudget,
    *,
    batch_size: int = BATCH_SIZE,
    delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
) -> SendResult:
    """Plan, then send (for tools and tests)."""
    plan = plan_send(conn, connect_admin(settings), settings)
    return apply_send(
        conn,
        settings,
        plan,
        progress,
        budget,
        batch_size=batch_size,
        delivery_timeout_ms=delivery_timeout_ms,
    )


def _partitions(plan: SendPlan, settings: Settings) -> int:
    """The partition count of ``to-vulcan``; refuse to produce into a missing topic.

    Producing into a missing topic could auto-create it with the broker's default (often one
    partition), which would put every order in the wrong partition.
    """
    if plan.partitions is None:
        raise KafkaOperationError(
            f"Topic {TO_VULCAN} does not exist on {settings.kafka_broker_urls}; run "
            "create_kafka_topics first (it is created with "
            f"{MANAGED_TOPICS[TO_VULCAN]} partitions)."
        )
    return plan.partitions


def _problems(tally: Tally) -> list[str]:
    """Why the step cannot report success: unacknowledged messages, misplaced ones, bad rows."""
    problems = []
    if tally.failed or tally.outstanding:
        problems.append(
            f"{tally.delivered} of {tally.produced} message(s) acknowledged, {tally.failed} "
            f"failed, {tally.outstanding} unconfirmed ({'; '.join(tally.errors) or 'timeout'})"
        )
    if tally.wrong_partition:
        problems.append(f"{tally.wrong_partition} message(s) landed in an unexpected partition")
    if tally.rejected:
        listed = list(tally.invalid.items())[:SHOWN_INVALID]
        shown = ", ".join(f"{oid} ({why})" for oid, why in listed)
        more = (
            f" and {tally.rejected - SHOWN_INVALID} more" if tally.rejected > SHOWN_INVALID else ""
        )
        problems.append(
            f"{tally.rejected} order(s) not sent because they cannot be converted exactly: "
            f"{shown}{more}"
        )
    return problems
