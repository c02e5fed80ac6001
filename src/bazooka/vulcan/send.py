"""``send_stateful_orders_to_vulcan``: stream, translate, produce, and insist on every ack.

The original swallows every error here and reports success having sent nothing. This step
succeeds only when every valid order's messages were acknowledged by the broker (acks=all)
and no order had to be rejected; otherwise it fails with the counts and the bad order ids.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from bazooka.budget import TimeBudget
from bazooka.errors import BazookaError, KafkaOperationError, VulcanSendError
from bazooka.kafka.admin import connect_admin, describe_cluster
from bazooka.kafka.producer import DELIVERY_TIMEOUT_MS, AckedProducer
from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from bazooka.logs import emit
from bazooka.postgres.connection import one_line
from bazooka.progress import Progress
from bazooka.settings import Settings
from bazooka.vulcan.orders import count_open_stateful, stream_open_stateful
from bazooka.vulcan.translate import InvalidOrder, translate

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]
SHOWN_INVALID = 20  # bad order ids listed in the error message
KEPT_INVALID = 10_000  # bad order ids kept for the report; beyond, only counted (bounded memory)


def send_stateful_orders(
    conn: Connection,
    settings: Settings,
    progress: Progress,
    budget: TimeBudget,
    *,
    batch_size: int = 5_000,
    delivery_timeout_ms: int = DELIVERY_TIMEOUT_MS,
) -> dict[str, Any]:
    """Send an OrderPlace (and OrderUpdate when filled) for every open stateful order."""
    started = time.monotonic()
    partitions = _vulcan_partitions(settings)
    producer = AckedProducer(
        settings, TO_VULCAN, partitions, delivery_timeout_ms=delivery_timeout_ms
    )
    invalid: dict[str, str] = {}
    orders = updates = rejected = 0
    try:
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            total, _ = count_open_stateful(conn)
            progress.start_task("sending orders", total)
            emit(
                log,
                logging.INFO,
                "vulcan.send#send_stateful_orders",
                f"Sending {total} open stateful orders to Vulcan",
                orders=total,
            )
            for batch in stream_open_stateful(conn, batch_size):
                budget.check("sending the next batch of orders", needed_ms=delivery_timeout_ms)
                for row in batch:
                    try:
                        messages = translate(row)
                    except InvalidOrder as exc:
                        rejected += 1
                        if len(invalid) < KEPT_INVALID:
                            invalid[row.id] = str(exc)
                        continue
                    for message in messages:
                        producer.send(message.key, message.value)
                    updates += len(messages) - 1
                orders += len(batch)
                producer.poll()
                progress.advance(len(batch))
    except psycopg.Error as exc:
        _drain(producer)
        raise VulcanSendError(
            f"Reading open orders failed: {one_line(exc)}; "
            f"{producer.stats.delivered} message(s) had been acknowledged before."
        ) from exc
    except BazookaError:
        _drain(producer)
        raise
    stats = producer.flush(delivery_timeout_ms / 1000 + 5)
    details = {
        "orders_read": orders,
        "orders_sent": orders - rejected,
        "messages_produced": stats.produced,
        "messages_acknowledged": stats.delivered,
        "order_updates": updates,
        "invalid_orders": rejected,
        "partitions": partitions,
        "duration_s": round(time.monotonic() - started, 3),
    }
    problems = []
    if stats.failed or stats.outstanding:
        problems.append(
            f"{stats.delivered} of {stats.produced} message(s) acknowledged, {stats.failed} "
            f"failed, {stats.outstanding} unconfirmed ({'; '.join(stats.errors) or 'timeout'})"
        )
    if stats.wrong_partition:
        problems.append(f"{stats.wrong_partition} message(s) landed in an unexpected partition")
    if rejected:
        shown = ", ".join(f"{oid} ({why})" for oid, why in list(invalid.items())[:SHOWN_INVALID])
        more = f" and {rejected - SHOWN_INVALID} more" if rejected > SHOWN_INVALID else ""
        problems.append(
            f"{rejected} order(s) not sent because they cannot be converted exactly: {shown}{more}"
        )
    if problems:
        error = VulcanSendError("Sending stateful orders to Vulcan failed: " + "; ".join(problems))
        error.details = {**details, "invalid": invalid}  # type: ignore[attr-defined]
        raise error
    emit(
        log,
        logging.INFO,
        "vulcan.send#send_stateful_orders",
        "Successfully sent stateful orders to Vulcan",
        report=details,
    )
    return details


def preview(conn: Connection, settings: Settings) -> dict[str, Any]:
    """How many orders (and fill updates) the step would send."""
    from bazooka.postgres.connection import translated  # noqa: PLC0415

    with translated("counting open stateful orders", settings):
        total, filled = count_open_stateful(conn)
    return {
        "orders_to_send": total,
        "order_updates_to_send": filled,
        "messages_to_send": total + filled,
        "topic": TO_VULCAN,
    }


def _vulcan_partitions(settings: Settings) -> int:
    """The partition count of ``to-vulcan``; refuse to produce into a missing topic.

    Producing into a missing topic could auto-create it with the broker's default (often one
    partition), which would put every order in the wrong partition.
    """
    view = describe_cluster(connect_admin(settings), settings)
    partitions = view.partitions.get(TO_VULCAN)
    if partitions is None:
        raise KafkaOperationError(
            f"Topic {TO_VULCAN} does not exist on {settings.kafka_broker_urls}; run "
            "create_kafka_topics first (it is created with "
            f"{MANAGED_TOPICS[TO_VULCAN]} partitions)."
        )
    return partitions


def _drain(producer: AckedProducer) -> None:
    """Let what was already queued reach the broker before reporting the failure."""
    producer.flush(10)
