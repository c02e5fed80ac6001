from bazooka.vulcan.translate import OrderRow

# The C encoder (_wire.c): the same bytes as wire.python_encode_values, as a plain tuple.
def encode_values(
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
) -> tuple[bytes, bytes, bytes | None]: ...
def sha256(data: bytes, /) -> bytes: ...
def encode_row(row: OrderRow, /) -> tuple[bytes, bytes, bytes | None] | None: ...
def configure(condition_types: dict[str, int], times_in_force: dict[str, int], /) -> None: ...
