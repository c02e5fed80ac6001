"""The migrations shipped with Bazooka: SQL files named after the original Knex migrations.

Each migration is ``<timestamp>_<name>.up.sql`` plus ``.down.sql`` in the ``migrations``
package directory. Its Knex name is the stem plus ``.js`` — exactly what the original records
in ``knex_migrations`` (including the two historical ``*.ts.js`` names). A migration opts out of
a transaction, like Knex's ``export const config = { transaction: false }``, with the line
``-- bazooka:no-transaction`` at the top of both files.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from bazooka.errors import MigrationError

NO_TRANSACTION_MARKER = "-- bazooka:no-transaction"


@dataclass(frozen=True)
class Migration:
    """One migration: its Knex name, SQL in both directions, and its transaction policy."""

    name: str
    up_sql: str
    down_sql: str
    transaction: bool

    def sql(self, direction: str) -> str:
        """The SQL for ``"up"`` or ``"down"``."""
        return self.up_sql if direction == "up" else self.down_sql


def knex_name(stem: str) -> str:
    """The name Knex records for a migration file stem."""
    return f"{stem}.js"


def load_from(directory: Path) -> tuple[Migration, ...]:
    """Read every migration in ``directory``, ordered as Knex orders them (by file name)."""
    ups = {p.name.removesuffix(".up.sql"): p for p in directory.glob("*.up.sql")}
    downs = {p.name.removesuffix(".down.sql"): p for p in directory.glob("*.down.sql")}
    if set(ups) != set(downs):
        lonely = sorted(set(ups) ^ set(downs))
        raise MigrationError(f"Migrations without both .up.sql and .down.sql: {', '.join(lonely)}")
    migrations = []
    for stem, up_path in ups.items():
        up_sql = up_path.read_text(encoding="utf-8")
        down_sql = downs[stem].read_text(encoding="utf-8")
        up_flag, down_flag = _no_transaction(up_sql), _no_transaction(down_sql)
        if up_flag != down_flag:
            raise MigrationError(
                f"Migration {stem}: '{NO_TRANSACTION_MARKER}' must be on both files or neither"
            )
        migrations.append(Migration(knex_name(stem), up_sql, down_sql, not up_flag))
    return tuple(sorted(migrations, key=lambda m: m.name))


@cache
def bundled() -> tuple[Migration, ...]:
    """The migrations shipped in this package (read once per process)."""
    directory = resources.files("bazooka.postgres") / "migrations"
    return load_from(Path(str(directory)))


def _no_transaction(sql: str) -> bool:
    first_line = sql.lstrip("\ufeff").split("\n", 1)[0].strip()
    return first_line == NO_TRANSACTION_MARKER
