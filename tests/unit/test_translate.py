"""Order rows -> protocol values -> wire bytes, against the original's own test cases.

Rows here are shaped as the orders query returns them (decimals already scaled by PostgreSQL,
or NULL with the raw value); that query's arithmetic is tested on real PostgreSQL in
``tests/integration/test_vulcan_sql.py``. Bytes are decoded with the official classes, compared
with bytes assembled by hand, and with the official encoder over generated orders.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from v4_proto.dydxprotocol.indexer.off_chain_updates.off_chain_updates_pb2 import (
    OffChainUpdateV1,
    OrderPlaceV1,
)
from v4_proto.dydxprotocol.indexer.protocol.v1.clob_pb2 import IndexerOrder

from bazooka.errors import VulcanSendError
from bazooka.vulcan import official, wire
from bazooka.vulcan.translate import (
    InvalidOrder,
    OrderFields,
    OrderRow,
    checked_fields,
    convert,
    scaled_uint64,
    to_fields,
)

OWNER = "dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4"

# The original's testConstants.defaultOrderGoodTilBlockTime on defaultPerpetualMarket
# (clobPairId 1, atomicResolution -10, quantumConversionExponent -8): size 25, price 20000,
# goodTilBlockTime 2023-01-22T00:00:00Z, as the orders query returns it.
LONG_TERM = OrderRow(
    id="0e35d8a4-0000-0000-0000-000000000001",
    owner=OWNER,
    subaccount_number=0,
    client_id=2,
    order_flags=64,
    clob_pair_id=1,
    side="BUY",
    type="LIMIT",
    time_in_force="FOK",
    reduce_only=False,
    client_metadata=0,
    good_til_block_time=1674345600,
    good_til_block_time_raw=None,
    atomic_resolution=-10,
    quantum_conversion_exponent=-8,
    builder_address=None,
    fee_ppm=None,
    order_router_address="",
    quantums="250000000000",  # 25 / 1e-10
    size_raw=None,
    subticks="200000000",  # 20_000 * 1e-10 / 1e-6 / 1e-8
    price_raw=None,
    trigger_subticks=None,
    trigger_price_raw=None,
    filled_quantums="0",
    total_filled_raw=None,
)


def messages(row: OrderRow) -> wire.VulcanMessages:
    """The send's own path: the plain tuple the query returns, converted and encoded in one go."""
    return wire.VulcanMessages._make(convert(cast("OrderRow", tuple(row)), wire.encode_values))


def decode(value: bytes) -> OffChainUpdateV1:
    update = OffChainUpdateV1()
    update.ParseFromString(value)
    return update


def placed(row: OrderRow) -> IndexerOrder:
    return decode(messages(row).place).order_place.order


def test_original_long_term_case() -> None:
    sent = messages(LONG_TERM)
    assert sent.update is None
    place = decode(sent.place).order_place
    assert place.placement_status == OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
    order = place.order
    assert order.order_id.subaccount_id.owner == OWNER
    assert order.order_id.subaccount_id.number == 0
    assert (order.order_id.client_id, order.order_id.clob_pair_id, order.order_id.order_flags) == (
        2,
        1,
        64,
    )
    assert order.side == IndexerOrder.SIDE_BUY
    assert order.quantums == 250_000_000_000
    assert order.subticks == 200_000_000
    assert order.good_til_block_time == 1674345600
    assert order.WhichOneof("good_til_oneof") == "good_til_block_time"
    assert order.time_in_force == IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL
    assert order.condition_type == IndexerOrder.CONDITION_TYPE_UNSPECIFIED
    assert order.conditional_order_trigger_subticks == 0
    assert not order.HasField("builder_code_params")
    assert order.order_router_address == ""


def test_original_fill_case_sends_an_update_after_the_place() -> None:
    # vulcan-helpers.test.ts: totalFilled 1000 at atomicResolution -10 -> 1e13 quantums.
    sent = messages(LONG_TERM._replace(filled_quantums="10000000000000"))
    assert sent.update is not None
    body = decode(sent.update).order_update
    assert body.total_filled_quantums == 10_000_000_000_000
    assert body.order_id == decode(sent.place).order_place.order.order_id


def test_original_conditional_case() -> None:
    row = LONG_TERM._replace(
        type="STOP_LIMIT", client_id=3, order_flags=32, trigger_subticks="190000000"
    )
    order = placed(row)
    assert order.condition_type == IndexerOrder.CONDITION_TYPE_STOP_LOSS
    assert order.conditional_order_trigger_subticks == 190_000_000


