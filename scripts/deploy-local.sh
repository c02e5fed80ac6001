#!/usr/bin/env bash
# One command: install Bazooka, start real PostgreSQL, Redis and a Kafka broker on 127.0.0.1,
# and run a real deployment against them (migrate + create the Kafka topics), then show the
# resulting state. Safe to run again: the second run has nothing to do and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Stop here if a service cannot start, with services.py's error as the last words: inside
# `eval "$(...)"` its exit status would be lost, and the run below would then migrate
# whatever answers on the port.
exports="$(python3 scripts/services.py start)" || exit
eval "$exports"
echo "== bazooka run --migrate --create-kafka-topics" >&2
.venv/bin/bazooka run --migrate --create-kafka-topics
echo "== bazooka status" >&2
.venv/bin/bazooka status
cat >&2 <<MSG

The services keep running (stop them with: python3 scripts/services.py stop).
To use bazooka against them in your shell:  eval "\$(python3 scripts/services.py env)"
MSG
