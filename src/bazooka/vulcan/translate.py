"""Open stateful order rows -> the protocol's values, exactly as the original translates them.

Source of truth: ``indexer/packages/postgres/src/lib/order-translations.ts``,
``protocol-translations.ts`` and ``helpers.ts``, and ``services/bazooka/src/vulcan-helpers.ts``.
The decimals arrive already scaled by PostgreSQL in exact arithmetic (:mod:`.orders`); here the
row's other values are checked and mapped. Where the original would silently send a mangled
value (a fractional or negative quantity, an out-of-range integer, a missing market or expiry),
the row is rejected with a reason instead; the reason for a decimal that does not scale to an
unsigned 64-bit integer is worded by :func:`scaled_uint64` from the raw value.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import NamedTuple, Protocol, TypeVar

from v4_proto.dydxprotocol.indexer.protocol.v1.clob_pb2 import IndexerOrder

QUOTE_CURRENCY_ATOMIC_RESOLUTION = -6
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

SIDE_BUY, SIDE_SELL = int(IndexerOrder.SIDE_BUY), int(IndexerOrder.SIDE_SELL)
TIMES_IN_FORCE = {
    "GTT": int(IndexerOrder.TIME_IN_FORCE_UNSPECIFIED),
    "FOK": int(IndexerOrder.TIME_IN_FORCE_FILL_OR_KILL),
    "IOC": int(IndexerOrder.TIME_IN_FORCE_IOC),
    "POST_ONLY": int(IndexerOrder.TIME_IN_FORCE_POST_ONLY),
}
# The condition type follows the order's type alone (not its flags), as in the original.
_UNSPECIFIED = int(IndexerOrder.CONDITION_TYPE_UNSPECIFIED)
_STOP_LOSS = int(IndexerOrder.CONDITION_TYPE_STOP_LOSS)
_TAKE_PROFIT = int(IndexerOrder.CONDITION_TYPE_TAKE_PROFIT)
CONDITION_TYPES = {
    "LIMIT": _UNSPECIFIED,
    "STOP_LIMIT": _STOP_LOSS,
    "STOP_MARKET": _STOP_LOSS,
    "TAKE_PROFIT": _TAKE_PROFIT,
    "TAKE_PROFIT_MARKET": _TAKE_PROFIT,
    "MARKET": _UNSPECIFIED,
    "TRAILING_STOP": _UNSPECIFIED,
    "TWAP": _UNSPECIFIED,
    "TWAP_SUBORDER": _UNSPECIFIED,
}
# Wide enough for any numeric PostgreSQL stores before the decimal point; Inexact trapped.
_EXACT = Context(prec=200_000, Emax=999_999, Emin=-999_999, traps=[Inexact, InvalidOperation])
_UINT64_DIGITS = len(str(UINT64_MAX)) - 1  # value * 10^e >= 10^20 cannot fit


class OrderRow(NamedTuple):
    """One open stateful order as :data:`.orders` selects it, joined and scaled.

    A tuple: one is built per order streamed, and a tuple is built in one C call. A scaled
    value is the text of an unsigned 64-bit integer, or None with the raw decimal beside it
    (``*_raw``) when it does not scale to one.
    """

    id: str
    owner: str | None  # subaccounts.address (None: subaccount missing)
    subaccount_number: int | None
    client_id: int
    order_flags: int
    clob_pair_id: int
    side: str
    type: str
    time_in_force: str
    reduce_only: bool
    client_metadata: int
    good_til_block_time: int | None  # unix seconds, floored (None: null or infinite)
    good_til_block_time_raw: str | None  # the timestamp when it is infinite
    atomic_resolution: int | None  # perpetual market (None: no market for clobPairId)
    quantum_conversion_exponent: int | None
    builder_address: str | None
    fee_ppm: str | None
    order_router_address: str | None
    quantums: str | None
    size_raw: str | None
    subticks: str | None
    price_raw: str | None
    trigger_subticks: str | None
    trigger_price_raw: str | None
    filled_quantums: str | None
    total_filled_raw: str | None


class OrderFields(NamedTuple):
    """An order's IndexerOrder values, as the protocol encodes them."""

    owner: str
    subaccount_number: int
    client_id: int
    order_flags: int
    clob_pair_id: int
    side: int
    quantums: int
    subticks: int
    good_til_block_time: int
    time_in_force: int
    reduce_only: bool
    client_metadata: int
    condition_type: int
    trigger_subticks: int  # 0 when the order has no trigger price
    builder: tuple[str, int] | None  # (address, fee ppm) when both are set
    router: str  # "" when unset
    filled_quantums: int