def test_key_is_sha256_of_the_serialized_order_id() -> None:
    sent = messages(LONG_TERM)
    order_id = decode(sent.place).order_place.order.order_id
    assert sent.key == hashlib.sha256(order_id.SerializeToString()).digest()


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
    assert messages(row).place == expected


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
        assert placed(LONG_TERM._replace(type=order_type, order_flags=flags)).condition_type == (
            condition
        )


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
    assert placed(LONG_TERM._replace(time_in_force=tif)).time_in_force == expected


def test_trigger_subticks_are_set_on_long_term_orders_too() -> None:
    order = placed(LONG_TERM._replace(trigger_subticks="190000000"))  # flags 64, type LIMIT
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
    order = placed(LONG_TERM._replace(builder_address=address, fee_ppm=fee))
    assert order.HasField("builder_code_params") is present
    if present:
        assert order.builder_code_params.builder_address == address
        assert order.builder_code_params.fee_ppm == int(fee or 0)


def test_sell_side_router_and_metadata() -> None:
    row = LONG_TERM._replace(side="SELL", order_router_address=None, client_metadata=2**32 - 1)
    order = placed(row)
    assert order.side == IndexerOrder.SIDE_SELL and order.order_router_address == ""
    assert order.client_metadata == 2**32 - 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # A decimal PostgreSQL could not scale exactly: its raw value words the reason.
        ({"quantums": None, "size_raw": "0.00000000001"}, "size 1E-11 * 10^10 is not an integer"),
        ({"quantums": None, "size_raw": "-1"}, "is not an unsigned 64-bit integer"),
        ({"subticks": None, "price_raw": "20000.000000001"}, "price"),
        ({"trigger_price_raw": "1.00000000000001"}, "triggerPrice"),
        ({"filled_quantums": None, "total_filled_raw": "0.00000000005"}, "totalFilled"),
        ({"quantums": None, "size_raw": "2000000000"}, "is not an unsigned 64-bit integer"),
        ({"quantums": None, "size_raw": "NaN"}, "is not an integer"),
        ({"quantums": None, "size_raw": "Infinity"}, "is not an integer"),
        # The row's other values.
        ({"atomic_resolution": None}, "no perpetual market has clobPairId 1"),
        ({"owner": None, "subaccount_number": None}, "subaccount does not exist"),
        ({"good_til_block_time": None}, "goodTilBlockTime is null"),
        (
            {"good_til_block_time": None, "good_til_block_time_raw": "infinity"},
            "goodTilBlockTime infinity is not an unsigned 32-bit integer",
        ),
        ({"good_til_block_time": -1}, "goodTilBlockTime -1 is not an unsigned 32-bit integer"),
        ({"type": "LIQUIDATED"}, "order type 'LIQUIDATED'"),
        ({"time_in_force": "GTX"}, "timeInForce 'GTX' is unknown"),
        ({"client_id": 2**32}, "clientId 4294967296"),
        ({"subaccount_number": -1}, "subaccountNumber -1"),
        ({"fee_ppm": "1.5", "builder_address": "b"}, "feePpm '1.5' is not an integer"),
        ({"fee_ppm": "4294967296", "builder_address": "b"}, "feePpm 4294967296"),
    ],
)
def test_rows_the_original_would_mangle_are_rejected(change: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidOrder) as err:
        to_fields(LONG_TERM._replace(**change))
    assert reason in str(err.value)


def test_the_first_problem_of_a_row_is_the_one_reported() -> None:
    row = LONG_TERM._replace(client_id=2**32, quantums=None, size_raw="0.5")
    with pytest.raises(InvalidOrder, match="clientId"):
        to_fields(row)


@given(
    digits=st.integers(min_value=0, max_value=2**64 - 1),
    scale=st.integers(min_value=0, max_value=30),
    resolution=st.integers(min_value=-30, max_value=5),
)
def test_scaling_is_exact(digits: int, scale: int, resolution: int) -> None:
    value = Decimal(digits).scaleb(-scale, context=Context(prec=100))
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
    # Beyond 10^±64 PostgreSQL does not scale: the exact path decides, and words why.
    row = LONG_TERM._replace(atomic_resolution=resolution, quantums=None, size_raw="25")
    with pytest.raises(InvalidOrder, match="is not an"):
        to_fields(row)


def test_a_zero_size_scales_to_zero_whatever_the_resolution() -> None:
    row = LONG_TERM._replace(atomic_resolution=-1_000, quantums=None, size_raw="0")
    assert to_fields(row).quantums == 0


INTS = st.one_of(st.integers(min_value=-2, max_value=2**33), st.sampled_from([0, 2**32 - 1, 2**32]))
SCALED = st.none() | st.integers(min_value=0, max_value=2**64 - 1).map(str)


