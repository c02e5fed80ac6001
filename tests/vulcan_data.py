"""Orders and markets for the Vulcan tests: rows to insert, and the messages the step must send
for them, computed independently of ``bazooka.vulcan`` with the official v4-proto classes."""

from __future__ import annotations

import calendar
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Context, Decimal
from typing import Any

import psycopg
from v4_proto.dydxprotocol.indexer.off_chain_updates.off_chain_updates_pb2 import (
    OffChainUpdateV1,
    OrderPlaceV1,
    OrderUpdateV1,
)
from v4_proto.dydxprotocol.indexer.protocol.v1.clob_pb2 import (
    BuilderCodeParameters,
    IndexerOrder,
    IndexerOrderId,
)
from v4_proto.dydxprotocol.indexer.protocol.v1.subaccount_pb2 import IndexerSubaccountId

from tools import seeding
from tools.seeding import Market

FIXED_OWNER = "dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4"

# Keys of fixed order ids (owner FIXED_OWNER; subaccount number, clientId, orderFlags,
# clobPairId): sha256 of the IndexerOrderId bytes assembled by hand (see _order_id_bytes), and
# the partition of each among 210 as computed by Kafka's own Java client 3.9.1:
# Utils.toPositive(Utils.murmur2(key)) % 210 (BuiltInPartitioner.partitionForKey).
FIXED_KEYS: dict[tuple[int, int, int, int], tuple[str, int]] = {
    (0, 1, 64, 0): ("25c147210d008ac6f6c1109d7bb4d0a762d609dcd49c739349474ed91b50aa57", 34),
    (1, 2, 32, 1): ("a0f0fa48e4c39f35ff24cae0bfbf891402e024416f3b7f25dcf195c2b010ad67", 3),
    (0, 4294967295, 96, 3): (
        "5d54ed9adc2420dfdb14773aeab4be0a3e2e5225964425ef0982bd431fa6bdef",
        145,
    ),
    (7, 123456, 160, 2): ("1bfea9906b6c944a4bd525f43d67e64a115fac2253d10b9909b399dc37ddb1e7", 198),
}


# --- markets ---------------------------------------------------------------------------------


# Two markets share clobPairId 3: the one with the lowest id (3) must be used, not id 7,
# although id 7 is inserted first.
MARKETS = (
    Market(7, 3, "DUP-HIGHER-ID", -8, -7),
    Market(0, 0, "BTC-USD", -10, -9),
    Market(1, 1, "ETH-USD", -9, -9),
    Market(2, 2, "SOL-USD", -7, -8),
    Market(3, 3, "DUP-LOWER-ID", -6, -10),
)
# clobPairId -> (atomicResolution, quantumConversionExponent) of the market that must be used.
SCALING = {0: (-10, -9), 1: (-9, -9), 2: (-7, -8), 3: (-6, -10)}


# --- rows --------------------------------------------------------------------------------------


@dataclass
class Order:
    """One row of ``orders`` as the test inserts it (decimals as text, exactly as stored)."""

    owner: str
    number: int
    client_id: int
    clob_pair_id: int
    order_flags: int
    size: str
    price: str
    side: str = "BUY"
    total_filled: str = "0"
    type: str = "LIMIT"
    status: str = "OPEN"
    time_in_force: str = "GTT"
    reduce_only: bool = False
    good_til_block_time: str | None = "2030-01-01T00:00:00Z"
    good_til_block: int | None = None
    client_metadata: int = 0
    trigger_price: str | None = None
    builder_address: str | None = None
    fee_ppm: str | None = None
    order_router_address: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def order_id(self) -> tuple[str, int, int, int, int]:
        return (self.owner, self.number, self.client_id, self.order_flags, self.clob_pair_id)


def insert_orders(conn: psycopg.Connection[Any], orders: list[Order]) -> None:
    """Insert the orders, creating each (owner, number) subaccount once."""
    subaccounts: dict[tuple[str, int], str] = {
        (address, number): str(sid)
        for sid, address, number in conn.execute(
            'SELECT id, address, "subaccountNumber" FROM subaccounts'
        )
    }
    with conn.cursor() as cur:
        for order in orders:
            if (order.owner, order.number) not in subaccounts:
                sid = str(uuid.uuid4())
                cur.execute(
                    "INSERT INTO subaccounts "
                    '(id, address, "subaccountNumber", "updatedAt", "updatedAtHeight") '
                    "VALUES (%s, %s, %s, now(), 1)",
                    (sid, order.owner, order.number),
                )
                subaccounts[order.owner, order.number] = sid
        cur.executemany(
            'INSERT INTO orders (id, "subaccountId", "clientId", "clobPairId", side, size, '
            '"totalFilled", price, type, status, "timeInForce", "reduceOnly", "orderFlags", '
            '"goodTilBlock", "goodTilBlockTime", "clientMetadata", "triggerPrice", '
            '"builderAddress", "feePpm", "orderRouterAddress", "createdAtHeight") '
            "VALUES (%s, %s, %s, %s, %s, %s::numeric, %s::numeric, %s::numeric, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s::numeric, %s, %s, %s, 1)",
            [
                (
                    o.id,
                    subaccounts[o.owner, o.number],
                    o.client_id,
                    o.clob_pair_id,
                    o.side,
                    o.size,
                    o.total_filled,
                    o.price,
                    o.type,
                    o.status,
                    o.time_in_force,
                    o.reduce_only,
                    o.order_flags,
                    o.good_til_block,
                    o.good_til_block_time,
                    o.client_metadata,
                    o.trigger_price,
                    o.builder_address,
                    o.fee_ppm,
                    o.order_router_address,
                )
                for o in orders
            ],
        )


