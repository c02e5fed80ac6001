"""The migrations shipped with Bazooka: SQL files named after the original Knex migrations.

Each migration is ``<timestamp>_<name>.up.sql`` plus ``.down.sql`` in the ``migrations``
package directory. Its Knex name is the stem plus ``.js`` — exactly what the original records
in ``knex_migrations`` (including the two historical ``*.ts.js`` names). A migration opts out of
a transaction, like Knex's ``export const config = { transaction: false }``, with the line
``-- bazooka:no-transaction`` at the top of both files.

Files are read when first needed, not when listed: a ``migrate`` with nothing pending (the usual
deploy) reads no SQL, and a rollback reads the downs of its batch (and only the first line of
their ups, for the marker).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache, cached_property
from importlib import resources
from pathlib import Path

from bazooka.errors import MigrationError

NO_TRANSACTION_MARKER = "-- bazooka:no-transaction"
_MARKER_LINE = NO_TRANSACTION_MARKER.encode()
_BOM = "\ufeff".encode()


class Direction(StrEnum):
    """Which half of a migration runs."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Migration:
    """One migration: its Knex name and its two SQL files."""

    name: str
    up_file: Path
    down_file: Path

    def sql(self, direction: Direction) -> str:
        """The SQL of one direction."""
        match direction:
            case Direction.UP:
                return self.up_sql
            case Direction.DOWN:
                return self.down_sql

    @cached_property
    def up_sql(self) -> str:
        """The ``up`` SQL (read on first use)."""
        return self.up_file.read_text(encoding="utf-8")

    @cached_property
    def down_sql(self) -> str:
        """The ``down`` SQL (read on first use)."""
        return self.down_file.read_text(encoding="utf-8")

    @cached_property
    def transaction(self) -> bool:
        """Whether it runs in a transaction (no ``-- bazooka:no-transaction`` line)."""
        up_flag, down_flag = _no_transaction(self.up_file), _no_transaction(self.down_file)
        if up_flag != down_flag:
            raise MigrationError(
                f"Migration {self.name}: '{NO_TRANSACTION_MARKER}' must be on both files or neither"
            )
        return not up_flag


def knex_name(stem: str) -> str:
    """The name Knex records for a migration file stem."""
    return f"{stem}.js"


def load_from(directory: Path) -> tuple[Migration, ...]:
    """List every migration in ``directory``, ordered as Knex orders them (by file name)."""
    ups = {p.name.removesuffix(".up.sql"): p for p in directory.glob("*.up.sql")}
    downs = {p.name.removesuffix(".down.sql"): p for p in directory.glob("*.down.sql")}
    if set(ups) != set(downs):
        lonely = sorted(set(ups) ^ set(downs))
        raise MigrationError(f"Migrations without both .up.sql and .down.sql: {', '.join(lonely)}")
    migrations = [Migration(knex_name(stem), path, downs[stem]) for stem, path in ups.items()]
    return tuple(sorted(migrations, key=lambda m: m.name))


@cache
def bundled() -> tuple[Migration, ...]:
    """The migrations shipped in this package (listed once per process)."""
    directory = resources.files("bazooka.postgres") / "migrations"
    return load_from(Path(str(directory)))


def _no_transaction(path: Path) -> bool:
    with path.open("rb") as file:  # only the first line; bytes: no text decoder to set up
        first_line = file.readline()
    return first_line.removeprefix(_BOM).strip() == _MARKER_LINE
