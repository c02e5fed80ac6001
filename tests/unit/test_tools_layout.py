"""The maintainers' tools live in ``tools/``: nothing outside ``tests/`` imports ``tests``, and
the services' code does nothing when imported (it reads the environment when asked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORTS_TESTS = re.compile(r"^\s*(from tests[. ]|import tests\b)", re.MULTILINE)


def test_nothing_outside_tests_imports_tests() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for top in ("src", "scripts", "bench", "tools")
        for path in sorted((ROOT / top).rglob("*.py"))
        if IMPORTS_TESTS.search(path.read_text())
    ]
    assert offenders == []


def test_the_services_code_does_no_io_at_import(tmp_path: Path) -> None:
    """An invalid port variable and a state directory that does not exist: importing every
    module of tools.services neither fails nor creates anything; only a command reads them."""
    state = tmp_path / "state"
    env = {"BAZOOKA_LOCAL_DIR": str(state), "BAZOOKA_PG_PORT": "not-a-port", "PATH": "/usr/bin"}
    code = (
        "import tools.services.cli, tools.services.kafka, tools.services.postgres, "
        "tools.services.redis_server, tools.services.ports, tools.services.process, "
        "tools.services.state; print('imported')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, "imported"), done.stderr
    assert not state.exists()
    env_command = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "services.py"), "env"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    assert env_command.returncode != 0
    assert "BAZOOKA_PG_PORT='not-a-port' is not a port number" in env_command.stderr
