"""Open stateful order rows -> Vulcan messages, exactly as the original translates them.

Source of truth: ``indexer/packages/postgres/src/lib/order-translations.ts``,
``protocol-translations.ts`` and ``helpers.ts``, and ``services/bazooka/src/vulcan-helpers.ts``.
Arithmetic is exact (decimal scaling by powers of ten). Where the original would silently send
a mangled value (a fractional or negative quantity, an out-of-range integer, a missing market
or expiry), the row is rejected with a reason instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation

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

QUOTE_CURRENCY_ATOMIC_RESOLUTION = -6
ORDER_FLAG_CONDITIONAL = 32
ORDER_FLAG_LONG_TERM = 64
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


@dataclass(frozen=True, slots=True)
class OrderRow:
    """The columns of one open stateful order joined with its subaccount and market."""

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


@dataclass(frozen=True, slots=True)
class VulcanMessage:
    """One Kafka record for ``to-vulcan``: key = sha256 of the serialized order id."""

    key: bytes
    value: bytes


class InvalidOrder(ValueError):  # noqa: N818 - a rejected row, reported by id
    """The row cannot be converted without mangling a value; ``reason`` says which."""


def is_stateful(order_flags: int) -> bool:
    """Long-term (64) or conditional (32) bit set — either counts (96 and 160 too)."""
    return (order_flags // 64) % 2 == 1 or (order_flags // 32) % 2 == 1


def scaled_uint64(value: Decimal, exponent: int, what: str) -> int:
    """``value * 10**exponent`` as an unsigned 64-bit integer, exactly, or :class:`InvalidOrder`."""
    if not value.is_finite():
        raise InvalidOrder(f"{what} {value} is not an integer")
    try:
        scaled = _EXACT.scaleb(value, exponent)
        integral = _EXACT.to_integral_exact(scaled)
    except (Inexact, InvalidOperation):
        raise InvalidOrder(f"{what} {value} * 10^{exponent} is not an integer") from None
    result = int(integral)
    if not 0 <= result <= UINT64_MAX:
        raise InvalidOrder(
            f"{what} {value} * 10^{exponent} = {result} is not an unsigned 64-bit integer"
        )
    return result


def _uint32(value: int, what: str) -> int:
    if not 0 <= value <= UINT32_MAX:
        raise InvalidOrder(f"{what} {value} is not an unsigned 32-bit integer")
    return value


def translate(row: OrderRow) -> list[VulcanMessage]:
    """The order's place message, then its fill update when ``totalFilled`` is non-zero."""
    if row.owner is None or row.subaccount_number is None:
        raise InvalidOrder("its subaccount does not exist")
    if row.atomic_resolution is None or row.quantum_conversion_exponent is None:
        raise InvalidOrder(f"no perpetual market has clobPairId {row.clob_pair_id}")
    if row.good_til_block_time is None:
        raise InvalidOrder("goodTilBlockTime is null")
    condition_type = _CONDITION_TYPE.get(row.type)
    if condition_type is None:
        raise InvalidOrder(f"order type {row.type!r} has no protocol condition type")
    time_in_force = _TIME_IN_FORCE.get(row.time_in_force)
    if time_in_force is None:
        raise InvalidOrder(f"timeInForce {row.time_in_force!r} is unknown")

    # subticks = price * 10^atomicResolution / 10^-6 / 10^quantumConversionExponent
    price_exponent = (
        row.atomic_resolution - QUOTE_CURRENCY_ATOMIC_RESOLUTION - row.quantum_conversion_exponent
    )
    order_id = IndexerOrderId(
        subaccount_id=IndexerSubaccountId(
            owner=row.owner, number=_uint32(row.subaccount_number, "subaccountNumber")
        ),
        client_id=_uint32(row.client_id, "clientId"),
        order_flags=_uint32(row.order_flags, "orderFlags"),
        clob_pair_id=_uint32(row.clob_pair_id, "clobPairId"),
    )
    order = IndexerOrder(
        order_id=order_id,
        side=IndexerOrder.SIDE_BUY if row.side == "BUY" else IndexerOrder.SIDE_SELL,
        quantums=scaled_uint64(row.size, -row.atomic_resolution, "size"),
        subticks=scaled_uint64(row.price, price_exponent, "price"),
        # Unix seconds, milliseconds dropped (floor), as blockTimeFromIsoString does.
        good_til_block_time=_uint32(unix_seconds(row.good_til_block_time), "goodTilBlockTime"),
        time_in_force=time_in_force,
        reduce_only=row.reduce_only,
        client_metadata=_uint32(row.client_metadata, "clientMetadata"),
        condition_type=condition_type,
        conditional_order_trigger_subticks=(
            0
            if row.trigger_price is None
            else scaled_uint64(row.trigger_price, price_exponent, "triggerPrice")
        ),
        order_router_address=row.order_router_address or "",
    )
    # Both must be set (non-empty strings); fee ppm "0" with an address still counts.
    if row.builder_address and row.fee_ppm:
        order.builder_code_params.CopyFrom(
            BuilderCodeParameters(
                builder_address=row.builder_address,
                fee_ppm=_uint32(_parse_int(row.fee_ppm, "feePpm"), "feePpm"),
            )
        )
    key = hashlib.sha256(order_id.SerializeToString()).digest()
    place = OffChainUpdateV1(
        order_place=OrderPlaceV1(
            order=order, placement_status=OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
        )
    )
    messages = [VulcanMessage(key, place.SerializeToString())]
    filled = scaled_uint64(row.total_filled, -row.atomic_resolution, "totalFilled")
    if filled != 0:
        update = OffChainUpdateV1(
            order_update=OrderUpdateV1(order_id=order_id, total_filled_quantums=filled)
        )
        messages.append(VulcanMessage(key, update.SerializeToString()))
    return messages


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