# Rows near a valid one: up to three of these changes at a time, so that both paths meet valid
# rows, rows with exactly one problem, and rows with a few.
def _change(name: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return values.map(lambda value: {name: value})


CHANGES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    name: _change(name, values)
    for name, values in {
        "owner": st.none() | st.sampled_from(["", OWNER]),
        "subaccount_number": st.none() | INTS,
        "client_id": INTS,
        "order_flags": INTS,
        "clob_pair_id": INTS,
        "side": st.sampled_from(["BUY", "SELL"]),
        "type": st.sampled_from(["LIMIT", "STOP_LIMIT", "TAKE_PROFIT", "LIQUIDATED"]),
        "time_in_force": st.sampled_from(["GTT", "IOC", "FOK", "POST_ONLY", "GTX"]),
        "reduce_only": st.booleans(),
        "client_metadata": INTS,
        "good_til_block_time": st.none() | INTS,
        "good_til_block_time_raw": st.none() | st.just("infinity"),
        "atomic_resolution": st.none() | st.integers(-12, 0),
        "quantum_conversion_exponent": st.none() | st.integers(-12, 0),
        "order_router_address": st.none() | st.sampled_from(["", "dydx1r"]),
        "quantums": SCALED,
        "size_raw": st.none() | st.sampled_from(["0.5", "-1", "NaN", "25"]),
        "subticks": SCALED,
        "price_raw": st.none() | st.sampled_from(["0.5", "-1", "1E+30"]),
        "trigger_subticks": SCALED,
        "trigger_price_raw": st.none() | st.sampled_from(["0.5", "-1"]),
        "filled_quantums": SCALED,
        "total_filled_raw": st.none() | st.sampled_from(["0.5", "-1"]),
    }.items()
} | {
    "builder": st.fixed_dictionaries(
        {
            "builder_address": st.none() | st.sampled_from(["", "dydx1b"]),
            "fee_ppm": st.none() | st.sampled_from(["", "0", "25", "1.5", "4294967296"]),
        }
    )
}


def _apply(changes: list[dict[str, Any]]) -> OrderRow:
    row = LONG_TERM
    for change in changes:
        row = row._replace(**change)
    return row


ROWS = (
    st.lists(st.sampled_from(sorted(CHANGES)), max_size=3, unique=True)
    .flatmap(lambda names: st.tuples(*(CHANGES[name] for name in names)))
    .map(lambda changes: _apply(list(changes)))
)


def _outcome(step: Callable[[OrderRow], object], row: OrderRow) -> object:
    try:
        return step(row)
    except InvalidOrder as exc:
        return f"rejected: {exc}"


@settings(max_examples=1_000)
@given(row=ROWS)
def test_the_fast_path_agrees_with_the_checks_one_by_one(row: OrderRow) -> None:
    checked = _outcome(checked_fields, row)
    assert _outcome(to_fields, row) == checked
    # The send's path: a plain tuple, converted straight into the encoder.
    expected = checked if isinstance(checked, str) else wire.encode(cast("OrderFields", checked))
    assert _outcome(messages, row) == expected
    # The C fast path answers only for a row convert sends, with the same bytes.
    assert wire.native_encode_row is not None
    fast = wire.native_encode_row(cast("OrderRow", tuple(row)))
    if fast is not None:
        assert wire.VulcanMessages._make(fast) == expected


ODD_TEXTS = ["", " 5", "+5", "1_000", "5 ", "\u0665", "18446744073709551616", "0x10", "-0"]


@pytest.mark.parametrize(
    "change",
    [{"quantums": text} for text in ODD_TEXTS]
    + [{"filled_quantums": text} for text in ODD_TEXTS]
    + [{"builder_address": "dydx1b", "fee_ppm": text} for text in [*ODD_TEXTS[1:], "4294967296"]]
    + [
        {"owner": None},
        {"owner": 5},
        {"subaccount_number": 2**63},
        {"client_id": -1},
        {"good_til_block_time": None},
        {"reduce_only": 1},
        {"type": None},
        {"time_in_force": b"GTT"},
        {"trigger_price_raw": "0.5"},
        {"atomic_resolution": None},
        {"order_router_address": 7},
    ],
)
def test_the_c_fast_path_leaves_what_it_is_not_sure_of_to_convert(
    change: dict[str, Any],
) -> None:
    assert wire.native_encode_row is not None
    row = tuple(LONG_TERM._replace(**change))
    assert wire.native_encode_row(cast("OrderRow", row)) is None
    assert wire.native_encode_row(cast("OrderRow", row[:-1])) is None  # not a whole row


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"builder_address": "dydx1b", "fee_ppm": "25"},
        {"builder_address": "dydx1b", "fee_ppm": "0"},
        {"builder_address": "", "fee_ppm": "25"},
        {"builder_address": "dydx1b", "fee_ppm": ""},
        {"trigger_subticks": "18446744073709551615", "type": "STOP_LIMIT"},
        {"filled_quantums": "12", "side": "SELL", "order_router_address": "dydx1r"},
        {"quantums": "0", "subticks": "00042", "time_in_force": "POST_ONLY"},
    ],
)
def test_the_c_fast_path_encodes_valid_rows_as_convert_does(change: dict[str, Any]) -> None:
    assert wire.native_encode_row is not None
    row = LONG_TERM._replace(**change)
    fast = wire.native_encode_row(cast("OrderRow", tuple(row)))
    assert fast is not None
    assert wire.VulcanMessages._make(fast) == wire.encode(checked_fields(row))


