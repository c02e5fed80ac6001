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
``docs/maintainers.md`` is the runbook.
"""
