"""``send_stateful_orders_to_vulcan``: stream, translate, produce, and insist on every ack.

The original swallows every error here and reports success having sent nothing. This step
succeeds only when every valid order's messages were acknowledged by the broker (acks=all)
and no order had to be rejected; otherwise it fails with the counts and the bad order ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient

from bazooka.budget import TimeBudget
from bazooka.errors import BazookaError, KafkaOperationError, VulcanSendError
from bazooka.kafka.admin import connect_admin, describe_cluster
from bazooka.kafka.producer import DELIVERY_TIMEOUT_MS, AckedProducer, DeliveryStats
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.logs import emit
from bazooka.outcome import EarlierSteps, NoLaterEffect
from bazooka.postgres.connection import Connection, one_line
from bazooka.progress import Progress
from bazooka.settings import Settings
from bazooka.vulcan.orders import count_open_stateful, stream_open_stateful
from bazooka.vulcan.translate import InvalidOrder, translate

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000  # orders read, translated and produced between two progress updates
SHOWN_INVALID = 20  # bad order ids listed in the error message
KEPT_INVALID = 10_000  # bad order ids kept for the report; beyond, only counted (bounded memory)
FLUSH_GRACE_S = 5.0  # on top of the delivery timeout, for the last acknowledgements to arrive
DRAIN_TIMEOUT_S = 10.0  # after a failure, for what was queued to reach the broker


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

    orders_read: int
    invalid_orders: int
    order_updates: int
    delivery: DeliveryStats
    partitions: int
    duration_s: float
    invalid: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    problems: tuple[str, ...] = ()  # why the step failed; empty on success

    def to_dict(self) -> dict[str, Any]:
        """JSON form (on failure with ``invalid``: the rejected ids kept, with reasons)."""
        out: dict[str, Any] = {
            "orders_read": self.orders_read,
            "orders_sent": self.orders_read - self.invalid_orders,
            "messages_produced": self.delivery.produced,
            "messages_acknowledged": self.delivery.delivered,
            "order_updates": self.order_updates,
            "invalid_orders": self.invalid_orders,
            "partitions": self.partitions,
            "duration_s": round(self.duration_s, 3),
        }
        if self.problems:
            out["invalid"] = dict(self.invalid)
        return out

    def headline(self) -> str:
        """``sent N order(s), M message(s) acknowledged``."""
        return (
            f"sent {self.orders_read - self.invalid_orders} order(s), "
            f"{self.delivery.delivered} message(s) acknowledged"
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


@dataclass
class _Tally:
    """Orders read so far, fill updates sent, and the rejected ones (ids kept up to a bound)."""

    orders: int = 0
    updates: int = 0
    rejected: int = 0
    invalid: dict[str, str] = field(default_factory=dict)

    def reject(self, order_id: str, why: InvalidOrder) -> None:
        self.rejected += 1
        if len(self.invalid) < KEPT_INVALID:
            self.invalid[order_id] = str(why)


def apply_send(
    conn: Connection,
    settings: Settings,
    plan: SendPlan,
    progress: Progress,
    budget: TimeBudget,
    *,
    batch_size: int = BATCH_SIZE,
    delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
) -> SendResult:
    """Send an OrderPlace (and OrderUpdate when filled) for every open stateful order."""
    started = time.monotonic()
    partitions = _partitions(plan, settings)
    producer = AckedProducer(
        settings, TO_VULCAN, partitions, delivery_timeout_ms=delivery_timeout_ms
    )
    tally = _Tally()
    try:
        _produce_all(
            conn,
            producer,
            tally,
            total=plan.orders,
            progress=progress,
            budget=budget,
            batch_size=batch_size,
            delivery_timeout_ms=delivery_timeout_ms,
        )
    except psycopg.Error as exc:
        producer.flush(DRAIN_TIMEOUT_S)
        raise VulcanSendError(
            f"Reading open orders failed: {one_line(exc)}; "
            f"{producer.stats.delivered} message(s) had been acknowledged before."
        ) from exc
    except BazookaError:
        producer.flush(DRAIN_TIMEOUT_S)  # let what was queued reach the broker, then report
        raise
    stats = producer.flush(delivery_timeout_ms / 1000 + FLUSH_GRACE_S)
    problems = _problems(stats, tally)
    result = SendResult(
        orders_read=tally.orders,
        invalid_orders=tally.rejected,
        order_updates=tally.updates,
        delivery=stats,
        partitions=partitions,
        duration_s=time.monotonic() - started,
        invalid=MappingProxyType(tally.invalid),
        problems=tuple(problems),
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
    progress: Progress,
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


def _produce_all(
    conn: Connection,
    producer: AckedProducer,
    tally: _Tally,
    *,
    total: int,
    progress: Progress,
    budget: TimeBudget,
    batch_size: int,
    delivery_timeout_ms: int,
) -> None:
    """Stream the orders in one snapshot and queue their messages, batch by batch."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        progress.start_task("sending orders", total)
        emit(
            log,
            logging.INFO,
            "vulcan.send#apply_send",
            f"Sending {total} open stateful orders to Vulcan",
            orders=total,
        )
        for batch in stream_open_stateful(conn, batch_size):
            budget.check("sending the next batch of orders", needed_ms=delivery_timeout_ms)
            for row in batch:
                try:
                    messages = translate(row)
                except InvalidOrder as exc:
                    tally.reject(row.id, exc)
                    continue
                for message in messages:
                    producer.send(message.key, message.value)
                tally.updates += len(messages) - 1
            tally.orders += len(batch)
            producer.poll()
            progress.advance(len(batch))


def _problems(stats: DeliveryStats, tally: _Tally) -> list[str]:
    """Why the step cannot report success: unacknowledged messages, misplaced ones, bad rows."""
    problems = []
    if stats.failed or stats.outstanding:
        problems.append(
            f"{stats.delivered} of {stats.produced} message(s) acknowledged, {stats.failed} "
            f"failed, {stats.outstanding} unconfirmed ({'; '.join(stats.errors) or 'timeout'})"
        )
    if stats.wrong_partition:
        problems.append(f"{stats.wrong_partition} message(s) landed in an unexpected partition")
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
