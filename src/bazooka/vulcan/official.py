"""Vulcan's messages built with the official ``v4-proto`` classes: the oracle of :mod:`.wire`.

:func:`self_check` runs before every send: the hand-written encoder must produce, to the byte,
what the official classes produce for orders exercising every field, and so must the C fast
path (:data:`.wire.encode_row`) for the same orders as query rows; on a mismatch (a changed
proto, say) nothing is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from v4_proto.dydxprotocol.indexer.off_chain_updates.off_chain_updates_pb2 import (
    OffChainUpdateV1,
    OrderPlaceV1,
)

from bazooka.errors import VulcanSendError
from bazooka.vulcan import wire
from bazooka.vulcan.translate import (
    CONDITION_TYPES,
    SIDE_BUY,
    TIMES_IN_FORCE,
    OrderFields,
    OrderRow,
    to_fields,
)

# Orders that between them set every field, and leave every optional one at its default.
SAMPLES = (
    OrderFields(
        owner="dydx199tqg4wdlnu4qjlxchpd7seg454937hjrknju4",
        subaccount_number=128,
        client_id=4_294_967_295,
        order_flags=160,
        clob_pair_id=300,
        side=2,
        quantums=18_446_744_073_709_551_615,
        subticks=6_500_050_000,
        good_til_block_time=1_893_456_000,
        time_in_force=3,
        reduce_only=True,
        client_metadata=4_294_967_295,
        condition_type=2,
        trigger_subticks=3_100_250_000,
        builder=("dydx1builder", 250),
        router="dydx1router",
        filled_quantums=1_234_000_000,
    ),
    OrderFields(
        owner="dydx1x",
        subaccount_number=0,
        client_id=0,
        order_flags=64,
        clob_pair_id=0,
        side=1,
        quantums=0,
        subticks=0,
        good_til_block_time=0,
        time_in_force=0,
        reduce_only=False,
        client_metadata=0,
        condition_type=0,
        trigger_subticks=0,
        builder=("", 0),
        router="",
        filled_quantums=0,
    ),
)


def encode(fields: OrderFields) -> wire.VulcanMessages:
    """The same messages as :func:`.wire.encode`, through the official classes."""
    place = OffChainUpdateV1()
    place.order_place.placement_status = OrderPlaceV1.ORDER_PLACEMENT_STATUS_OPENED
    order = place.order_place.order
    order_id = order.order_id
    order_id.subaccount_id.owner = fields.owner
    order_id.subaccount_id.number = fields.subaccount_number
    order_id.client_id = fields.client_id
    order_id.order_flags = fields.order_flags
    order_id.clob_pair_id = fields.clob_pair_id
    order.side = fields.side
    order.quantums = fields.quantums
    order.subticks = fields.subticks
    order.good_til_block_time = fields.good_til_block_time
    order.time_in_force = fields.time_in_force
    order.reduce_only = fields.reduce_only
    order.client_metadata = fields.client_metadata
    order.condition_type = fields.condition_type
    order.conditional_order_trigger_subticks = fields.trigger_subticks
    if fields.builder is not None:
        params = order.builder_code_params
        params.builder_address, params.fee_ppm = fields.builder
        params.SetInParent()  # present even when both fields are defaults, as the original
    order.order_router_address = fields.router
    serialized_id = order_id.SerializeToString()
    update = None
    if fields.filled_quantums:
        message = OffChainUpdateV1()
        message.order_update.order_id.MergeFromString(serialized_id)
        message.order_update.total_filled_quantums = fields.filled_quantums
        update = message.SerializeToString()
    return wire.VulcanMessages(
        hashlib.sha256(serialized_id).digest(), place.SerializeToString(), update
    )


def row_of(fields: OrderFields) -> OrderRow:
    """A query row that :func:`.translate.to_fields` turns into ``fields`` (builder code
    parameters only when both are set, as a row can say)."""
    builder = fields.builder if fields.builder and fields.builder[0] else None
    return OrderRow(
        id="00000000-0000-4000-8000-000000000000",
        owner=fields.owner,
        subaccount_number=fields.subaccount_number,
        client_id=fields.client_id,
        order_flags=fields.order_flags,
        clob_pair_id=fields.clob_pair_id,
        side="BUY" if fields.side == SIDE_BUY else "SELL",
        type=next(k for k, v in CONDITION_TYPES.items() if v == fields.condition_type),
        time_in_force=next(k for k, v in TIMES_IN_FORCE.items() if v == fields.time_in_force),
        reduce_only=fields.reduce_only,
        client_metadata=fields.client_metadata,
        good_til_block_time=fields.good_til_block_time,
        good_til_block_time_raw=None,
        atomic_resolution=-9,
        quantum_conversion_exponent=-8,
        builder_address=builder[0] if builder else None,
        fee_ppm=str(builder[1]) if builder else None,
        order_router_address=fields.router or None,
        quantums=str(fields.quantums),
        size_raw=None,
        subticks=str(fields.subticks),
        price_raw=None,
        trigger_subticks=str(fields.trigger_subticks) if fields.trigger_subticks else None,
        trigger_price_raw=None,
        filled_quantums=str(fields.filled_quantums),
        total_filled_raw=None,
    )


def self_check(
    encoder: Callable[[OrderFields], wire.VulcanMessages] = wire.encode,
    row_encoder: wire.RowEncoder = wire.encode_row,
) -> None:
    """Refuse to send when the hand-written ``encoder``, or the C fast path ``row_encoder`` on
    the same orders as query rows, and the official classes disagree. (A row the fast path
    leaves to ``convert`` is not a disagreement: ``encoder`` is checked for it.)"""
    for sample in SAMPLES:
        row = row_of(sample)
        checks: list[tuple[str, object, wire.VulcanMessages, wire.VulcanMessages]] = [
            ("message encoder", sample, encoder(sample), encode(sample))
        ]
        fast = row_encoder(row)
        if fast is not None:
            checks.append(
                ("C fast path", row, wire.VulcanMessages._make(fast), encode(to_fields(row)))
            )
        for what, given, ours, theirs in checks:
            if ours != theirs:
                raise VulcanSendError(
                    f"The {what} disagrees with the official v4-proto classes (a changed "
                    f"proto?): for {given} it wrote {ours} where they write {theirs}. Nothing "
                    "was sent."
                )
