#!/usr/bin/env python3
"""Port new upstream Knex migrations into Bazooka, verified against Knex itself.

    eval "$(python3 scripts/services.py env)"     # a PostgreSQL where scratch databases can be made
    python3 scripts/port_migrations.py --from PATH [--only NAME ...] [--check NAME ... | all]

What it does, step by step, and its exit codes: the package ``tools.porting`` (its docstring;
``sql``: the statements and their review; ``knex``: the Node session; ``scratch``: scratch
databases and roles; ``port``: the plan and the verified replay; ``cli``: this command line).
``docs/maintainers.md`` is the runbook. This file only starts it, under the project's .venv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _use_project_venv() -> None:
    """Re-run under the project's .venv when started by another Python (psycopg, bazooka)."""
    try:
        import psycopg  # noqa: F401, PLC0415

        import bazooka  # noqa: F401, PLC0415
    except ImportError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.executable) != venv_python:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606 - same argv
        sys.exit("port_migrations: run scripts/setup.sh first (psycopg and bazooka missing)")


if __name__ == "__main__":
    _use_project_venv()
    sys.path.insert(0, str(ROOT))  # the tools package
    from tools.porting.cli import main

    main()
