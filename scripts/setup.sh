#!/usr/bin/env bash
# Create .venv and install Bazooka with its development tools (idempotent: reinstalls only
# when pyproject.toml, setup.py or the C encoder changed). Needs python3 >= 3.11 with venv, and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: Python >= 3.11 required ($("$PYTHON" --version 2>&1))" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.bazooka-installed"
want="$(cat pyproject.toml setup.py src/bazooka/vulcan/_wire.c | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing bazooka and its dependencies into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi
# The C encoder is optional to the install (no compiler: the send encodes in Python). Built in
# place by the editable install; rebuilt if it went missing since (git clean), else said.
if ! .venv/bin/python -c 'import bazooka.vulcan._wire' 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --no-deps -e .
fi
.venv/bin/python -c 'import bazooka.vulcan._wire' 2>/dev/null \
  || echo "setup: WARNING: the C encoder (src/bazooka/vulcan/_wire.c) was not built; the" \
    "Vulcan send will encode in Python and take about 1.7 times as long. Is a C compiler" \
    "installed?" >&2
# Bytecode for Bazooka's own modules. pip compiled the dependencies, but an editable install
# leaves src/ to the first import, which writes nothing when PYTHONDONTWRITEBYTECODE is set:
# every run would then compile them again (20-45 ms per process here). Only changed files are
# recompiled.
.venv/bin/python -m compileall -q src >/dev/null
