"""Maintainers' tools: not shipped (neither in the wheel nor in the Lambda zip), imported by
the tests, ``scripts/`` and ``bench/`` alike, so that nothing outside ``tests/`` imports
``tests``.

* :mod:`tools.schema_dump`: normalised schema dumps, fingerprints and the baseline's text;
* :mod:`tools.update_snapshots`: regenerates the snapshots and the shipped schema data
  (``python -m tools.update_snapshots``);
* :mod:`tools.check_server_version`: the shipped model against another PostgreSQL version;
* :mod:`tools.seeding`: the markets and open stateful orders the tests, the benchmarks and
  ``scripts/seed_orders.py`` insert;
* :mod:`tools.kafka_leaders`: which broker leads the most managed partitions;
* :mod:`tools.porting`: ``scripts/port_migrations.py``, in modules;
* :mod:`tools.services`: ``scripts/services.py``, in modules (standard library only).

Run a tool with ``python -m tools.NAME`` from the checkout's root; ``scripts/*.py`` and
``bench/*.py``, run as files, put the root on ``sys.path`` first.
"""
