"""scripts/services.py, deploy-local.sh and test.sh as a newcomer meets them: a port taken by
a foreign server, two checkouts side by side, pid files outliving their processes, a checkout
PostgreSQL cannot reach or too deep for a Unix socket.

Every test uses state directories and ports of its own (free ports found now), and a
"checkout" here is a directory holding a copy of scripts/services.py and tools/services/: its
default state directory is that checkout's own .local/. The shared services of the suite are
never touched; one test only reads which process holds their PostgreSQL port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import ROOT, free_ports

# Variables that choose a state directory or a port (or keep services running).
CHOOSERS = frozenset(
    {
        "BAZOOKA_LOCAL_DIR",
        "BAZOOKA_PG_PORT",
        "BAZOOKA_REDIS_PORT",
        "BAZOOKA_KAFKA_PORT",
        "BAZOOKA_KAFKA_CLUSTER_PORT",
        "BAZOOKA_KEEP_SERVICES",
    }
)
# Where bazooka would connect if a script went on after a failure: nothing listens there.
UNREACHABLE = {
    "DB_HOSTNAME": "127.0.0.1",
    "DB_PORT": "1",
    "REDIS_URL": "redis://127.0.0.1:1",
    "KAFKA_BROKER_URLS": "127.0.0.1:1",
}
IS_ROOT = os.geteuid() == 0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus every variable that chooses a state directory or a port."""
    env = {k: v for k, v in os.environ.items() if k not in CHOOSERS}
    return {**env, **UNREACHABLE, **extra}


def free_port() -> int:
    return free_ports(1)


