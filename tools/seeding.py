"""The shared seeding of markets and open stateful orders: the Vulcan tests insert markets
with it, and the Vulcan benchmarks, the fault campaign and ``scripts/seed_orders.py`` fill a
database with valid open orders by COPY (:func:`seed_orders`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

QUOTE_ATOMIC_RESOLUTION = -6


@dataclass(frozen=True)
class Market:
    """A perpetual market: its ids, ticker and the scaling of its quantities and prices."""

    id: int
    clob_pair_id: int
    ticker: str
    atomic_resolution: int
    quantum_conversion_exponent: int


def insert_markets(conn: psycopg.Connection[Any], markets: Sequence[Market]) -> None:
    """A liquidity tier, then each market's ``markets`` and ``perpetual_markets`` rows."""
    conn.execute(
        'INSERT INTO liquidity_tiers (id, name, "initialMarginPpm", "maintenanceFractionPpm") '
        "VALUES (0, 'Large-Cap', 50000, 600000)"
    )
    for m in markets:
        conn.execute(
            'INSERT INTO markets (id, pair, exponent, "minPriceChangePpm") '
            "VALUES (%s, %s, -5, 1000)",
            (m.id, m.ticker),
        )
        conn.execute(
            'INSERT INTO perpetual_markets (id, "clobPairId", ticker, "marketId", status, '
            '"priceChange24H", "volume24H", "trades24H", "nextFundingRate", "openInterest", '
            '"quantumConversionExponent", "atomicResolution", "subticksPerTick", '
            '"stepBaseQuantums", "liquidityTierId") '
            "VALUES (%s, %s, %s, %s, 'ACTIVE', 0, 0, 0, 0, 0, %s, %s, 100, 10, 0)",
            (
                m.id,
                m.clob_pair_id,
                m.ticker,
                m.id,
                m.quantum_conversion_exponent,
                m.atomic_resolution,
            ),
        )


# --- open stateful orders, by COPY ----------------------------------------------------------

# The markets :func:`seed_orders` spreads the orders over.
MARKETS = (
    Market(0, 0, "BTC-USD", -10, -9),
    Market(1, 1, "ETH-USD", -9, -9),
    Market(2, 2, "SOL-USD", -7, -8),
    Market(3, 3, "LINK-USD", -6, -9),
    Market(4, 4, "DOGE-USD", -4, -10),
    Market(5, 5, "PEPE-USD", -1, -12),
    Market(6, 6, "AVAX-USD", -7, -9),
    Market(7, 7, "TRX-USD", -4, -11),
)
TYPES_BY_FLAGS = {
    64: ("LIMIT", "LIMIT", "LIMIT", "MARKET"),
    32: ("STOP_LIMIT", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET"),
    96: ("STOP_LIMIT", "LIMIT"),
    160: ("TAKE_PROFIT", "LIMIT"),
}
FLAGS = (64,) * 14 + (32,) * 4 + (96, 160)
TIME_IN_FORCE = ("GTT", "GTT", "GTT", "POST_ONLY", "IOC", "FOK")


def seed_orders(
    conn: psycopg.Connection[tuple[Any, ...]], n: int, subaccounts: int, rng: random.Random
) -> int:
    """Markets, subaccounts and ``n`` open stateful orders (all valid), by COPY. Returns fills."""
    insert_markets(conn, MARKETS)
    sub_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(subaccounts)]
    now = datetime.now(UTC).isoformat()
    with (
        conn.cursor() as cur,
        cur.copy(
            'COPY subaccounts (id, address, "subaccountNumber", "updatedAt", "updatedAtHeight") '
            "FROM STDIN"
        ) as copy,
    ):
        for i, sid in enumerate(sub_ids):
            copy.write(f"{sid}\tdydx1bench{i // 4:08d}\t{i % 4}\t{now}\t1\n")
    filled = 0
    columns = (
        'id, "subaccountId", "clientId", "clobPairId", side, size, "totalFilled", price, type, '
        'status, "timeInForce", "reduceOnly", "orderFlags", "goodTilBlockTime", '
        '"clientMetadata", "triggerPrice", "builderAddress", "feePpm", "orderRouterAddress", '
        '"createdAtHeight", "updatedAt", "updatedAtHeight"'
    )
    expiry = datetime(2030, 1, 1, tzinfo=UTC)
    chunk: list[str] = []
    with conn.cursor() as cur, cur.copy(f"COPY orders ({columns}) FROM STDIN") as copy:
        for i in range(n):
            m = MARKETS[i % len(MARKETS)]
            price_exp = (
                m.atomic_resolution - QUOTE_ATOMIC_RESOLUTION - m.quantum_conversion_exponent
            )
            flags = FLAGS[rng.randrange(len(FLAGS))]
            order_type = TYPES_BY_FLAGS[flags][rng.randrange(len(TYPES_BY_FLAGS[flags]))]
            quantums = rng.randrange(1, 10**9) * 1000
            subticks = rng.randrange(1, 10**7) * 100
            fill = rng.randrange(quantums) if rng.random() < 0.3 else 0
            filled += fill != 0
            trigger = (
                _decimal(rng.randrange(1, 10**7) * 100, -price_exp)
                if flags != 64 or rng.random() < 0.05
                else r"\N"
            )
            builder = rng.random() < 0.1
            gtbt = expiry + timedelta(seconds=rng.randrange(10**7), microseconds=i % 1000 * 1000)
            chunk.append(
                "\t".join(
                    (
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        sub_ids[rng.randrange(subaccounts)],
                        str(rng.randrange(2**32)),
                        str(m.clob_pair_id),
                        "BUY" if rng.random() < 0.5 else "SELL",
                        _decimal(quantums, m.atomic_resolution),
                        _decimal(fill, m.atomic_resolution),
                        _decimal(subticks, -price_exp),
                        order_type,
                        "OPEN",
                        TIME_IN_FORCE[rng.randrange(len(TIME_IN_FORCE))],
                        "t" if rng.random() < 0.1 else "f",
                        str(flags),
                        gtbt.isoformat(),
                        str(rng.randrange(4)),
                        trigger,
                        f"dydx1builder{i % 7}" if builder else r"\N",
                        str(rng.choice((0, 10, 250))) if builder else r"\N",
                        "dydx1router" if rng.random() < 0.2 else "",
                        "1000",
                        now,
                        "1000",
                    )
                )
            )
            if len(chunk) == 10_000:
                copy.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            copy.write("\n".join(chunk) + "\n")
    # A live indexer's tables have their statistics and their rows' hint bits set. Freshly
    # COPY'd ones have neither: the first reader (the timed run) would set the hint bits of every
    # row, writing every page, a cost no operator's send pays. VACUUM sets them, as
    # bench_vulcan_stages.py does (the connection is in autocommit: VACUUM needs it).
    conn.execute("VACUUM (ANALYZE) orders, subaccounts, perpetual_markets")
    return filled


def _decimal(units: int, exponent: int) -> str:
    """``units * 10**exponent`` as exact numeric text."""
    return str(Decimal(units).scaleb(exponent))
