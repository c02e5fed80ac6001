"""Open stateful order rows -> Vulcan messages, exactly as the original translates them.

Source of truth: ``indexer/packages/postgres/src/lib/order-translations.ts``,
``protocol-translations.ts`` and ``helpers.ts``, and ``services/bazooka/src/vulcan-helpers.ts``.
Arithmetic is exact (decimal scaling by powers of ten). Where the original would silently send
a mangled value (a fractional or negative quantity, an out-of-range integer, a missing market
or expiry), the row is rejected with a reason instead.

Messages are built with the official ``v4-proto`` classes. Each message is created empty and
its fields are assigned one by one: constructing the nested messages through keyword arguments
copies every sub-message and cost several times more per order.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import NamedTuple

from v4_proto.dydxprotocol.indexer.off_chain_updates.off_chain_updates_pb2 import (
    OffChainUpdateV1,
    OrderPlaceV1,
)
from v4_proto.dydxprotocol.indexer.protocol.v1.clob_pb2 import IndexerOrder

QUOTE_CURRENCY_ATOMIC_RESOLUTION = -6
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

_TIME_IN_FORCE = {
    "GTT": IndexerOrder.TIME_IN_FORCE_UNSPECIFIED,
    "FOK": IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL,
    "IOC": IndexerOrder.TIME_IN_FORCE_IOC,
    "POST_ONLY": IndexerOrder.TIME_IN_FORCE_POST_ONLY,
}
# The condition type follows the order's type alone (not its flags), as in the original.
_CONDITION_TYPE = {
    "LIMIT": IndexerOrder.CONDITION_TYPE_UNSPECIFIED,
    "STOP_LIMIT": IndexerOrder.CONDITION_TYPE_STOP_LOSS,
    "STOP_MARKET": IndexerOrder.CONDITION_TYPE_STOP_LOSS,
    "TAKE_PROFIT": IndexerOrder.CONDITION_TYPE_TAKE_PROFIT,
    "TAKE_PROFIT_MARKET": IndexerOrder.CONDITION_TYPE_TAKE_PROFIT,
    "MARKET": IndexerOrder.CONDITION_TYPE_UNSPECIFIED,
    "TRAILING_STOP": IndexerOrder.CONDITION_TYPE_UNSPECIFIED,
    "TWAP": IndexerOrder.CONDITION_TYPE_UNSPECIFIED,
    "TWAP_SUBORDER": IndexerOrder.CONDITION_TYPE_UNSPECIFIED,
}
# Wide enough for any numeric PostgreSQL stores before the decimal point; Inexact trapped.
_EXACT = Context(prec=200_000, Emax=999_999, Emin=-999_999, traps=[Inexact, InvalidOperation])


class OrderRow(NamedTuple):
    """The columns of one open stateful order joined with its subaccount and market.

    A tuple: one is built per order streamed, and a tuple is built in one C call.
    """

    id: str
    client_id: int
    clob_pair_id: int
    order_flags: int
    side: str
    size: Decimal
    total_filled: Decimal
    price: Decimal
    type: str
    time_in_force: str
    reduce_only: bool
    good_til_block_time: datetime | None
    client_metadata: int
    trigger_price: Decimal | None
    builder_address: str | None
    fee_ppm: str | None
    order_router_address: str | None
    owner: str | None  # subaccounts.address (None: subaccount missing)
    subaccount_number: int | None
    atomic_resolution: int | None  # perpetual market (None: no market for clobPairId)
    quantum_conversion_exponent: int | None


class VulcanMessage(NamedTuple):
    """One Kafka record for ``to-vulcan``: key = sha256 of the serialized order id."""

    key: bytes
    value: bytes


class InvalidOrder(ValueError):  # noqa: N818 - a rejected row, reported by id
    """The row cannot be converted without mangling a value; ``reason`` says which."""


def scaled_uint64(value: Decimal, exponent: int, what: str) -> int:
    """``value * 10**exponent`` as an unsigned 64-bit integer, exactly, or :class:`InvalidOrder`."""
    # Fast path, taken by every valid row: the exact rational value of the decimal, scaled by
    # an integer power of ten, divides evenly into a value in range. Anything else (negative,
    # fractional, too large, odd exponents) goes through the exact decimal path below, which
    # also words the reason.
    if -_FAST_EXPONENT <= exponent <= _FAST_EXPONENT and value.is_finite():
        if not value:
            return 0
        if 0 <= value.adjusted() + exponent <= _UINT64_DIGITS:
            numerator, denominator = value.as_integer_ratio()
            if exponent >= 0:
                numerator *= _POW10[exponent]
            else:
                denominator *= _POW10[-exponent]
            result, remainder = divmod(numerator, denominator)
            if not remainder and 0 <= result <= UINT64_MAX:
                return result
    return _scaled_uint64_exact(value, exponent, what)


def _scaled_uint64_exact(value: Decimal, exponent: int, what: str) -> int:
    if not value.is_finite():
        raise InvalidOrder(f"{what} {value} is not an integer")
    try:
        scaled = _EXACT.scaleb(value, exponent)
        integral = _EXACT.to_integral_exact(scaled)
    except (Inexact, InvalidOperation):
        raise InvalidOrder(f"{what} {value} * 10^{exponent} is not an integer") from None
    if integral.adjusted() >= _UINT64_DIGITS + 1:  # don't print a number of 10^6 digits
        raise InvalidOrder(f"{what} {value} * 10^{exponent} is not an unsigned 64-bit integer")
    result = int(integral)
    if not 0 <= result <= UINT64_MAX:
        raise InvalidOrder(
            f"{what} {value} * 10^{exponent} = {result} is not an unsigned 64-bit integer"
        )
    return result


_FAST_EXPONENT = 64
_POW10 = [10**i for i in range(_FAST_EXPONENT + 1)]
_UINT64_DIGITS = len(str(UINT64_MAX)) - 1  # value * 10^e >= 10^20 cannot fit


def _uint32(value: int, what: str) -> int:
    if not 0 <= value <= UINT32_MAX:
        raise InvalidOrder(f"{what} {value} is not an unsigned 32-bit integer")
    return value


class _Joined(NamedTuple):
    """What the row's joins must provide: subaccount, market scaling, expiry."""

    owner: str
    subaccount_number: int
    good_til_block_time: datetime
    quantums_exponent: int  # size, totalFilled: -atomicResolution
    subticks_exponent: int  # price, triggerPrice: atomicResolution + 6 - quantumConversionExp.


