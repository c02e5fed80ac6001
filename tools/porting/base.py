"""What the porting tool's modules share: the folders it reads and writes, its exit codes and
its errors."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KNEX_DIR = ROOT / "scripts" / "knex"


BUNDLED = ROOT / "src" / "bazooka" / "postgres" / "migrations"


SNAPSHOTS = ROOT / "tests" / "snapshots"


DATA = ROOT / "src" / "bazooka" / "postgres" / "data"


RUNBOOK = "docs/maintainers.md"


REPLY_PREFIX = "\x1eBAZOOKA-PORT "


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REVIEW = 0, 1, 2, 3


class UsageError(Exception):
    """Invalid arguments or inputs (exit 2)."""


class ToolError(Exception):
    """The tool itself could not run (Node, npm, PostgreSQL, ...) (exit 1)."""


class NotVerified(Exception):  # noqa: N818 - what the maintainer reads
    """Bazooka's replay of a port differs from Knex, or cannot run (exit 1)."""

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"{name}: {detail}")
        self.name = name
        self.detail = detail
