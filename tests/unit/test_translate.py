"""Order -> IndexerOrder conversion, against the original's own test cases and wire format."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from v4_proto.dydxprotocol.indexer.off_chain_updates.off_chain_updates_pb2 import (
    OffChainUpdateV1,
    OrderPlaceV1,
)
from v4_proto.dydxprotocol.indexer.protocol.v1.clob_pb2 import IndexerOrder

from bazooka.vulcan.translate import (
    InvalidOrder,
    OrderRow,
    scaled_uint64,
    translate,
    unix_seconds,
)

OWNER = "dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4"

# The original's testConstants.defaultOrderGoodTilBlockTime on defaultPerpetualMarket
# (clobPairId 1, atomicResolution -10, quantumConversionExponent -8).
LONG_TERM = OrderRow(
    id="0e35d8a4-0000-0000-0000-000000000001",
    client_id=2,
    clob_pair_id=1,
    order_flags=64,
    side="BUY",
    size=Decimal("25"),
    total_filled=Decimal("0"),
    price=Decimal("20000"),
    type="LIMIT",
    time_in_force="FOK",
    reduce_only=False,
    good_til_block_time=datetime(2023, 1, 22, tzinfo=UTC),
    client_metadata=0,
    trigger_price=None,
    builder_address=None,
    fee_ppm=None,
    order_router_address="",
    owner=OWNER,
    subaccount_number=0,
    atomic_resolution=-10,
    quantum_conversion_exponent=-8,
)


def decode(value: bytes) -> OffChainUpdateV1:
    update = OffChainUpdateV1()
    update.ParseFromString(value)
    return update


def test_original_long_term_case() -> None:
    (place,) = translate(LONG_TERM)
    order = decode(place.value).order_place.order
    assert (
        decode(place.value).order_place.placement_status
        == OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
    )
    assert order.order_id.subaccount_id.owner == OWNER
    assert order.order_id.subaccount_id.number == 0
    assert (order.order_id.client_id, order.order_id.clob_pair_id, order.order_id.order_flags) == (
        2,
        1,
        64,
    )
    assert order.side == IndexerOrder.SIDE_BUY
    assert order.quantums == 250_000_000_000  # 25 / 1e-10
    assert order.subticks == 200_000_000  # 20_000 * 1e-10 / 1e-6 / 1e-8
    assert order.good_til_block_time == 1674345600
    assert order.WhichOneof("good_til_oneof") == "good_til_block_time"
    assert order.time_in_force == IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL
    assert order.condition_type == IndexerOrder.CONDITION_TYPE_UNSPECIFIED
    assert order.conditional_order_trigger_subticks == 0
    assert not order.HasField("builder_code_params")
    assert order.order_router_address == ""


def test_original_fill_case_sends_an_update_after_the_place() -> None:
    # vulcan-helpers.test.ts: totalFilled 1000 at atomicResolution -10 -> 1e13 quantums.
    place, update = translate(LONG_TERM._replace(total_filled=Decimal("1000")))
    assert place.key == update.key
    body = decode(update.value).order_update
    assert body.total_filled_quantums == 10_000_000_000_000
    assert body.order_id == decode(place.value).order_place.order.order_id


def test_original_conditional_case() -> None:
    row = LONG_TERM._replace(
        type="STOP_LIMIT", client_id=3, order_flags=32, trigger_price=Decimal("19000")
    )
    order = decode(translate(row)[0].value).order_place.order
    assert order.condition_type == IndexerOrder.CONDITION_TYPE_STOP_LOSS
    assert order.conditional_order_trigger_subticks == 190_000_000


def test_key_is_sha256_of_the_serialized_order_id() -> None:
    (place,) = translate(LONG_TERM)
    order_id = decode(place.value).order_place.order.order_id
    assert place.key == hashlib.sha256(order_id.SerializeToString()).digest()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return _varint(tag) + _varint(len(payload)) + payload


def test_wire_bytes_match_the_original_encoder_field_by_field() -> None:
    # ts-proto's IndexerOrder.encode writes non-default fields in field order; assemble the
    # expected bytes by hand from that rule (independent of the protobuf library).
    row = LONG_TERM._replace(
        reduce_only=True,
        client_metadata=7,
        time_in_force="POST_ONLY",
        builder_address="dydx1builder",
        fee_ppm="0",
        order_router_address="dydx1router",
    )
    subaccount = _field(10, OWNER.encode())  # number 0: omitted
    order_id = (
        _field(10, subaccount) + bytes([21]) + (2).to_bytes(4, "little") + bytes([24, 64, 32, 1])
    )
    builder = _field(10, b"dydx1builder")  # feePpm 0: omitted, message still present
    order = (
        _field(10, order_id)
        + bytes([16, 1])  # side BUY
        + bytes([24])
        + _varint(250_000_000_000)
        + bytes([32])
        + _varint(200_000_000)
        + bytes([53])
        + (1674345600).to_bytes(4, "little")
        + bytes([56, 2])  # POST_ONLY
        + bytes([64, 1])  # reduceOnly
        + bytes([72, 7])  # clientMetadata
        + _field(98, builder)
        + _field(106, b"dydx1router")
    )
    expected = _field(10, _field(10, order) + bytes([16, 2]))  # orderPlace{order, OPENED}
    assert translate(row)[0].value == expected


@pytest.mark.parametrize(
    ("order_type", "condition"),
    [
        ("LIMIT", IndexerOrder.CONDITION_TYPE_UNSPECIFIED),
        ("STOP_LIMIT", IndexerOrder.CONDITION_TYPE_STOP_LOSS),
        ("STOP_MARKET", IndexerOrder.CONDITION_TYPE_STOP_LOSS),
        ("TAKE_PROFIT", IndexerOrder.CONDITION_TYPE_TAKE_PROFIT),
        ("TAKE_PROFIT_MARKET", IndexerOrder.CONDITION_TYPE_TAKE_PROFIT),
        ("MARKET", IndexerOrder.CONDITION_TYPE_UNSPECIFIED),
        ("TRAILING_STOP", IndexerOrder.CONDITION_TYPE_UNSPECIFIED),
        ("TWAP", IndexerOrder.CONDITION_TYPE_UNSPECIFIED),
        ("TWAP_SUBORDER", IndexerOrder.CONDITION_TYPE_UNSPECIFIED),
    ],
)
def test_condition_type_follows_the_type_alone(order_type: str, condition: int) -> None:
    for flags in (32, 64, 96):  # not the flags
        row = LONG_TERM._replace(type=order_type, order_flags=flags)
        assert decode(translate(row)[0].value).order_place.order.condition_type == condition


@pytest.mark.parametrize(
    ("tif", "expected"),
    [
        ("GTT", IndexerOrder.TIME_IN_FORCE_UNSPECIFIED),
        ("FOK", IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL),
        ("IOC", IndexerOrder.TIME_IN_FORCE_IOC),
        ("POST_ONLY", IndexerOrder.TIME_IN_FORCE_POST_ONLY),
    ],
)
def test_time_in_force(tif: str, expected: int) -> None:
    row = LONG_TERM._replace(time_in_force=tif)
    assert decode(translate(row)[0].value).order_place.order.time_in_force == expected


def test_trigger_subticks_are_set_on_long_term_orders_too() -> None:
    row = LONG_TERM._replace(trigger_price=Decimal("19000"))  # flags 64, type LIMIT
    order = decode(translate(row)[0].value).order_place.order
    assert order.conditional_order_trigger_subticks == 190_000_000


@pytest.mark.parametrize(
    ("address", "fee", "present"),
    [
        ("dydx1b", "0", True),
        ("dydx1b", "25", True),
        ("dydx1b", None, False),
        (None, "25", False),
        ("", "25", False),
        ("dydx1b", "", False),
    ],
)
def test_builder_params_need_both_address_and_fee(
    address: str | None, fee: str | None, present: bool
) -> None:
    row = LONG_TERM._replace(builder_address=address, fee_ppm=fee)
    order = decode(translate(row)[0].value).order_place.order
    assert order.HasField("builder_code_params") is present
    if present:
        assert order.builder_code_params.builder_address == address
        assert order.builder_code_params.fee_ppm == int(fee or 0)


def test_sell_side_router_and_metadata() -> None:
    row = LONG_TERM._replace(side="SELL", order_router_address=None, client_metadata=2**32 - 1)
    order = decode(translate(row)[0].value).order_place.order
    assert order.side == IndexerOrder.SIDE_SELL and order.order_router_address == ""
    assert order.client_metadata == 2**32 - 1


def test_good_til_block_time_drops_milliseconds() -> None:
    moment = datetime(2023, 1, 22, 0, 0, 0, 999_999, tzinfo=UTC)
    assert unix_seconds(moment) == 1674345600
    assert unix_seconds(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == -1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": Decimal("0.00000000001")}, "size 1E-11 * 10^10 is not an integer"),
        ({"size": Decimal("-1")}, "is not an unsigned 64-bit integer"),
        ({"price": Decimal("20000.000000001")}, "price"),
        ({"trigger_price": Decimal("1.00000000000001")}, "triggerPrice"),
        ({"total_filled": Decimal("0.00000000005")}, "totalFilled"),
        ({"size": Decimal("2000000000")}, "is not an unsigned 64-bit integer"),
        ({"atomic_resolution": None}, "no perpetual market has clobPairId 1"),
        ({"owner": None, "subaccount_number": None}, "subaccount does not exist"),
        ({"good_til_block_time": None}, "goodTilBlockTime is null"),
        ({"type": "LIQUIDATED"}, "order type 'LIQUIDATED'"),
        ({"client_id": 2**32}, "clientId 4294967296"),
        ({"fee_ppm": "1.5", "builder_address": "b"}, "feePpm '1.5' is not an integer"),
        ({"size": Decimal("NaN")}, "is not an integer"),
    ],
)
def test_rows_the_original_would_mangle_are_rejected(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidOrder) as err:
        translate(LONG_TERM._replace(**change))
    assert reason in str(err.value)


@given(
    digits=st.integers(min_value=0, max_value=2**64 - 1),
    scale=st.integers(min_value=0, max_value=30),
    resolution=st.integers(min_value=-30, max_value=5),
)
def test_scaling_is_exact(digits: int, scale: int, resolution: int) -> None:
    value = Decimal(digits).scaleb(-scale, context=__import__("decimal").Context(prec=100))
    exponent = -resolution
    exact = digits * 10 ** (exponent - scale) if exponent >= scale else None
    if exponent < scale and digits % 10 ** (scale - exponent) == 0:
        exact = digits // 10 ** (scale - exponent)
    if exact is None or exact > 2**64 - 1:
        with pytest.raises(InvalidOrder):
            scaled_uint64(value, exponent, "size")
    else:
        assert scaled_uint64(value, exponent, "size") == exact


@pytest.mark.parametrize("resolution", [-1_000_000, 1_000_000])
def test_absurd_market_resolution_is_a_rejected_row_not_a_crash(resolution: int) -> None:
    with pytest.raises(InvalidOrder, match="is not an"):
        translate(LONG_TERM._replace(atomic_resolution=resolution))