@pytest.fixture
def foreign_listener() -> Iterator[int]:
    """A port held by a server this test owns (the pytest process itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory the postgres user can reach (pytest's own is private to root)."""
    top = Path(tempfile.mkdtemp(prefix="bz-services-"))
    top.chmod(0o755)
    try:
        yield top
    finally:
        shutil.rmtree(top)


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_script(
    script: Path, *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    command = [str(script)] if script.suffix == ".sh" else [sys.executable, str(script)]
    return subprocess.run(
        [*command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Checkout:
    """A directory standing for a clone of the project: scripts/services.py and the code it
    runs (tools/services/), nothing else."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "scripts").mkdir(parents=True)
        shutil.copy2(ROOT / "scripts" / "services.py", root / "scripts" / "services.py")
        (root / "tools").mkdir()
        shutil.copy2(ROOT / "tools" / "__init__.py", root / "tools" / "__init__.py")
        shutil.copytree(
            ROOT / "tools" / "services",
            root / "tools" / "services",
            ignore=shutil.ignore_patterns("__pycache__"),
        )

    @property
    def state(self) -> Path:
        return self.root / ".local"

    def services(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_script(
            self.root / "scripts" / "services.py", *args, env=clean_env(**env), timeout=120
        )


@pytest.fixture
def checkouts(tmp_path: Path) -> Iterator[tuple[Checkout, Checkout]]:
    """Two checkouts side by side; whatever they started is stopped afterwards."""
    pair = (Checkout(tmp_path / "a" / "bazooka"), Checkout(tmp_path / "b" / "bazooka"))
    try:
        yield pair
    finally:
        for checkout in pair:
            checkout.services("stop")


# --- deploy-local.sh and test.sh stop at the first failure ----------------------------------


def test_deploy_local_stops_when_the_postgres_port_is_taken(
    tmp_path: Path, foreign_listener: int
) -> None:
    env = clean_env(
        BAZOOKA_LOCAL_DIR=str(tmp_path / "state"), BAZOOKA_PG_PORT=str(foreign_listener)
    )
    result = run_script(ROOT / "scripts" / "deploy-local.sh", env=env)
    assert result.returncode != 0
    assert "== bazooka run" not in result.stderr, result.stderr
    # The services error is the last thing said, and it names who holds the port and how to
    # move it.
    last = last_line(result.stderr)
    assert last.startswith(f"[services] error: port {foreign_listener} (PostgreSQL) is taken by")
    assert f"pid {os.getpid()} (" in last
    assert "set BAZOOKA_PG_PORT to a free port" in last
    assert result.stdout == ""


def test_deploy_local_never_migrates_a_foreign_postgresql(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    """The suite's own PostgreSQL is foreign to a fresh state directory: deploying there must
    refuse to adopt it, let alone migrate it."""
    port = base_env["DB_PORT"]
    env = clean_env(BAZOOKA_LOCAL_DIR=str(tmp_path / "state"), BAZOOKA_PG_PORT=port)
    result = run_script(ROOT / "scripts" / "deploy-local.sh", env=env)
    assert result.returncode != 0
    assert "== bazooka run" not in result.stderr, result.stderr
    last = last_line(result.stderr)
    assert last.startswith(f"[services] error: port {port} (PostgreSQL) is taken by")
    if IS_ROOT:  # another user's process is named only when /proc lets us see it
        assert "postgres" in last and "-D " in last


def test_test_script_stops_at_a_taken_port_and_stops_what_it_started(
    open_tmp: Path, foreign_listener: int
) -> None:
    """PostgreSQL starts, then Redis's port is taken: test.sh ends there, with the services
    error last, and the PostgreSQL it had just started is stopped again."""
    state = open_tmp / "state"
    pg_port = free_port()
    env = clean_env(
        BAZOOKA_LOCAL_DIR=str(state),
        BAZOOKA_PG_PORT=str(pg_port),
        BAZOOKA_REDIS_PORT=str(foreign_listener),
    )
    try:
        result = run_script(ROOT / "scripts" / "test.sh", env=env)
        assert result.returncode == 1
        assert "== pytest" not in result.stderr and "== ruff" not in result.stderr
        assert "starting PostgreSQL" in result.stderr
        last = last_line(result.stderr)
        assert last.startswith(f"[services] error: port {foreign_listener} (Redis) is taken by")
        assert "BAZOOKA_REDIS_PORT" in last
        assert not (state / "postgres" / "data" / "postmaster.pid").exists()
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", pg_port)) != 0, "PostgreSQL left running"
    finally:
        run_script(ROOT / "scripts" / "services.py", "stop", env=env)


# --- two checkouts side by side -------------------------------------------------------------


def test_each_checkout_keeps_its_own_services(checkouts: tuple[Checkout, Checkout]) -> None:
    a, b = checkouts
    port = free_port()
    started = a.services("start", "--only", "redis", "--json", BAZOOKA_REDIS_PORT=str(port))
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout) == {"started": ["redis"]}
    assert (a.state / "redis" / "redis.pid").is_file()  # state in the checkout's .local
    redis_pid = int((a.state / "redis" / "redis.pid").read_text().split()[0])

    # The other checkout neither adopts it...
    second = b.services("start", "--only", "redis", BAZOOKA_REDIS_PORT=str(port))
    assert second.returncode == 1
    last = last_line(second.stderr)
    assert f"port {port} (Redis) is taken by pid {redis_pid} (redis-server" in last
    assert f"not by a service this script started from {b.state}" in last
    assert "set BAZOOKA_REDIS_PORT to a free port" in last
    assert json.loads(b.services("status").stdout)["redis"] is False
    # ...nor stops it.
    assert b.services("stop").returncode == 0
    assert redis_answers(port)
    assert json.loads(a.services("status").stdout)["redis"] is True

    # With a port of its own, the second checkout runs its own Redis beside the first.
    other = free_port()
    assert b.services("start", "--only", "redis", BAZOOKA_REDIS_PORT=str(other)).returncode == 0
    assert redis_answers(other)
    assert a.services("stop").returncode == 0
    assert not redis_answers(port) and redis_answers(other)


def test_a_checkout_remembers_the_ports_its_services_run_on(
    checkouts: tuple[Checkout, Checkout],
) -> None:
    """Set the port once, when starting: a later shell without the variable still reaches this
    checkout's service, never whatever runs on the default port."""
    a, _ = checkouts
    port, other = free_port(), free_port()
    assert a.services("start", "--only", "redis", BAZOOKA_REDIS_PORT=str(port)).returncode == 0
    env = a.services("env")
    assert env.returncode == 0
    assert f"export REDIS_URL=redis://127.0.0.1:{port}" in env.stdout.splitlines()
    assert "BAZOOKA_LOCAL_DIR" not in env.stdout  # another checkout's scripts must not see it
    again = a.services("start", "--only", "redis")
    assert again.returncode == 0 and "already running" in again.stderr

    # Asking for another port while it runs is refused, naming both.
    for command in (("env",), ("start", "--only", "redis")):
        moved = a.services(*command, BAZOOKA_REDIS_PORT=str(other))
        assert moved.returncode == 1
        assert f"runs on port {port}" in moved.stderr
        assert f"BAZOOKA_REDIS_PORT={other} asks for port {other}" in moved.stderr
    assert a.services("stop").returncode == 0
    moved = a.services("start", "--only", "redis", BAZOOKA_REDIS_PORT=str(other))
    assert moved.returncode == 0, moved.stderr
    assert redis_answers(other)


def test_a_pid_file_naming_another_process_is_neither_adopted_nor_stopped(
    checkouts: tuple[Checkout, Checkout],
) -> None:
    """After a reboot the pid files in .local survive, and their pids may belong to anything."""
    a, _ = checkouts
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        pid_file = a.state / "redis" / "redis.pid"
        pid_file.parent.mkdir(parents=True)
        pid_file.write_text(f"{stranger.pid}\n")
        assert json.loads(a.services("status").stdout)["redis"] is False
        stopped = a.services("stop")
        assert stopped.returncode == 0
        assert "did not start; left alone" in stopped.stderr
        assert stranger.poll() is None, "services.py stop killed a process it did not start"
        assert not pid_file.exists()
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()


# --- PostgreSQL under a checkout ---------------------------------------------------------------


@pytest.mark.skipif(not IS_ROOT, reason="PostgreSQL runs as another user only under root")
def test_postgres_state_the_postgres_user_cannot_reach_is_refused_clearly() -> None:
    private = Path(tempfile.mkdtemp(prefix="bz-private-"))  # mode 0700, owned by root
    try:
        checkout = Checkout(private / "bazooka")
        result = checkout.services("start", "--only", "pg", BAZOOKA_PG_PORT=str(free_port()))
        assert result.returncode == 1
        last = last_line(result.stderr)
        assert f"the postgres user, who cannot enter {private} (drwx------, owner root)" in last
        assert f"chmod o+x {private}" in last and "BAZOOKA_LOCAL_DIR=" in last
        assert not (checkout.state / "postgres" / "data").exists()
    finally:
        shutil.rmtree(private)


def test_postgres_in_a_checkout_too_deep_for_a_unix_socket_runs_over_tcp(
    open_tmp: Path,
) -> None:
    state = open_tmp / ("d" * 60) / "checkout" / ".local"
    assert len(f"{state}/postgres/.s.PGSQL.5435") > 107
    port = free_port()
    env = clean_env(BAZOOKA_LOCAL_DIR=str(state), BAZOOKA_PG_PORT=str(port))
    services = ROOT / "scripts" / "services.py"
    try:
        started = run_script(services, "start", "--only", "pg", env=env)
        assert started.returncode == 0, started.stderr
        assert "TCP only" in started.stderr
        dsn = f"host=127.0.0.1 port={port} dbname=dydx_dev user=dydx_dev"
        with psycopg.connect(dsn, password="dydxserver123") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stopped = run_script(services, "stop", "--only", "pg", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not (state / "postgres" / "data" / "postmaster.pid").exists()


def test_free_ports_lie_below_the_ephemeral_range_and_can_be_bound() -> None:
    """A server a test starts gets ports no client connection can take before it binds."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(20):
        first = free_ports(3)
        assert first >= 1024 and first + 3 <= low
        for port in range(first, first + 3):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", port))
