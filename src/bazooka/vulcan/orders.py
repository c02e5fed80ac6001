"""One streaming query for the open stateful orders, with the exact arithmetic done in SQL.

The original loads every order into memory, then issues one subaccount query per order. Here a
single query streams its rows in batches, so memory is bounded by the batch size: in libpq's
chunked-rows mode (libpq 17+), where the server keeps sending while we convert what arrived,
or else through a server-side cursor (one FETCH round trip per batch).

PostgreSQL scales the decimals (quantums, subticks, trigger subticks, filled quantums) by powers
of ten in exact ``numeric`` arithmetic, and returns each as the text of an unsigned 64-bit
integer, or NULL with the raw value beside it when the result is not one (fractional,
negative, too large, NaN, infinite): the row is then rejected in Python, which words why.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import cast

import psycopg

from bazooka.postgres.connection import Connection
from bazooka.vulcan.translate import OrderRow

UINT64_MAX = 2**64 - 1
# Powers of ten beyond this are not computed in SQL: no value scaled by them can be a uint64
# but 0, and the exact path in Python (which words the rejection) handles those rows.
MAX_SQL_EXPONENT = 64
QUOTE_CURRENCY_ATOMIC_RESOLUTION = -6

# Same selection as OrderTable.findOpenLongTermOrConditionalOrders, in bigint arithmetic so a
# flag value beyond int4 cannot abort the query: OPEN, and the long-term (64) or conditional
# (32) bit set.
_WHERE = """
    o.status = 'OPEN'
    AND ((o."orderFlags" / 64) % 2 = 1 OR (o."orderFlags" / 32) % 2 = 1)
"""


def power_of_ten(exponent: str) -> str:
    """``10^exponent`` as exact numeric, or NULL when the exponent is out of the SQL range.

    Parsed from text (``'1e-17'``): ``power(10::numeric, -17)`` rounds to 16 decimal places
    and gives 0, where the literal is exact, and so is every product with it.
    """
    return (
        f"CASE WHEN {exponent} BETWEEN -{MAX_SQL_EXPONENT} AND {MAX_SQL_EXPONENT} "
        f"THEN ('1e' || ({exponent}))::numeric END"
    )


def uint64_text(scaled: str) -> str:
    """SQL: the text of ``scaled`` when it is an integer in [0, 2^64), else NULL."""
    return (
        f"CASE WHEN {scaled} = trunc({scaled}) AND {scaled} BETWEEN 0 AND {UINT64_MAX} "
        f"THEN trunc({scaled})::text END"
    )


# The market is the one the original's refresher finds first for the clobPairId (lowest
# perpetual market id). Its two scales are computed once per market, not once per order:
# quantums = size * 10^-atomicResolution;
# subticks = price * 10^atomicResolution / 10^-6 / 10^quantumConversionExponent.
_SUBTICKS_EXPONENT = (
    f'"atomicResolution" - ({QUOTE_CURRENCY_ATOMIC_RESOLUTION}) - "quantumConversionExponent"'
)
# Three levels, each fenced by OFFSET 0 so that PostgreSQL cannot fold it into the next one:
# every product is computed once, checked once, and its check read twice (the value, and the
# raw text when it fails). Folded (lateral subqueries, or a single level), each use of a value
# repeats the multiplication it comes from: about 2.5 times the server's time per row.
_QUERY = f"""
WITH market AS (
    SELECT DISTINCT ON ("clobPairId") "clobPairId", "atomicResolution",
        "quantumConversionExponent",
        {power_of_ten('-"atomicResolution"')} AS quantums_scale,
        {power_of_ten(_SUBTICKS_EXPONENT)} AS subticks_scale
    FROM perpetual_markets ORDER BY "clobPairId", id
)
SELECT id, address, number, client_id, flags, clob, side, type, tif, reduce_only, metadata,
       good_til, good_til_raw, resolution, conversion, builder, fee, router,
       quantums, CASE WHEN quantums IS NULL THEN size::text END,
       subticks, CASE WHEN subticks IS NULL THEN price::text END,
       trigger, CASE WHEN trigger IS NULL THEN trigger_price::text END,
       filled, CASE WHEN filled IS NULL THEN total_filled::text END
