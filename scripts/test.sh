#!/usr/bin/env bash
# One command: install Bazooka, start every real service the tests need (PostgreSQL, Redis,
# a single Kafka broker and a three-broker Kafka cluster, all on 127.0.0.1), then run ruff,
# mypy (strict) and the whole pytest suite. Services started by this run are stopped at the
# end (set BAZOOKA_KEEP_SERVICES=1 to keep them); services already running are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

started_names() {
  python3 -c 'import json,sys; print(",".join(json.loads(sys.argv[1] or "{}").get("started", [])))' "$1"
}
# A service that cannot start stops the run at once, with services.py's error as the last
# words; what this run had started before it is stopped quietly.
if ! started="$(python3 scripts/services.py start --cluster --json)"; then
  started="$(started_names "$started")"
  if [ -n "$started" ] && [ -z "${BAZOOKA_KEEP_SERVICES:-}" ]; then
    python3 scripts/services.py stop --only "$started" >/dev/null 2>&1 || true
  fi
  exit 1
fi
started="$(started_names "$started")"
cleanup() {
  if [ -n "$started" ] && [ -z "${BAZOOKA_KEEP_SERVICES:-}" ]; then
    python3 scripts/services.py stop --only "$started" || true
  fi
}
trap cleanup EXIT
exports="$(python3 scripts/services.py env --cluster)" || exit
eval "$exports"

echo "== ruff" >&2
.venv/bin/ruff check src tests bench scripts tools
.venv/bin/ruff format --check src tests bench scripts tools
echo "== mypy --strict" >&2
.venv/bin/mypy
echo "== pytest" >&2
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
