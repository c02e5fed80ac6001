"""Vulcan's messages in the protobuf wire format, written by hand for speed.

Filling the official ``v4-proto`` message objects field by field was most of the send's time.
This module writes the same bytes directly: fields in number order, proto3 defaults (0, false,
"") left out, except where the field has presence (the messages themselves, the
``good_til_block_time`` oneof member, builder code parameters once set). The official classes
stay the oracle: :mod:`.official` encodes with them, :func:`.official.self_check` compares the
two before any send, and the tests compare them over every order they use and over generated
ones.

It runs once per order, a million times in a large send: one flat function, small numbers
(lengths, enums, flags) taken from a table instead of encoded each time.

The send uses the same encoder written in C (``_wire.c``, built by the install) when it is
there: :data:`encode_values` is that one, or :func:`python_encode_values` when the extension
could not be built (:data:`ENCODER` says which). The tests hold the two to the same bytes. The
C extension also has :data:`encode_row`, :func:`.translate.convert`'s fast path and the encoder
in one call, which answers None for any row it is not certain of (convert then decides).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import NamedTuple

from bazooka.vulcan.translate import (
    CONDITION_TYPES,
    SIDE_BUY,
    SIDE_SELL,
    TIMES_IN_FORCE,
    Build,
    OrderFields,
    OrderRow,
)

ORDER_PLACEMENT_STATUS_OPENED = 2  # OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED (self-checked)

_FIXED32 = struct.Struct("<I").pack
_MORE = 0x80  # a varint byte with this bit set is followed by another
_SEVEN_BITS = 0x7F
_TABLE_LIMIT = 1 << 14  # varints of the numbers below this one are precomputed (1 or 2 bytes)
_OPENED = b"\x10" + bytes((ORDER_PLACEMENT_STATUS_OPENED,))
_sha256 = hashlib.sha256


class VulcanMessages(NamedTuple):
    """An order's records for ``to-vulcan``: one key (sha256 of the serialized order id), its
    place message, and its fill update when ``totalFilled`` is not zero."""

    key: bytes
    place: bytes
    update: bytes | None


def _varint_by_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= _MORE:
        out.append((value & _SEVEN_BITS) | _MORE)
        value >>= 7
    out.append(value)
    return bytes(out)


# Varints of 0..2^14-1, and the two bytes (continuation bit on both) of a 14-bit chunk that
# another chunk follows: a large varint is assembled 14 bits at a time.
_SMALL = tuple(_varint_by_bytes(value) for value in range(_TABLE_LIMIT))
_CHUNK = tuple(
    bytes((value & _SEVEN_BITS | _MORE, value >> 7 | _MORE)) for value in range(_TABLE_LIMIT)
)
_CHUNK_MASK = _TABLE_LIMIT - 1
_TWO_CHUNKS, _THREE_CHUNKS, _FOUR_CHUNKS = 1 << 28, 1 << 42, 1 << 56


def _encode_varint(value: int) -> bytes:
    """Varint of a value of 2^14 or more (up to 2^64 - 1)."""
    low = _CHUNK[value & _CHUNK_MASK]
    if value < _TWO_CHUNKS:
        return low + _SMALL[value >> 14]
    if value < _THREE_CHUNKS:
        return low + _CHUNK[value >> 14 & _CHUNK_MASK] + _SMALL[value >> 28]
    middle = _CHUNK[value >> 14 & _CHUNK_MASK] + _CHUNK[value >> 28 & _CHUNK_MASK]
    if value < _FOUR_CHUNKS:
        return low + middle + _SMALL[value >> 42]
    return low + middle + _CHUNK[value >> 42 & _CHUNK_MASK] + _SMALL[value >> 56]


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    return _SMALL[value] if value < _TABLE_LIMIT else _encode_varint(value)


def encode(fields: OrderFields) -> VulcanMessages:
    """The order's key, ``OffChainUpdateV1{orderPlace{order, OPENED}}`` and, when filled,
    ``OffChainUpdateV1{orderUpdate{orderId, totalFilledQuantums}}``, by :data:`encode_values`."""
    return VulcanMessages._make(encode_values(*fields))


def python_encode_values(  # noqa: C901, PLR0912, PLR0917 - flat: the hot path
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
) -> VulcanMessages:
    """:func:`encode` of an :class:`OrderFields` given field by field: the send hands it the
    values straight from :func:`.translate.convert`, without building the tuple. In Python;
    ``_wire.encode_values`` is the same in C."""
    small, limit, big = _SMALL, _TABLE_LIMIT, _encode_varint
    # IndexerOrderId{subaccount_id{owner, number}, client_id, order_flags, clob_pair_id}
    address = owner.encode()
    subaccount = b"\x0a" + varint(len(address)) + address if address else b""
    if subaccount_number:
        subaccount += b"\x10" + (
            small[subaccount_number] if subaccount_number < limit else big(subaccount_number)
        )
    ident = [b"\x0a", small[len(subaccount)], subaccount]
    if client_id:
        ident += (b"\x15", _FIXED32(client_id))
    if order_flags:
        ident += (b"\x18", small[order_flags] if order_flags < limit else big(order_flags))
    if clob_pair_id:
        ident += (b"\x20", small[clob_pair_id] if clob_pair_id < limit else big(clob_pair_id))
    order_id = b"".join(ident)
    # IndexerOrder, fields 1 to 13
    parts = [b"\x0a", small[len(order_id)], order_id]
    if side:
        parts += (b"\x10", small[side])
    if quantums:
        parts += (b"\x18", small[quantums] if quantums < limit else big(quantums))
    if subticks:
        parts += (b"\x20", small[subticks] if subticks < limit else big(subticks))
    parts += (b"\x35", _FIXED32(good_til_block_time))  # a oneof member: always written
    if time_in_force:
        parts += (b"\x38", small[time_in_force])
    if reduce_only:
        parts.append(b"\x40\x01")
    if client_metadata:
        parts += (
            b"\x48",
            small[client_metadata] if client_metadata < limit else big(client_metadata),
        )
    if condition_type:
        parts += (b"\x50", small[condition_type])
    if trigger_subticks:
        parts += (
            b"\x58",
            small[trigger_subticks] if trigger_subticks < limit else big(trigger_subticks),
        )
    if builder is not None:
        params = _builder_code_parameters(*builder)
        parts += (b"\x62", varint(len(params)), params)
    if router:
        encoded = router.encode()
        parts += (b"\x6a", varint(len(encoded)), encoded)
    order = b"".join(parts)
    place = b"\x0a" + varint(len(order)) + order + _OPENED
    update = None
    if filled_quantums:
        body = b"\x0a" + small[len(order_id)] + order_id + b"\x10" + varint(filled_quantums)
        update = b"\x1a" + varint(len(body)) + body
    return VulcanMessages(_sha256(order_id).digest(), b"\x0a" + varint(len(place)) + place, update)


def _builder_code_parameters(address: str, fee_ppm: int) -> bytes:
    encoded = address.encode()
    return (b"\x0a" + varint(len(encoded)) + encoded if encoded else b"") + (
        b"\x10" + varint(fee_ppm) if fee_ppm else b""
    )


# (key, place, update or None) from an order's values, as python_encode_values takes them.
Encoder = Build[tuple[bytes, bytes, bytes | None]]

# An order row's messages when certain of them, else None: then translate.convert decides.
RowEncoder = Callable[[OrderRow], tuple[bytes, bytes, bytes | None] | None]


def python_encode_row(row: OrderRow) -> None:
    """Without the C encoder there is no fast path: every row goes through
    :func:`.translate.convert`."""


try:
    from bazooka.vulcan import _wire
except ImportError:  # not built (no C compiler at install): the send encodes in Python
    _wire = None  # type: ignore[assignment]


class Native(NamedTuple):
    """The C encoder's two entry points, or why the send does without them."""

    encode_values: Encoder | None
    encode_row: RowEncoder | None
    refused: str | None = None  # why a built C encoder is not used


def native(row_fields: tuple[str, ...] = OrderRow._fields) -> Native:
    """The C encoder configured with translate's values for rows of ``row_fields``; none when
    it was not built (no C compiler at install) or was built for another row layout (its
    ``encode_row`` reads the query's tuple by position: it must never read a column for
    another)."""
    if _wire is None:
        return Native(None, None)
    try:
        _wire.configure(CONDITION_TYPES, TIMES_IN_FORCE, SIDE_BUY, SIDE_SELL, row_fields)
    except ValueError as exc:
        return Native(None, None, f"{exc}: the send encodes in Python (rebuild Bazooka)")
    return Native(_wire.encode_values, _wire.encode_row)


native_encode_values, native_encode_row, NATIVE_REFUSED = native()
encode_values: Encoder = (
    python_encode_values if native_encode_values is None else native_encode_values
)
encode_row: RowEncoder = python_encode_row if native_encode_row is None else native_encode_row
ENCODER = "Python" if native_encode_values is None else "C"
