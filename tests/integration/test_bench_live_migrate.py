"""bench/bench_live_migrate.py's data generator on real PostgreSQL, at a tiny scale: the schema
is exactly step 101's, the tables hold the sizes asked for, and the rows reference each other
as the foreign keys (not checked while seeding) require."""

from __future__ import annotations

from bench.bench_live_migrate import STEP, Sizes, populate

from bazooka.postgres.connection import connect
from bazooka.postgres.migrations_source import bundled
from bazooka.postgres.verify import verify
from bazooka.settings import Settings

# (child table, its column, parent table, parent column) of the seeded rows' foreign keys.
REFERENCES = [
    ("fills", '"orderId"', "orders", "id"),
    ("fills", '"subaccountId"', "subaccounts", "id"),
    ("fills", '"eventId"', "tendermint_events", "id"),
    ("fills", '"createdAtHeight"', "blocks", '"blockHeight"'),
    ("orders", '"subaccountId"', "subaccounts", "id"),
    ("oracle_prices", '"marketId"', "markets", "id"),
    ("oracle_prices", '"effectiveAtHeight"', "blocks", '"blockHeight"'),
    ("tendermint_events", '"blockHeight"', "blocks", '"blockHeight"'),
    ("perpetual_markets", '"marketId"', "markets", "id"),
    ("perpetual_positions", '"subaccountId"', "subaccounts", "id"),
    ("perpetual_positions", '"perpetualId"', "perpetual_markets", "id"),
    ("perpetual_positions", '"openEventId"', "tendermint_events", "id"),
]


def test_the_generator_makes_step_101_with_the_sizes_asked(db_settings: Settings) -> None:
    sizes = Sizes.at(0.0005)
    with connect(db_settings) as conn:
        populate(conn, sizes)

        report = verify(conn, bundled())
        assert report.step == STEP
        assert report.ok, report.headline()
        pending = len(bundled()) - STEP
        assert pending == 12

        def count(sql: str) -> int:
            row = conn.execute(sql.encode()).fetchone()
            assert row is not None
            return int(row[0])

        assert {
            t: count(f"SELECT count(*) FROM {t}")
            for t in ("orders", "fills", "oracle_prices", "subaccounts", "perpetual_markets")
        } == {
            "orders": sizes.orders,
            "fills": sizes.fills,
            "oracle_prices": sizes.oracle_prices,
            "subaccounts": sizes.subaccounts,
            "perpetual_markets": sizes.markets,
        }
        for child, column, parent, key in REFERENCES:
            orphans = count(
                f"SELECT count(*) FROM {child} c WHERE c.{column} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {parent} p WHERE p.{key} = c.{column})"
            )
            assert orphans == 0, f"{child}.{column}: {orphans} row(s) without their {parent}"
        # A fill belongs to its order's subaccount and market.
        assert not count(
            'SELECT count(*) FROM fills f JOIN orders o ON o.id = f."orderId" '
            'WHERE o."subaccountId" <> f."subaccountId" OR o."clobPairId" <> f."clobPairId"'
        )
        # Several subaccounts and markets in use, and the tables analysed.
        assert count('SELECT count(DISTINCT "subaccountId") FROM orders') > sizes.subaccounts // 4
        assert count('SELECT count(DISTINCT "clobPairId") FROM fills') == sizes.markets
        assert not count(
            "SELECT count(*) FROM pg_stat_user_tables WHERE relname IN "
            "('orders', 'fills', 'oracle_prices') AND last_analyze IS NULL"
        )