# --- the hand-written encoder against the official classes ----------------------------------

UINT32 = st.integers(min_value=0, max_value=2**32 - 1)
UINT64 = st.integers(min_value=0, max_value=2**64 - 1)
TEXT = st.text(max_size=60)
FIELDS = st.builds(
    OrderFields,
    owner=TEXT,
    subaccount_number=UINT32,
    client_id=UINT32,
    order_flags=UINT32,
    clob_pair_id=UINT32,
    side=st.sampled_from([1, 2]),
    quantums=UINT64,
    subticks=UINT64,
    good_til_block_time=UINT32,
    time_in_force=st.sampled_from([0, 1, 2, 3]),
    reduce_only=st.booleans(),
    client_metadata=UINT32,
    condition_type=st.sampled_from([0, 1, 2]),
    trigger_subticks=UINT64,
    builder=st.none() | st.tuples(TEXT, UINT32),
    router=TEXT,
    filled_quantums=UINT64,
)


@given(value=st.integers(min_value=0, max_value=2**64 - 1))
def test_varints_match_the_byte_by_byte_definition(value: int) -> None:
    assert wire.varint(value) == _varint(value)


@pytest.mark.parametrize("bits", [7, 14, 21, 28, 35, 42, 49, 56, 63, 64])
def test_varints_at_every_chunk_boundary(bits: int) -> None:
    for value in (2**bits - 1, 2**bits, 2**bits + 1):
        if value < 2**64:
            assert wire.varint(value) == _varint(value)


try:
    from bazooka.vulcan import _wire
except ImportError:  # not built: the test below says so
    _wire = None  # type: ignore[assignment]

# Both hand-written encoders: C when the install built it (it did here: see the next test), and
# the Python one the send falls back to.
ENCODERS = {"C": wire.native_encode_values, "Python": wire.python_encode_values}


def test_the_c_encoder_is_built_and_is_the_one_the_send_uses() -> None:
    # setup.sh builds it; on a machine without a C compiler this fails, as it should: the C
    # encoder would then be tested nowhere.
    assert wire.native_encode_values is not None, "bazooka.vulcan._wire was not built"
    assert wire.ENCODER == "C" and wire.encode_values is wire.native_encode_values


_COLUMNS = OrderRow._fields


@pytest.mark.parametrize(
    ("layout", "named"),
    [
        ((*_COLUMNS[:3], _COLUMNS[4], _COLUMNS[3], *_COLUMNS[5:]), "column 3 'client_id'"),
        (_COLUMNS[:-1], "column 25 'total_filled_raw'; the row has '(none)'"),
        ((*_COLUMNS, "new_column"), "the row has 'new_column' there"),
    ],
    ids=["two-columns-swapped", "one-column-fewer", "one-column-more"],
)
def test_the_c_encoder_refuses_rows_of_another_layout(layout: tuple[str, ...], named: str) -> None:
    """encode_row reads the query's tuple by position: for another OrderRow it must never be
    used (it would read one column for another), and the send says why it encodes in Python."""
    refused = wire.native(layout)
    assert refused.encode_values is None and refused.encode_row is None
    assert refused.refused is not None and named in refused.refused
    assert "the send encodes in Python" in refused.refused
    # The layout it was built for is accepted again (configure is all or nothing).
    accepted = wire.native()
    assert accepted.refused is None and accepted.encode_row is not None
    assert wire.NATIVE_REFUSED is None