class InvalidOrder(ValueError):  # noqa: N818 - a rejected row, reported by id
    """The row cannot be converted without mangling a value; ``str()`` says which."""


_T_co = TypeVar("_T_co", covariant=True)
_T = TypeVar("_T")


class Build(Protocol[_T_co]):
    """What :func:`convert` hands an order's values to, in :class:`OrderFields`' order:
    :class:`OrderFields` itself, or :func:`.wire.encode_values` (no tuple in between)."""

    def __call__(  # noqa: PLR0917 - one parameter per protocol field, positional
        self,
        owner: str,
        subaccount_number: int,
        client_id: int,
        order_flags: int,
        clob_pair_id: int,
        side: int,
        quantums: int,
        subticks: int,
        good_til_block_time: int,
        time_in_force: int,
        reduce_only: bool,
        client_metadata: int,
        condition_type: int,
        trigger_subticks: int,
        builder: tuple[str, int] | None,
        router: str,
        filled_quantums: int,
        /,
    ) -> _T_co: ...


def to_fields(row: OrderRow) -> OrderFields:
    """The row's protocol values, or :class:`InvalidOrder` naming the first problem."""
    return convert(row, OrderFields)


def convert(row: OrderRow, build: Build[_T]) -> _T:
    """``build`` called with the row's protocol values, or :class:`InvalidOrder` naming the
    first problem.

    Every valid row without builder code parameters (nearly all of them) takes one combined
    check; any other row goes through :func:`checked_fields`, which checks one value at a time,
    in order, and words the first problem. A test holds the two to the same result. ``row``
    may be the plain tuple the query returned, in :class:`OrderRow`'s column order: the send
    does not build an :class:`OrderRow` for a row that passes the combined check.
    """
    (
        _id,
        owner,
        number,
        client_id,
        flags,
        clob,
        side,
        order_type,
        tif,
        reduce_only,
        metadata,
        good_til,
        _good_til_raw,
        resolution,
        conversion,
        builder_address,
        fee_ppm,
        router,
        quantums,
        _size_raw,
        subticks,
        _price_raw,
        trigger,
        trigger_raw,
        filled,
        _filled_raw,
    ) = row
    condition = CONDITION_TYPES.get(order_type)
    time_in_force = TIMES_IN_FORCE.get(tif)
    if (
        owner is not None
        and resolution is not None
        and conversion is not None
        and condition is not None
        and time_in_force is not None
        and quantums is not None
        and subticks is not None
        and filled is not None
        and good_til is not None
        and trigger_raw is None
        and not (builder_address and fee_ppm)
        and number is not None
        and 0 <= number <= UINT32_MAX
        and 0 <= client_id <= UINT32_MAX
        and 0 <= flags <= UINT32_MAX
        and 0 <= clob <= UINT32_MAX
        and 0 <= good_til <= UINT32_MAX
        and 0 <= metadata <= UINT32_MAX
    ):
        return build(
            owner,
            number,
            client_id,
            flags,
            clob,
            SIDE_BUY if side == "BUY" else SIDE_SELL,
            int(quantums),
            int(subticks),
            good_til,
            time_in_force,
            reduce_only,
            metadata,
            condition,
            int(trigger) if trigger is not None else 0,
            None,
            router or "",
            int(filled),
        )
    return build(*checked_fields(OrderRow._make(row)))


