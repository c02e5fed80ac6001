"""The orders query's exact arithmetic, on real PostgreSQL, against Python's exact decimals.

PostgreSQL scales sizes and prices by powers of ten in ``numeric``; Python's
:func:`~bazooka.vulcan.translate.scaled_uint64` is the oracle (and words the rejections). Then
every rejection rule, row by row through the real query: the id and the reason come out as the
rule says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bazooka.postgres import migrator
from bazooka.postgres.connection import Connection, connect
from bazooka.postgres.migrations_source import bundled
from bazooka.vulcan.orders import (
    MAX_SQL_EXPONENT,
    orders_query,
    power_of_ten,
    stream_open_stateful,
    uint64_text,
)
from bazooka.vulcan.translate import InvalidOrder, OrderFields, OrderRow, scaled_uint64, to_fields
from tests.helpers import make_settings, scratch_database, service_env
from tests.vulcan_data import Order, insert_markets, insert_orders

SCALED = (
    f"SELECT {uint64_text('t.v')} "
    f"FROM (SELECT %(value)s::numeric * {power_of_ten('%(exponent)s::int')} AS v) t"
)


@pytest.fixture(scope="module")
def conn() -> Iterator[Connection]:
    """A migrated database with the test markets; each test's rows are rolled back."""
    with scratch_database(service_env()) as env, connect(make_settings(env)) as connection:
        migrator.migrate(connection, bundled())
        insert_markets(connection)
        yield connection


DECIMALS = st.one_of(
    st.integers(0, 30).flatmap(
        lambda places: st.decimals(
            min_value=-(10**25), max_value=10**25, places=places, allow_nan=False
        )
    ),
    st.decimals(min_value=-(10**30), max_value=10**30, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=2**65).map(Decimal),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal(0)]),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=DECIMALS, exponent=st.integers(min_value=-70, max_value=70))
def test_postgresql_scales_exactly_as_the_python_oracle(
    conn: Connection, value: Decimal, exponent: int
) -> None:
    row = conn.execute(SCALED, {"value": value, "exponent": exponent}).fetchone()
    assert row is not None
    scaled = row[0]
    try:
        expected: int | None = scaled_uint64(value, exponent, "size")
    except InvalidOrder:
        expected = None
    if scaled is not None:
        assert int(scaled) == expected, (value, exponent)
    elif abs(exponent) <= MAX_SQL_EXPONENT:
        assert expected is None, (value, exponent)  # PostgreSQL rejected what Python accepts


BASE = Order("dydx1sqlrules", 0, 2, 0, 64, size="0.0025", price="65000.5")


def _plan(conn: Connection) -> str:
    rows = conn.execute(f"EXPLAIN {orders_query(0, 2)}").fetchall()
    return "\n".join(str(row[0]) for row in rows)


def test_the_orders_query_runs_without_parallel_workers(conn: Connection) -> None:
    """Parallel workers would only pass the rows through shared memory to the share's backend:
    the stream turns them off, for its transaction only."""
    conn.execute("SET max_parallel_workers_per_gather = 3")  # the session's own value
    try:
        with conn.transaction():  # committed: a setting that is not LOCAL would outlive it
            for setting in (  # make a parallel plan the cheapest, as on a large table
                "parallel_setup_cost = 0",
                "parallel_tuple_cost = 0",
                "min_parallel_table_scan_size = 0",
            ):
                conn.execute(f"SET LOCAL {setting}")
            assert "Gather" in _plan(conn)  # the control: parallel when allowed
            for _batch in stream_open_stateful(conn, 10):
                pass
            assert "Gather" not in _plan(conn)
        assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone() == ("3",)
    finally:
        conn.execute("RESET max_parallel_workers_per_gather")


def convert(conn: Connection, order: Order) -> OrderFields:
    """Insert ``order`` alone, select it through the real query, convert it; roll back."""
    with conn.transaction(force_rollback=True):
        conn.execute("DELETE FROM orders")
        insert_orders(conn, [order])
        ((selected,),) = list(stream_open_stateful(conn, 10))
        row = OrderRow._make(selected)
        assert row.id == order.id
        return to_fields(row)


def test_a_valid_order_converts_with_every_value_scaled(conn: Connection) -> None:
    order = replace(BASE, trigger_price="65100.25", total_filled="0.001")
    fields = convert(conn, order)
    # clobPairId 0: atomicResolution -10, quantumConversionExponent -9.
    assert fields.quantums == 25_000_000  # 0.0025 * 10^10
    assert fields.subticks == 6_500_050_000  # 65000.5 * 10^(-10+6+9)
    assert fields.trigger_subticks == 6_510_025_000
    assert fields.filled_quantums == 10_000_000
    assert fields.good_til_block_time == 1_893_456_000


@pytest.mark.parametrize(
    ("moment", "seconds"),
    [
        ("2023-01-22T00:00:00.999Z", 1_674_345_600),  # milliseconds dropped
        ("2106-02-07T06:28:15Z", 2**32 - 1),
    ],
)
def test_good_til_block_time_is_floored_unix_seconds(
    conn: Connection, moment: str, seconds: int
) -> None:
    assert convert(conn, replace(BASE, good_til_block_time=moment)).good_til_block_time == seconds


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": "0.00000000001"}, "size 1E-11 * 10^10 is not an integer"),
        ({"size": "-1"}, "size -1 * 10^10 = -10000000000 is not an unsigned 64-bit integer"),
        ({"size": "2000000000"}, "is not an unsigned 64-bit integer"),
        ({"size": "NaN"}, "size NaN is not an integer"),
        ({"price": "65000.0000000001"}, "price 65000.0000000001 * 10^5 is not an integer"),
        ({"trigger_price": "1.000000000000001"}, "triggerPrice"),
        ({"total_filled": "0.00000000005"}, "totalFilled"),
        ({"clob_pair_id": 99}, "no perpetual market has clobPairId 99"),
        ({"good_til_block_time": None, "good_til_block": 5}, "goodTilBlockTime is null"),
        ({"good_til_block_time": "infinity"}, "goodTilBlockTime infinity is not an unsigned"),
        ({"good_til_block_time": "1969-12-31T23:59:59.5Z"}, "goodTilBlockTime -1 is not an"),
        ({"type": "LIQUIDATED"}, "order type 'LIQUIDATED' has no protocol condition type"),
        ({"client_id": 2**32}, "clientId 4294967296 is not an unsigned 32-bit integer"),
        ({"client_metadata": -1}, "clientMetadata -1 is not an unsigned 32-bit integer"),
        ({"fee_ppm": "1.5", "builder_address": "dydx1b"}, "feePpm '1.5' is not an integer"),
    ],
)
def test_each_rule_rejects_its_row_through_the_real_query(
    conn: Connection, change: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidOrder) as err:
        convert(conn, replace(BASE, **change))  # type: ignore[arg-type]
    assert reason in str(err.value)


def test_an_absurd_resolution_is_decided_in_python_not_a_failed_query(conn: Connection) -> None:
    with conn.transaction(force_rollback=True):
        conn.execute('UPDATE perpetual_markets SET "atomicResolution" = -1000 WHERE id = 0')
        with pytest.raises(InvalidOrder, match=r"size 0.0025 \* 10\^1000 is not an"):
            convert(conn, BASE)
