"""One streaming query for the open stateful orders, joined with subaccount and market.

The original loads every order into memory, then issues one subaccount query per order. Here a
single query streams its rows in batches, so memory is bounded by the batch size: in libpq's
chunked-rows mode (libpq 17+), where the server keeps sending while we convert what arrived,
or else through a server-side cursor (one FETCH round trip per batch).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

import psycopg

from bazooka.vulcan.translate import OrderRow

Connection = psycopg.Connection[tuple[Any, ...]]

# Same selection as OrderTable.findOpenLongTermOrConditionalOrders, in bigint arithmetic so a
# flag value beyond int4 cannot abort the query: OPEN, and the long-term (64) or conditional
# (32) bit set. The market is the one the original's refresher finds first for the clobPairId
# (lowest perpetual market id).
_WHERE = """
    o.status = 'OPEN'
    AND ((o."orderFlags" / 64) % 2 = 1 OR (o."orderFlags" / 32) % 2 = 1)
"""

ORDERS_QUERY = f"""
WITH market AS (
    SELECT DISTINCT ON ("clobPairId") "clobPairId", "atomicResolution", "quantumConversionExponent"
    FROM perpetual_markets ORDER BY "clobPairId", id
)
SELECT o.id::text, o."clientId", o."clobPairId", o."orderFlags", o.side, o.size,
       o."totalFilled", o.price, o.type, o."timeInForce", o."reduceOnly", o."goodTilBlockTime",
       o."clientMetadata", o."triggerPrice", o."builderAddress", o."feePpm",
       o."orderRouterAddress", s.address, s."subaccountNumber",
       m."atomicResolution", m."quantumConversionExponent"
FROM orders o
LEFT JOIN subaccounts s ON s.id = o."subaccountId"
LEFT JOIN market m ON m."clobPairId" = o."clobPairId"
WHERE {_WHERE}
"""

COUNT_QUERY = f"""
SELECT count(*), count(*) FILTER (WHERE o."totalFilled" <> 0)
FROM orders o WHERE {_WHERE}
"""


def count_open_stateful(conn: Connection) -> tuple[int, int]:
    """(open stateful orders, of which with a non-zero fill)."""
    row = conn.execute(COUNT_QUERY).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def stream_open_stateful(conn: Connection, batch_size: int = 5_000) -> Iterator[list[OrderRow]]:
    """Yield the open stateful orders in batches of at most ``batch_size``.

    Must run inside a transaction (the server-side cursor of the fallback lives in it, and the
    count taken before must see the same snapshot).
    """
    if psycopg.capabilities.has_stream_chunked():
        # Chunked rows: no round trip per batch, about half the time of the cursor below.
        # Leaving the loop early cancels the query (psycopg's stream() cleans up).
        with conn.cursor() as cursor:
            rows = cursor.stream(ORDERS_QUERY, size=batch_size)
            while batch := [OrderRow(*row) for row in islice(rows, batch_size)]:
                yield batch
        return
    with conn.cursor(name="bazooka_stateful_orders") as cursor:
        cursor.itersize = batch_size
        cursor.execute(ORDERS_QUERY)
        while fetched := cursor.fetchmany(batch_size):
            yield [OrderRow(*row) for row in fetched]
