"""Redis from Debian's package, in the state directory, on 127.0.0.1."""

from __future__ import annotations

import shutil
import signal
import socket
from pathlib import Path

from tools.services.ports import (
    check_port_unchanged,
    chosen_port,
    port_open,
    port_taken,
    record_port,
    recorded_ports,
)
from tools.services.process import (
    apt_install,
    ensure_dir,
    own_pid,
    run,
    same_path,
    stop_pid,
    wait_for,
)
from tools.services.state import HOST, ServiceError, say, state_dir


def redis_ready() -> bool:
    with socket.create_connection((HOST, chosen_port("redis")), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def _is_our_redis(pid: int, argv: list[str]) -> bool:
    # redis-server rewrites its command line ("redis-server 127.0.0.1:6382"); it runs in the
    # directory given by --dir, this state directory's.
    try:
        cwd = Path(f"/proc/{pid}/cwd").readlink()
    except OSError:
        return False
    return "redis-server" in argv[0] and same_path(cwd, state_dir() / "redis")


def redis_pid() -> int | None:
    return own_pid(state_dir() / "redis" / "redis.pid", _is_our_redis)


def start_redis() -> bool:
    base = state_dir() / "redis"
    pid_file = base / "redis.pid"
    if redis_pid():
        check_port_unchanged("redis")
        wait_for("Redis", redis_ready, 15)
        if "redis" not in recorded_ports():
            record_port("redis")
        return False
    if port_open(chosen_port("redis")):
        raise port_taken(chosen_port("redis"), "Redis", "BAZOOKA_REDIS_PORT")
    if shutil.which("redis-server") is None:
        apt_install(["redis-server"])
    ensure_dir(base)
    say(f"starting Redis on {HOST}:{chosen_port('redis')}")
    run(
        [
            "redis-server",
            "--bind",
            HOST,
            "--port",
            str(chosen_port("redis")),
            "--daemonize",
            "yes",
            "--pidfile",
            str(pid_file),
            "--logfile",
            str(base / "redis.log"),
            "--dir",
            str(base),
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "16",
            "--protected-mode",
            "yes",
        ]
    )
    wait_for("Redis", redis_ready, 15, base / "redis.log")
    record_port("redis")
    return True


def stop_redis() -> None:
    stop_pid(state_dir() / "redis" / "redis.pid", "Redis", _is_our_redis)


def restart_redis() -> None:
    """Used by the fault campaign: SIGKILL this checkout's Redis, then start it again."""
    if redis_pid() is None:
        raise ServiceError("this checkout's Redis is not running; start it first")
    stop_pid(state_dir() / "redis" / "redis.pid", "Redis", _is_our_redis, sig=signal.SIGKILL)
    start_redis()
