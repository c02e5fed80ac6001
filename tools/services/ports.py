"""Ports: the one each service uses (its variable, else the one recorded when it started, else
the default), who holds a taken one, and free ones for servers tests start."""

from __future__ import annotations

import json
import os
import random
import socket
import sys
from pathlib import Path

from tools.services.process import cmdline, ensure_dir
from tools.services.state import HOST, PORT_VARIABLES, ServiceError, ports_file, state_dir


def recorded_ports() -> dict[str, int]:
    """The port each service of this state directory was last started with."""
    try:
        data = json.loads(ports_file().read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in PORT_VARIABLES and isinstance(v, int)}


def chosen_port(service: str) -> int:
    """Its variable if set, else the port it was last started with here, else the default."""
    variable, default, _ = PORT_VARIABLES[service]
    raw = os.environ.get(variable, "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            sys.exit(f"[services] error: {variable}={raw!r} is not a port number")
    return recorded_ports().get(service, default)


def record_port(service: str) -> None:
    ports = {**recorded_ports(), service: chosen_port(service)}
    ensure_dir(state_dir())
    tmp = ports_file().with_name("ports.json.tmp")
    tmp.write_text(json.dumps(ports, indent=1, sort_keys=True) + "\n")
    tmp.replace(ports_file())


def check_port_unchanged(service: str) -> None:
    """A service of this checkout already runs: its port cannot change under it."""
    recorded = recorded_ports().get(service)
    variable, _, label = PORT_VARIABLES[service]
    if recorded is not None and recorded != chosen_port(service):
        raise ServiceError(
            f"this checkout's {label} runs on port {recorded} (see {ports_file()}), but "
            f"{variable}={os.environ.get(variable)} asks for port {chosen_port(service)}: "
            f"unset {variable}, or stop it first (python3 scripts/services.py stop --only "
            f"{service})"
        )


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address (hex ip:port), state (0A = LISTEN), inode
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> str:
    """'pid N (command line)' of the process listening on ``port``, from /proc; 'an unknown
    process' when it cannot be seen (another user's, without root)."""
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if wanted:
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                fds = list((proc / "fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    target = str(fd.readlink())
                except OSError:
                    continue
                if target in wanted:
                    command = " ".join(cmdline(int(proc.name)) or ["?"])
                    if len(command) > 200:  # keep both ends: a path at the end says whose
                        command = command[:90] + " ... " + command[-100:]
                    return f"pid {proc.name} ({command})"
    return "an unknown process"


def port_taken(port: int, what: str, variable: str) -> ServiceError:
    return ServiceError(
        f"port {port} ({what}) is taken by {port_holder(port)}, not by a service this script "
        f"started from {state_dir()}; set {variable} to a free port"
    )


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux default 32768-60999)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive ports of 127.0.0.1 that nothing holds now, chosen at
    random below the kernel's ephemeral range: the port the kernel would pick for ``bind(0)``
    lies inside it, where a client connection can take it before the server starts. For tests
    and tools that start servers of their own."""
    top = ephemeral_range()[0] - count
    bottom = 20000 if top - 20000 >= 1000 else 1024
    rng = random.SystemRandom()
    for _ in range(500):
        first = rng.randrange(bottom, top)
        if all(_bindable(port) for port in range(first, first + count)):
            return first
    raise ServiceError(f"no {count} free consecutive port(s) found in {bottom}-{top}")