def translate(row: OrderRow) -> list[VulcanMessage]:
    """The order's place message, then its fill update when ``totalFilled`` is non-zero."""
    joined = _joined(row)
    place = _place(row, joined)
    serialized_id = place.order_place.order.order_id.SerializeToString()
    key = hashlib.sha256(serialized_id).digest()
    messages = [VulcanMessage(key, place.SerializeToString())]
    filled = scaled_uint64(row.total_filled, joined.quantums_exponent, "totalFilled")
    if filled != 0:
        update = OffChainUpdateV1()
        update.order_update.order_id.MergeFromString(serialized_id)
        update.order_update.total_filled_quantums = filled
        messages.append(VulcanMessage(key, update.SerializeToString()))
    return messages


def _joined(row: OrderRow) -> _Joined:
    """The row's subaccount, scaling and expiry, or :class:`InvalidOrder` naming the missing."""
    if row.owner is None or row.subaccount_number is None:
        raise InvalidOrder("its subaccount does not exist")
    if row.atomic_resolution is None or row.quantum_conversion_exponent is None:
        raise InvalidOrder(f"no perpetual market has clobPairId {row.clob_pair_id}")
    if row.good_til_block_time is None:
        raise InvalidOrder("goodTilBlockTime is null")
    # subticks = price * 10^atomicResolution / 10^-6 / 10^quantumConversionExponent
    return _Joined(
        owner=row.owner,
        subaccount_number=row.subaccount_number,
        good_til_block_time=row.good_til_block_time,
        quantums_exponent=-row.atomic_resolution,
        subticks_exponent=row.atomic_resolution
        - QUOTE_CURRENCY_ATOMIC_RESOLUTION
        - row.quantum_conversion_exponent,
    )


def _place(row: OrderRow, joined: _Joined) -> OffChainUpdateV1:
    """``OffChainUpdateV1{orderPlace{order, OPENED}}``, filled field by field."""
    condition_type = _CONDITION_TYPE.get(row.type)
    if condition_type is None:
        raise InvalidOrder(f"order type {row.type!r} has no protocol condition type")
    time_in_force = _TIME_IN_FORCE.get(row.time_in_force)
    if time_in_force is None:
        raise InvalidOrder(f"timeInForce {row.time_in_force!r} is unknown")
    place = OffChainUpdateV1()
    place.order_place.placement_status = OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
    order = place.order_place.order
    order_id = order.order_id
    order_id.subaccount_id.owner = joined.owner
    order_id.subaccount_id.number = _uint32(joined.subaccount_number, "subaccountNumber")
    order_id.client_id = _uint32(row.client_id, "clientId")
    order_id.order_flags = _uint32(row.order_flags, "orderFlags")
    order_id.clob_pair_id = _uint32(row.clob_pair_id, "clobPairId")
    order.side = IndexerOrder.SIDE_BUY if row.side == "BUY" else IndexerOrder.SIDE_SELL
    order.quantums = scaled_uint64(row.size, joined.quantums_exponent, "size")
    order.subticks = scaled_uint64(row.price, joined.subticks_exponent, "price")
    # Unix seconds, milliseconds dropped (floor), as blockTimeFromIsoString does.
    good_til = unix_seconds(joined.good_til_block_time)
    order.good_til_block_time = _uint32(good_til, "goodTilBlockTime")
    order.time_in_force = time_in_force
    order.reduce_only = row.reduce_only
    order.client_metadata = _uint32(row.client_metadata, "clientMetadata")
    order.condition_type = condition_type
    if row.trigger_price is not None:
        order.conditional_order_trigger_subticks = scaled_uint64(
            row.trigger_price, joined.subticks_exponent, "triggerPrice"
        )
    _optional_fields(order, row)
    return place


def _optional_fields(order: IndexerOrder, row: OrderRow) -> None:
    """Builder code parameters (both set: fee ppm "0" with an address still counts) and the
    order router address, only when present, as the original."""
    if row.builder_address and row.fee_ppm:
        params = order.builder_code_params
        params.builder_address = row.builder_address
        params.fee_ppm = _uint32(_parse_int(row.fee_ppm, "feePpm"), "feePpm")
        params.SetInParent()  # present even when both fields are defaults, as the original
    if row.order_router_address:
        order.order_router_address = row.order_router_address


def unix_seconds(moment: datetime) -> int:
    """Whole seconds since the epoch, floored (exact integer arithmetic, no float)."""
    return (moment - _EPOCH) // _SECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidOrder(f"{what} {text!r} is not an integer") from None