def insert_markets(conn: psycopg.Connection[Any], markets: Sequence[Market] = MARKETS) -> None:
    """A liquidity tier, then each market's rows (the tests' markets by default)."""
    seeding.insert_markets(conn, markets)


# --- what the step must send, computed independently of bazooka.vulcan.translate ---------------

_TIME_IN_FORCE = {
    "GTT": IndexerOrder.TIME_IN_FORCE_UNSPECIFIED,
    "FOK": IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL,
    "IOC": IndexerOrder.TIME_IN_FORCE_IOC,
    "POST_ONLY": IndexerOrder.TIME_IN_FORCE_POST_ONLY,
}


def _scaled(value: str, exponent: int) -> int:
    exact = Decimal(value).scaleb(exponent, Context(prec=100))
    assert exact == exact.to_integral_value(), f"{value} * 10^{exponent} is not an integer"
    return int(exact)


def _condition(order_type: str) -> int:
    if order_type.startswith("STOP_"):
        return int(IndexerOrder.CONDITION_TYPE_STOP_LOSS)
    if order_type.startswith("TAKE_PROFIT"):
        return int(IndexerOrder.CONDITION_TYPE_TAKE_PROFIT)
    return int(IndexerOrder.CONDITION_TYPE_UNSPECIFIED)


def reference_messages(order: Order) -> list[bytes]:
    """The record values for ``order``, built with the official v4_proto message classes."""
    resolution, conversion = SCALING[order.clob_pair_id]
    price_exponent = resolution + 6 - conversion  # * 10^ar / 10^-6 / 10^qce
    assert order.good_til_block_time is not None
    expiry = datetime.fromisoformat(order.good_til_block_time)
    order_id = IndexerOrderId(
        subaccount_id=IndexerSubaccountId(owner=order.owner, number=order.number),
        client_id=order.client_id,
        order_flags=order.order_flags,
        clob_pair_id=order.clob_pair_id,
    )
    indexer_order = IndexerOrder(
        order_id=order_id,
        side=IndexerOrder.SIDE_BUY if order.side == "BUY" else IndexerOrder.SIDE_SELL,
        quantums=_scaled(order.size, -resolution),
        subticks=_scaled(order.price, price_exponent),
        good_til_block_time=calendar.timegm(expiry.utctimetuple()),  # whole seconds
        time_in_force=_TIME_IN_FORCE[order.time_in_force],
        reduce_only=order.reduce_only,
        client_metadata=order.client_metadata,
        condition_type=_condition(order.type),
        conditional_order_trigger_subticks=(
            _scaled(order.trigger_price, price_exponent) if order.trigger_price else 0
        ),
        order_router_address=order.order_router_address or "",
    )
    if order.builder_address and order.fee_ppm:
        indexer_order.builder_code_params.CopyFrom(
            BuilderCodeParameters(builder_address=order.builder_address, fee_ppm=int(order.fee_ppm))
        )
    place = OffChainUpdateV1(
        order_place=OrderPlaceV1(
            order=indexer_order, placement_status=OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
        )
    )
    values = [place.SerializeToString()]
    filled = _scaled(order.total_filled, -resolution)
    if filled:
        update = OffChainUpdateV1(
            order_update=OrderUpdateV1(order_id=order_id, total_filled_quantums=filled)
        )
        values.append(update.SerializeToString())
    return values


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return _varint(tag) + _varint(len(payload)) + payload


def order_id_bytes(owner: str, number: int, client_id: int, flags: int, clob: int) -> bytes:
    """IndexerOrderId in the protobuf wire format, assembled by hand (defaults omitted)."""
    subaccount = _field(10, owner.encode()) + (bytes([16]) + _varint(number) if number else b"")
    return (
        _field(10, subaccount)
        + (bytes([21]) + client_id.to_bytes(4, "little") if client_id else b"")
        + (bytes([24]) + _varint(flags) if flags else b"")
        + (bytes([32]) + _varint(clob) if clob else b"")
    )


# --- Kafka: watermarks and reading a range back --------------------------------------------------


