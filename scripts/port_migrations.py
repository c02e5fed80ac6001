#!/usr/bin/env python3
"""Port new upstream Knex migrations into Bazooka, verified against Knex itself.

    eval "$(python3 scripts/services.py env)"     # a PostgreSQL where scratch databases can be made
    python3 scripts/port_migrations.py --from PATH [--only NAME ...] [--check NAME ... | all]

PATH is an upstream migrations directory: the folder holding ``migration_files/`` and the
``helpers.ts`` some migrations import (``indexer/packages/postgres/src/db/migrations``). For
each upstream migration Bazooka lacks, in name order, the tool:

1. runs it with Knex itself (``scripts/knex``: knex 0.21.21, pg 8.7.3 and TypeScript 4.7.4,
   pinned by ``package-lock.json`` and installed here with ``npm ci``) on a scratch database
   already at the previous step: ``up``, ``down``, ``up`` again, capturing every statement
   Knex sends, as PostgreSQL receives it, with bindings inlined;
2. flags it for a person, writing nothing, when it errors, reads data, is not deterministic
   or does not round-trip (see :func:`review`);
3. writes ``<knex name>.up.sql`` / ``.down.sql`` to a staging folder, replays them through
   Bazooka's own migrator on a second scratch database at the same step, and requires the
   schema after each ``up`` and ``down`` to equal Knex's (``tools/schema_dump.py``'s
   fingerprint), and everything else too (rows, sequence positions, comments, privileges,
   owners: ``database_state``); only then moves the files into the migrations folder;
4. after the last one, regenerates the snapshots, the schema model and the baseline
   (``tools/update_snapshots.py``), the baseline proven to leave what the replay leaves.

A role a migration grants to that the scratch server lacks is created for the run (NOLOGIN)
and dropped at the end (:class:`ScratchRoles`); statements on the server or the database as a
whole are flagged ``cluster-wide``: no dump of the database, hence no baseline, carries them.

``--check NAME`` (or ``--check all``) verifies migrations Bazooka already has, e.g. a port
written by hand for a flagged migration, the same way, and writes nothing.

Exit codes: 0 every requested migration ported (or checked) and verified; 1 a port could not
be verified (the message names the migration and the first difference) or the tool failed;
2 invalid arguments; 3 a migration needs a person (the review list says which and why).
``docs/maintainers.md`` is the runbook. The code is the package ``tools.porting`` (``sql``: the
statements and their review; ``knex``: the Node session; ``scratch``: scratch databases and
roles; ``port``: the plan and the verified replay; ``cli``: this command line).
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