def test_a_changed_order_row_makes_the_send_encode_in_python() -> None:
    """What the send sees when OrderRow changed and the C encoder was not rebuilt: a module
    level choice, so it is checked in a fresh interpreter."""
    script = (
        "from typing import NamedTuple\n"
        "from bazooka.vulcan import translate\n"
        "fields = list(translate.OrderRow.__annotations__.items())\n"
        "fields[3], fields[4] = fields[4], fields[3]\n"
        "translate.OrderRow = NamedTuple('OrderRow', fields)\n"
        "from bazooka.vulcan import send, wire\n"
        "print(wire.ENCODER, send.SendResult.__dataclass_fields__['encoder'].default)\n"
        "print(wire.NATIVE_REFUSED)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    encoder, refused = result.stdout.splitlines()
    assert encoder == "Python Python"
    assert refused.startswith("the C encoder reads order rows with 26 columns")


@pytest.mark.parametrize("name", ENCODERS)
@given(fields=FIELDS)
def test_hand_written_bytes_equal_the_official_classes(name: str, fields: OrderFields) -> None:
    encoder = ENCODERS[name]
    assert encoder is not None
    assert wire.VulcanMessages._make(encoder(*fields)) == official.encode(fields)


@given(fields=FIELDS)
def test_the_c_and_python_encoders_write_the_same_bytes(fields: OrderFields) -> None:
    assert wire.native_encode_values is not None
    assert tuple(wire.native_encode_values(*fields)) == tuple(wire.python_encode_values(*fields))


@pytest.mark.parametrize("length", [127, 128, 16_383, 16_384, 70_000])
def test_the_c_encoder_writes_long_strings_as_the_official_classes(length: int) -> None:
    # Lengths past the Python encoder's table (2^14) too: each length prefix is a varint.
    assert wire.native_encode_values is not None
    fields = official.SAMPLES[0]._replace(
        owner="o" * length, router="r" * length, builder=("b" * length, 7)
    )
    assert wire.VulcanMessages._make(wire.native_encode_values(*fields)) == official.encode(fields)


@given(data=st.binary(max_size=300))
def test_the_c_sha256_is_hashlibs(data: bytes) -> None:
    assert _wire is not None
    assert _wire.sha256(data) == hashlib.sha256(data).digest()


def test_the_c_sha256_at_every_length_around_the_block_boundaries() -> None:
    assert _wire is not None
    for length in range(300):
        data = bytes(range(256))[: length % 256] * (1 + length // 256)
        data = data[:length]
        assert _wire.sha256(data) == hashlib.sha256(data).digest(), length


@pytest.mark.parametrize(
    ("index", "value", "error", "message"),
    [
        (1, 2**32, OverflowError, "subaccount_number is not an unsigned 32-bit integer"),
        (6, -1, OverflowError, "quantums is not an unsigned 64-bit integer"),
        (16, 2**64, OverflowError, "filled_quantums is not an unsigned 64-bit integer"),
        (0, b"bytes", TypeError, "owner must be a str"),
        (2, "1", TypeError, "client_id must be an int"),
        (14, ("address",), TypeError, "builder must be None or"),
    ],
)
def test_the_c_encoder_refuses_a_value_it_cannot_encode(
    index: int, value: object, error: type[Exception], message: str
) -> None:
    assert wire.native_encode_values is not None
    values: list[Any] = list(official.SAMPLES[0])
    values[index] = value
    with pytest.raises(error, match=message):
        wire.native_encode_values(*values)
    with pytest.raises(TypeError, match="takes 17 arguments"):
        wire.native_encode_values(*values[:16])


def test_the_self_check_passes_and_refuses_an_encoder_that_disagrees() -> None:
    official.self_check()

    def off_by_one(fields: OrderFields) -> wire.VulcanMessages:
        return wire.encode(fields._replace(quantums=fields.quantums ^ 1))

    with pytest.raises(VulcanSendError, match="disagrees with the official v4-proto"):
        official.self_check(off_by_one)


def test_the_self_check_holds_the_c_fast_path_to_the_official_classes_too() -> None:
    # Its sample rows are the sample orders, as the query would return them.
    assert to_fields(official.row_of(official.SAMPLES[0])) == official.SAMPLES[0]
    assert wire.native_encode_row is not None
    assert all(wire.native_encode_row(official.row_of(s)) for s in official.SAMPLES)

    def swapped_sides(row: OrderRow) -> tuple[bytes, bytes, bytes | None] | None:
        side = "SELL" if row.side == "BUY" else "BUY"
        return wire.encode_row(row._replace(side=side))

    with pytest.raises(VulcanSendError, match="The C fast path disagrees"):
        official.self_check(row_encoder=swapped_sides)
    official.self_check(row_encoder=wire.python_encode_row)  # None for all: convert's business