def checked_fields(row: OrderRow) -> OrderFields:
    """:func:`to_fields`, one value at a time, in the order they are used: a row with several
    problems always reports the same one."""
    owner, number = row.owner, row.subaccount_number
    if owner is None or number is None:
        raise InvalidOrder("its subaccount does not exist")
    resolution, conversion = row.atomic_resolution, row.quantum_conversion_exponent
    if resolution is None or conversion is None:
        raise InvalidOrder(f"no perpetual market has clobPairId {row.clob_pair_id}")
    if row.good_til_block_time is None and row.good_til_block_time_raw is None:
        raise InvalidOrder("goodTilBlockTime is null")
    condition_type = CONDITION_TYPES.get(row.type)
    if condition_type is None:
        raise InvalidOrder(f"order type {row.type!r} has no protocol condition type")
    time_in_force = TIMES_IN_FORCE.get(row.time_in_force)
    if time_in_force is None:
        raise InvalidOrder(f"timeInForce {row.time_in_force!r} is unknown")
    subticks_exponent = resolution - QUOTE_CURRENCY_ATOMIC_RESOLUTION - conversion
    return OrderFields(
        owner=owner,
        subaccount_number=_uint32(number, "subaccountNumber"),
        client_id=_uint32(row.client_id, "clientId"),
        order_flags=_uint32(row.order_flags, "orderFlags"),
        clob_pair_id=_uint32(row.clob_pair_id, "clobPairId"),
        side=SIDE_BUY if row.side == "BUY" else SIDE_SELL,
        quantums=_scaled(row.quantums, row.size_raw, -resolution, "size"),
        subticks=_scaled(row.subticks, row.price_raw, subticks_exponent, "price"),
        good_til_block_time=_good_til(row),
        time_in_force=time_in_force,
        reduce_only=row.reduce_only,
        client_metadata=_uint32(row.client_metadata, "clientMetadata"),
        condition_type=condition_type,
        trigger_subticks=(
            _scaled(row.trigger_subticks, row.trigger_price_raw, subticks_exponent, "triggerPrice")
            if row.trigger_subticks is not None or row.trigger_price_raw is not None
            else 0
        ),
        builder=_builder(row),
        router=row.order_router_address or "",
        filled_quantums=_scaled(
            row.filled_quantums, row.total_filled_raw, -resolution, "totalFilled"
        ),
    )


def _scaled(scaled: str | None, raw: str | None, exponent: int, what: str) -> int:
    """The value PostgreSQL scaled; when it could not, the reason from the raw value."""
    if scaled is not None:
        return int(scaled)
    if raw is None:  # the decimal itself is NULL (a NOT NULL column: a broken database)
        raise InvalidOrder(f"{what} is null")
    return scaled_uint64(Decimal(raw), exponent, what)


def _good_til(row: OrderRow) -> int:
    """Unix seconds, milliseconds dropped (floor), as blockTimeFromIsoString does."""
    if row.good_til_block_time is None:
        raise InvalidOrder(
            f"goodTilBlockTime {row.good_til_block_time_raw} is not an unsigned 32-bit integer"
        )
    return _uint32(row.good_til_block_time, "goodTilBlockTime")


def _builder(row: OrderRow) -> tuple[str, int] | None:
    """Builder code parameters when both are set (fee ppm "0" with an address still counts)."""
    if row.builder_address and row.fee_ppm:
        return row.builder_address, _uint32(_parse_int(row.fee_ppm, "feePpm"), "feePpm")
    return None


def scaled_uint64(value: Decimal, exponent: int, what: str) -> int:
    """``value * 10**exponent`` as an unsigned 64-bit integer, exactly, or :class:`InvalidOrder`.

    PostgreSQL does this arithmetic for every row; this exact version words the reason for a
    value that does not scale to one (and, in the tests, is the oracle of the SQL).
    """
    if not value.is_finite():
        raise InvalidOrder(f"{what} {value} is not an integer")
    if not value:
        return 0  # zero at any power of ten (0E+1000 would otherwise look too large below)
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


def _uint32(value: int, what: str) -> int:
    if not 0 <= value <= UINT32_MAX:
        raise InvalidOrder(f"{what} {value} is not an unsigned 32-bit integer")
    return value


def _parse_int(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidOrder(f"{what} {text!r} is not an integer") from None