FROM (
    SELECT *,
        {uint64_text("scaled_size")} AS quantums, {uint64_text("scaled_price")} AS subticks,
        {uint64_text("scaled_trigger")} AS trigger, {uint64_text("scaled_filled")} AS filled
    FROM (
        SELECT o.id::text AS id, s.address, s."subaccountNumber" AS number,
            o."clientId" AS client_id, o."orderFlags" AS flags, o."clobPairId" AS clob, o.side,
            o.type, o."timeInForce" AS tif, o."reduceOnly" AS reduce_only,
            o."clientMetadata" AS metadata,
            CASE WHEN isfinite(o."goodTilBlockTime")
                 THEN floor(extract(epoch FROM o."goodTilBlockTime"))::bigint END AS good_til,
            CASE WHEN NOT isfinite(o."goodTilBlockTime")
                 THEN o."goodTilBlockTime"::text END AS good_til_raw,
            m."atomicResolution" AS resolution, m."quantumConversionExponent" AS conversion,
            o."builderAddress" AS builder, o."feePpm" AS fee, o."orderRouterAddress" AS router,
            o.size, o.price, o."triggerPrice" AS trigger_price, o."totalFilled" AS total_filled,
            o.size * m.quantums_scale AS scaled_size, o.price * m.subticks_scale AS scaled_price,
            o."triggerPrice" * m.subticks_scale AS scaled_trigger,
            o."totalFilled" * m.quantums_scale AS scaled_filled
        FROM orders o
        LEFT JOIN subaccounts s ON s.id = o."subaccountId"
        LEFT JOIN market m ON m."clobPairId" = o."clobPairId"
        WHERE {_WHERE} {{share}}
        OFFSET 0
    ) v
    OFFSET 0
) x
"""


COUNT_QUERY = f"""
SELECT count(*), count(*) FILTER (WHERE o."totalFilled" <> 0)
FROM orders o WHERE {_WHERE}
"""


def orders_query(slot: int = 0, workers: int = 1) -> str:
    """The query for the orders of worker ``slot`` among ``workers`` (all with one worker).

    A worker's share is the orders whose id's last byte falls in its slot: ids are uuids, so
    the shares are even, and every message of an order is sent by the one worker that owns it.
    """
    share = (
        f"AND get_byte(uuid_send(o.id), 15) % {int(workers)} = {int(slot)}" if workers > 1 else ""
    )
    return _QUERY.format(share=share)


def count_open_stateful(conn: Connection) -> tuple[int, int]:
    """(open stateful orders, of which with a non-zero fill)."""
    row = conn.execute(COUNT_QUERY).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def stream_open_stateful(
    conn: Connection, batch_size: int, slot: int = 0, workers: int = 1
) -> Iterator[list[OrderRow]]:
    """Yield the open stateful orders of ``slot`` in batches of at most ``batch_size`` rows.

    Rows come in binary format: the same Python values as in text, with less work on both
    sides for the integers. They are the plain tuples psycopg builds, in
    :class:`.translate.OrderRow`'s column order (typed as such: :func:`.translate.convert`
    unpacks them by position, and building an ``OrderRow`` per row would cost the send a call
    per order). Must run inside a transaction (the server-side cursor of the fallback lives in
    it, the count taken before must see the same snapshot, and the query's setting ends with
    it).
    """
    # One backend per share. PostgreSQL's parallel workers would pass every row through a
    # shared-memory queue to this backend: CPU taken from the send's own processes when they
    # share the machine, and load on a production database, to spread work the send already
    # spreads (1M orders, two shares: 6.1-6.2 CPU-s of PostgreSQL with them, 4.3-4.7 without).
    conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # until the transaction ends
    query = orders_query(slot, workers)
    if psycopg.capabilities.has_stream_chunked():
        # Chunked rows: no round trip per batch, about half the time of the cursor below.
        # Leaving the loop early cancels the query (psycopg's stream() cleans up).
        with conn.cursor(binary=True) as cursor:
            rows = cursor.stream(query, size=batch_size)
            while batch := list(islice(rows, batch_size)):
                yield cast("list[OrderRow]", batch)
        return
    with conn.cursor(name="bazooka_stateful_orders", binary=True) as cursor:
        cursor.itersize = batch_size
        cursor.execute(query)
        while fetched := cursor.fetchmany(batch_size):
            yield cast("list[OrderRow]", fetched)