def hand_checked_orders(owner: str, router: str) -> dict[str, Order]:
    """Orders whose messages the test checks field by field against values worked out by hand."""
    return {
        # BTC (ar -10, qce -9): quantums = size * 10^10, subticks = price * 10^(-10+6+9).
        "btc_long_term": Order(
            FIXED_OWNER,
            0,
            1,
            0,
            64,
            size="0.0025",
            price="65000.5",
            side="SELL",
            time_in_force="POST_ONLY",
            client_metadata=5,
            good_til_block_time="2030-01-01T00:00:00.789Z",
            builder_address="dydx1builderzero",
            fee_ppm="0",
            order_router_address=router,
        ),
        # ETH (ar -9, qce -9): subticks = price * 10^6; conditional stop with a trigger.
        "eth_stop": Order(
            FIXED_OWNER,
            1,
            2,
            1,
            32,
            size="1.500000000000",
            price="3000",
            type="STOP_LIMIT",
            time_in_force="IOC",
            reduce_only=True,
            trigger_price="3100.25",
            good_til_block_time="2029-06-15T12:30:45Z",
            order_router_address=router,
        ),
        # clobPairId 3: market id 3 (ar -6, qce -10), not id 7 (ar -8, qce -7).
        "dup_take_profit": Order(
            FIXED_OWNER,
            0,
            4294967295,
            3,
            96,
            size="12.345678",
            price="0.0123",
            side="SELL",
            type="TAKE_PROFIT",
            trigger_price="0.0125",
            builder_address="dydx1builder",
            fee_ppm="250",
            good_til_block_time="2031-03-04T05:06:07.999+00:00",
            order_router_address=router,
        ),
        # SOL (ar -7, qce -8): subticks = price * 10^7; LIMIT with a trigger price; fee unset.
        "sol_160": Order(
            FIXED_OWNER,
            7,
            123456,
            2,
            160,
            size="3",
            price="7.25",
            trigger_price="7.5",
            builder_address="dydx1nofee",
            time_in_force="FOK",
            client_metadata=4294967295,
            order_router_address=router,
        ),
        # A fill: an update after the place. Router unset, fee without an address.
        "btc_filled": Order(
            owner,
            128,
            77,
            0,
            64,
            size="0.5",
            price="64000",
            total_filled="0.1234",
            fee_ppm="100",
            good_til_block_time="2030-01-01T00:00:00Z",
        ),
    }


def excluded_orders(owner: str) -> list[Order]:
    """Rows the step must not send: short-term, not OPEN, or neither stateful bit set."""
    return [
        Order(owner, 0, 900, 0, 0, "1", "100", good_til_block_time=None, good_til_block=100),
        Order(owner, 0, 901, 0, 64, "1", "100", status="FILLED", total_filled="1"),
        Order(owner, 0, 902, 0, 64, "1", "100", status="CANCELED"),
        Order(owner, 0, 903, 1, 32, "1", "100", status="UNTRIGGERED", type="STOP_LIMIT"),
        Order(owner, 0, 904, 1, 64, "1", "100", status="BEST_EFFORT_CANCELED"),
        Order(owner, 0, 905, 2, 128, "1", "100"),
        Order(owner, 0, 906, 2, 16, "1", "100"),
    ]


def bulk_orders(owner: str, count: int, seed: int = 7) -> list[Order]:
    """Varied valid open stateful orders over every market and several subaccounts."""
    rng = random.Random(seed)  # noqa: S311 - test data
    types = ("LIMIT", "STOP_LIMIT", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "MARKET")
    result = []
    for i in range(count):
        clob = i % 4
        resolution, conversion = SCALING[clob]
        price_exponent = resolution + 6 - conversion
        quantums = rng.randrange(1, 10**12)

        def price(exponent: int = price_exponent) -> str:
            return str(Decimal(rng.randrange(1, 10**9)).scaleb(-exponent))

        result.append(
            Order(
                owner,
                rng.choice((0, 1, 2, 128, 300)),
                1000 + i,
                clob,
                rng.choice((64, 64, 32, 96, 160, 1088)),
                size=str(Decimal(quantums).scaleb(resolution)),
                price=price(),
                side=rng.choice(("BUY", "SELL")),
                total_filled=(
                    str(Decimal(rng.randrange(1, quantums + 1)).scaleb(resolution))
                    if i % 3 == 0
                    else "0"
                ),
                type=rng.choice(types),
                time_in_force=rng.choice(tuple(_TIME_IN_FORCE)),
                reduce_only=rng.random() < 0.2,
                good_til_block_time=(
                    f"2030-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
                    f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}."
                    f"{rng.randrange(1000):03d}Z"
                ),
                client_metadata=rng.choice((0, 1, 2**31)),
                trigger_price=price() if rng.random() < 0.4 else None,
                builder_address=rng.choice((None, "", "dydx1b")),
                fee_ppm=rng.choice((None, "", "0", "15")),
                order_router_address=rng.choice((None, "", "dydx1r")),
            )
        )
    return result


# --- tests ---------------------------------------------------------------------------------------
