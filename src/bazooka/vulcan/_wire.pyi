# The C extension (_wire.c): the same signatures as wire.python_encode_values (a plain tuple
# instead of VulcanMessages) and as wire.RowEncoder.
from bazooka.vulcan.wire import Encoder, RowEncoder

encode_values: Encoder
encode_row: RowEncoder

def configure(
    condition_types: dict[str, int],
    times_in_force: dict[str, int],
    side_buy: int,
    side_sell: int,
    row_fields: tuple[str, ...],
    /,
) -> None: ...
def sha256(data: bytes, /) -> bytes: ...
