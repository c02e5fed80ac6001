#!/usr/bin/env python3
"""Start and stop the real local services Bazooka's tests and demo use, on 127.0.0.1 only.

    scripts/services.py start [--cluster] [--only pg,redis,kafka,cluster]
    scripts/services.py stop  [--only ...]
    scripts/services.py status
    scripts/services.py env   [--cluster]        # shell `export` lines to use them

PostgreSQL 15 and Redis come from Debian packages (installed with apt-get when missing and
running as root); Apache Kafka 3.9 runs in KRaft mode from its jars on Maven Central (resolved
once with Maven into the state directory). One broker by default, plus a three-broker cluster
with --cluster. Idempotent: a service this script already runs is left as is. Each start waits
until the service answers. `stop` stops only what this script started (pid files in the state
directory, each checked against the process it names); a port taken by anything else is an
error naming the process that holds it, never reused.

State directory: .local/ in this checkout (ignored by git), or $BAZOOKA_LOCAL_DIR. Each checkout
thus has its own services; two checkouts side by side also need their own ports. Ports
(override with env; the ports a service was started with are recorded in the state directory's
ports.json and used until it is stopped and started with others):
BAZOOKA_PG_PORT=5435  BAZOOKA_REDIS_PORT=6382  BAZOOKA_KAFKA_PORT=9092 (controller +1)
BAZOOKA_KAFKA_CLUSTER_PORT=19092 (brokers 19092-19094, controllers 19192-19194).
Keep them below the kernel's ephemeral range (32768-60999 by default; `start` warns otherwise):
a port in it can be taken by a client connection while a broker is down, and the broker then
cannot restart.
Standard library only: it runs before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pwd
import random
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

ROOT = Path(__file__).resolve().parent.parent
# Per checkout: two clones never share pid files, so neither adopts nor stops the other's services.
STATE_EXPLICIT = bool(os.environ.get("BAZOOKA_LOCAL_DIR"))
STATE = Path(os.environ.get("BAZOOKA_LOCAL_DIR") or ROOT / ".local").resolve()
PORTS_FILE = STATE / "ports.json"
HOST = "127.0.0.1"
# service -> (the variable that moves it, default port, what it is)
PORT_VARIABLES = {
    "pg": ("BAZOOKA_PG_PORT", 5435, "PostgreSQL"),
    "redis": ("BAZOOKA_REDIS_PORT", 6382, "Redis"),
    "kafka": ("BAZOOKA_KAFKA_PORT", 9092, "Kafka broker"),
    "cluster": ("BAZOOKA_KAFKA_CLUSTER_PORT", 19092, "Kafka cluster"),
}
# The original's local defaults, so `bazooka` works against these services unconfigured.
DB_NAME, DB_USER, DB_PASSWORD = "dydx_dev", "dydx_dev", "dydxserver123"
PG_SUPERUSER_PASSWORD = "postgres"
KAFKA_VERSION_MARKER = "kafka_2.13-3.9.1.jar"
IS_ROOT = os.geteuid() == 0


IsOurs = Callable[[int, list[str]], bool]
"""Whether a process (pid, argv) is the service this script started from this checkout."""


class KafkaNode(TypedDict):
    """One Kafka node (broker and controller) this script runs."""

    id: int
    dir: Path
    port: int
    controller: int


class ServiceError(RuntimeError):
    """A service could not be installed, started or reached."""


def say(message: str) -> None:
    print(f"[services] {message}", file=sys.stderr, flush=True)


# --- ports ----------------------------------------------------------------------------------


def recorded_ports() -> dict[str, int]:
    """The port each service of this state directory was last started with."""
    try:
        data = json.loads(PORTS_FILE.read_text())
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
    ensure_dir(STATE)
    tmp = PORTS_FILE.with_name("ports.json.tmp")
    tmp.write_text(json.dumps(ports, indent=1, sort_keys=True) + "\n")
    tmp.replace(PORTS_FILE)


def check_port_unchanged(service: str) -> None:
    """A service of this checkout already runs: its port cannot change under it."""
    recorded = recorded_ports().get(service)
    variable, _, label = PORT_VARIABLES[service]
    if recorded is not None and recorded != chosen_port(service):
        raise ServiceError(
            f"this checkout's {label} runs on port {recorded} (see {PORTS_FILE}), but "
            f"{variable}={os.environ.get(variable)} asks for port {chosen_port(service)}: "
            f"unset {variable}, or stop it first (python3 scripts/services.py stop --only "
            f"{service})"
        )


PG_PORT = chosen_port("pg")
REDIS_PORT = chosen_port("redis")
KAFKA_PORT = chosen_port("kafka")
CLUSTER_PORT = chosen_port("cluster")


# --- helpers ------------------------------------------------------------------------------


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


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
                    command = " ".join(_cmdline(int(proc.name)) or ["?"])
                    if len(command) > 200:  # keep both ends: a path at the end says whose
                        command = command[:90] + " ... " + command[-100:]
                    return f"pid {proc.name} ({command})"
    return "an unknown process"


def port_taken(port: int, what: str, variable: str) -> ServiceError:
    return ServiceError(
        f"port {port} ({what}) is taken by {port_holder(port)}, not by a service this script "
        f"started from {STATE}; set {variable} to a free port"
    )


def wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    tail = ""
    if log is not None and log.exists():
        tail = (
            "\n--- last lines of "
            + str(log)
            + " ---\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        )
    raise ServiceError(f"{what} did not answer within {timeout:.0f}s{tail}")


def pid_alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _same_path(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def own_pid(pid_file: Path, is_ours: IsOurs) -> int | None:
    """The pid in ``pid_file`` if that process is alive *and* is the service this state
    directory started (``is_ours(pid, argv)``). A pid file outliving its process, e.g. across
    a reboot, may name an unrelated process by now: that one is never adopted or stopped."""
    pid = pid_alive(pid_file)
    if pid is None:
        return None
    argv = _cmdline(pid)
    return pid if argv is not None and is_ours(pid, argv) else None


def run(
    cmd: list[str], *, as_user: str | None = None, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    if as_user and IS_ROOT:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if check and result.returncode != 0:
        raise ServiceError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
        )
    return result


def apt_install(packages: list[str]) -> None:
    if not IS_ROOT:
        raise ServiceError(
            f"missing {', '.join(packages)}; install them (apt-get install {' '.join(packages)})"
        )
    say(f"installing {', '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages], check=False, env=env
    )
    if result.returncode != 0:
        run(["apt-get", "update"], env=env)
        run(["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env)


def ensure_dir(path: Path, owner: str | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if owner and IS_ROOT:
        shutil.chown(path, owner, owner)


# --- PostgreSQL -----------------------------------------------------------------------------


def pg_bin() -> Path:
    def found() -> list[Path]:
        return sorted(
            Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[4])
        )

    if not found():
        apt_install(["postgresql"])
    if not found():
        raise ServiceError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return found()[-1].parent


def pg_dirs() -> tuple[Path, Path, Path]:
    base = STATE / "postgres"
    return base, base / "data", base / "postgres.log"


def _is_our_postgres(_pid: int, argv: list[str]) -> bool:
    _, data, _ = pg_dirs()
    return any(
        a == "-D" and i + 1 < len(argv) and _same_path(argv[i + 1], data)
        for i, a in enumerate(argv)
    )


def pg_running() -> bool:
    _, data, _ = pg_dirs()
    return own_pid(data / "postmaster.pid", _is_our_postgres) is not None


# A Unix socket's path is limited to 107 bytes (sun_path). A checkout deep enough to exceed it
# gets no socket at all: PostgreSQL is reached over TCP only, as everything here does.
SOCKET_PATH_MAX = 107


def pg_socket_dir(base: Path) -> Path | None:
    socket_path = f"{base}/.s.PGSQL.{PG_PORT}"
    return base if len(socket_path.encode()) <= SOCKET_PATH_MAX else None


def check_reachable_by(user: str, path: Path) -> None:
    """Fail, naming the directory, unless ``user`` can traverse every directory above
    ``path`` (PostgreSQL runs as ``postgres`` when this script runs as root)."""
    entry = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, entry.pw_gid))
    for parent in reversed(path.parents):
        info = parent.stat()
        if info.st_uid == entry.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if info.st_mode & bit:
            continue
        # The mode bits say no; ACLs may still say yes.
        if run(["test", "-x", str(parent)], as_user=user, check=False).returncode == 0:
            continue
        try:
            owner = pwd.getpwuid(info.st_uid).pw_name
        except KeyError:
            owner = str(info.st_uid)
        raise ServiceError(
            f"PostgreSQL runs as the {user} user, who cannot enter {parent} "
            f"({stat.filemode(info.st_mode)}, owner {owner}) to reach its data in {path}. "
            f"Let it through (chmod o+x {shlex.quote(str(parent))}), or keep this checkout's "
            f"services elsewhere: BAZOOKA_LOCAL_DIR=/tmp/bazooka-{ROOT.name} (one directory "
            "per checkout)"
        )


def pg_ready() -> bool:
    result = subprocess.run(
        ["pg_isready", "-h", HOST, "-p", str(PG_PORT), "-U", "postgres", "-d", "postgres"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def start_postgres() -> bool:
    if pg_running():
        check_port_unchanged("pg")
        wait_for("PostgreSQL", pg_ready, 30)
        if "pg" not in recorded_ports():
            record_port("pg")
        return False
    if port_open(PG_PORT):
        raise port_taken(PG_PORT, "PostgreSQL", "BAZOOKA_PG_PORT")
    bindir = pg_bin()
    owner = "postgres" if IS_ROOT else None
    base, data, log = pg_dirs()
    ensure_dir(STATE)
    if IS_ROOT:
        STATE.chmod(0o755)  # the postgres user must reach its data directory
        check_reachable_by("postgres", base)
    ensure_dir(base, owner)
    if not (data / "PG_VERSION").exists():
        pwfile = base / "pwfile"
        pwfile.write_text(PG_SUPERUSER_PASSWORD + "\n")
        if owner:
            shutil.chown(pwfile, owner, owner)
        say(f"initialising PostgreSQL cluster in {data}")
        run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            as_user=owner,
        )
        pwfile.unlink()
    socket_dir = pg_socket_dir(base)
    say(
        f"starting PostgreSQL on {HOST}:{PG_PORT}"
        + ("" if socket_dir else f" (TCP only: a Unix socket in {base} would exceed 107 bytes)")
    )
    # pg_ctl hands these options to a shell: quote the path.
    options = (
        f"-p {PG_PORT} -k {shlex.quote(str(socket_dir or ''))} -c listen_addresses={HOST} "
        "-c timezone=Etc/UTC -c max_connections=200 -c shared_buffers=256MB"
    )
    run(
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        as_user=owner,
    )
    wait_for("PostgreSQL", pg_ready, 60, log)
    record_port("pg")
    # Over TCP with the superuser's password: works with or without the Unix socket. The
    # caller's own PG* variables (PGSSLMODE, PGSERVICE, ...) are not for this server.
    psql = [
        "psql",
        "-h",
        HOST,
        "-p",
        str(PG_PORT),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-v",
        "ON_ERROR_STOP=1",
        "-qAt",
    ]
    psql_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    psql_env["PGPASSWORD"] = PG_SUPERUSER_PASSWORD
    exists = run(
        [*psql, "-c", f"SELECT 1 FROM pg_roles WHERE rolname = '{DB_USER}'"], env=psql_env
    ).stdout.strip()
    if not exists:
        run(
            [*psql, "-c", f"CREATE ROLE {DB_USER} LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'"],
            env=psql_env,
        )
    exists = run(
        [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"], env=psql_env
    ).stdout.strip()
    if not exists:
        run([*psql, "-c", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}"], env=psql_env)
    return True


def stop_postgres() -> None:
    _, data, _ = pg_dirs()
    if not pg_running():
        return
    say("stopping PostgreSQL")
    run(
        [str(pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
        as_user="postgres" if IS_ROOT else None,
    )


def restart_postgres_immediately() -> None:
    """Used by the fault campaign: ``pg_ctl restart -m immediate`` (every session is cut, the
    server recovers from its WAL as after a crash), waiting until it accepts connections."""
    _, data, log = pg_dirs()
    if not pg_running():
        raise ServiceError("this checkout's PostgreSQL is not running; start it first")
    say("restarting PostgreSQL (immediate)")
    pg_ctl = [str(pg_bin() / "pg_ctl"), "-D", str(data), "-l", str(log), "-m", "immediate"]
    run([*pg_ctl, "-w", "-t", "60", "restart"], as_user="postgres" if IS_ROOT else None)
    wait_for("PostgreSQL", pg_ready, 60, log)


# --- Redis ----------------------------------------------------------------------------------


def redis_ready() -> bool:
    with socket.create_connection((HOST, REDIS_PORT), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def _is_our_redis(pid: int, argv: list[str]) -> bool:
    # redis-server rewrites its command line ("redis-server 127.0.0.1:6382"); it runs in the
    # directory given by --dir, this state directory's.
    try:
        cwd = Path(f"/proc/{pid}/cwd").readlink()
    except OSError:
        return False
    return "redis-server" in argv[0] and _same_path(cwd, STATE / "redis")


def redis_pid() -> int | None:
    return own_pid(STATE / "redis" / "redis.pid", _is_our_redis)


def start_redis() -> bool:
    base = STATE / "redis"
    pid_file = base / "redis.pid"
    if redis_pid():
        check_port_unchanged("redis")
        wait_for("Redis", redis_ready, 15)
        if "redis" not in recorded_ports():
            record_port("redis")
        return False
    if port_open(REDIS_PORT):
        raise port_taken(REDIS_PORT, "Redis", "BAZOOKA_REDIS_PORT")
    if shutil.which("redis-server") is None:
        apt_install(["redis-server"])
    ensure_dir(base)
    say(f"starting Redis on {HOST}:{REDIS_PORT}")
    run(
        [
            "redis-server",
            "--bind",
            HOST,
            "--port",
            str(REDIS_PORT),
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
    stop_pid(STATE / "redis" / "redis.pid", "Redis", _is_our_redis)


def restart_redis() -> None:
    """Used by the fault campaign: SIGKILL this checkout's Redis, then start it again."""
    if redis_pid() is None:
        raise ServiceError("this checkout's Redis is not running; start it first")
    stop_pid(STATE / "redis" / "redis.pid", "Redis", _is_our_redis, sig=signal.SIGKILL)
    start_redis()


# --- Kafka ----------------------------------------------------------------------------------


def kafka_libs() -> Path:
    libs = STATE / "kafka" / "libs"
    if (libs / KAFKA_VERSION_MARKER).exists():
        return libs
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise ServiceError(
            "Kafka needs java (17+) and mvn on PATH to fetch its jars from Maven Central"
        )
    say("resolving Apache Kafka 3.9 jars from Maven Central (once)")
    tmp = libs.with_name("libs.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(ROOT / "scripts" / "kafka" / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ]
    )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    return libs


def kafka_nodes(cluster: bool) -> list[KafkaNode]:
    if not cluster:
        return [
            {
                "id": 1,
                "dir": STATE / "kafka" / "single",
                "port": KAFKA_PORT,
                "controller": KAFKA_PORT + 1,
            }
        ]
    return [
        {
            "id": i,
            "dir": STATE / "kafka" / "cluster" / f"node{i}",
            "port": CLUSTER_PORT + i - 1,
            "controller": CLUSTER_PORT + 100 + i - 1,
        }
        for i in (1, 2, 3)
    ]


def kafka_config(node: KafkaNode, nodes: list[KafkaNode]) -> str:
    voters = ",".join(f"{n['id']}@{HOST}:{n['controller']}" for n in nodes)
    rf = len(nodes)
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node['id']}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://{HOST}:{node['port']},CONTROLLER://{HOST}:{node['controller']}",
            f"advertised.listeners=PLAINTEXT://{HOST}:{node['port']}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={node['dir'] / 'data'}",
            "num.partitions=1",
            "auto.create.topics.enable=false",
            "delete.topic.enable=true",
            f"offsets.topic.replication.factor={rf}",
            f"transaction.state.log.replication.factor={rf}",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.index.size.max.bytes=1048576",
            "num.network.threads=2",
            "num.io.threads=4",
            "",
        ]
    )


LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def metadata_broker_count(port: int) -> int:
    """Send a Metadata v1 request (no topics) and count the brokers in the answer."""
    client = b"services"
    body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
    with socket.create_connection((HOST, port), timeout=2) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _recv(sock, 4)
        payload = _recv(sock, struct.unpack(">i", header)[0])
    # correlation id (4), then brokers array
    count = int(struct.unpack(">i", payload[4:8])[0])
    return max(count, 0)


def _recv(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


def _is_our_kafka(node: KafkaNode) -> IsOurs:
    config = node["dir"] / "server.properties"
    return lambda _pid, argv: "kafka.Kafka" in argv and any(_same_path(a, config) for a in argv)


def kafka_running(nodes: list[KafkaNode]) -> list[bool]:
    return [own_pid(n["dir"] / "kafka.pid", _is_our_kafka(n)) is not None for n in nodes]


def start_kafka(cluster: bool) -> bool:
    nodes = kafka_nodes(cluster)
    service = "cluster" if cluster else "kafka"
    label = "Kafka cluster (3 brokers)" if cluster else "Kafka broker"
    running = kafka_running(nodes)
    if any(running):
        check_port_unchanged(service)
    if all(running):
        wait_for(label, lambda: metadata_broker_count(nodes[0]["port"]) >= len(nodes), 90)
        if service not in recorded_ports():
            record_port(service)
        return False
    variable, base_port = PORT_VARIABLES[service][0], CLUSTER_PORT if cluster else KAFKA_PORT
    for node, alive in zip(nodes, running, strict=True):
        if alive:
            continue
        where = f"Kafka cluster node {node['id']}" if cluster else "Kafka broker"
        for port, what in ((node["port"], where), (node["controller"], f"{where} controller")):
            if port_open(port):
                offset = f" + {port - base_port}" if port != base_port else ""
                raise port_taken(port, f"{what}, {variable}{offset}", variable)
    libs = kafka_libs()
    cluster_id_file = nodes[0]["dir"].parent / "cluster.id"
    ensure_dir(cluster_id_file.parent)
    if not cluster_id_file.exists():
        cluster_id_file.write_text(_kafka_cluster_id())
    cluster_id = cluster_id_file.read_text().strip()
    java = shutil.which("java") or "java"
    heap = "-Xmx512m" if not cluster else "-Xmx384m"
    for node, alive in zip(nodes, running, strict=True):
        if alive:
            continue
        ensure_dir(node["dir"])
        config = node["dir"] / "server.properties"
        config.write_text(kafka_config(node, nodes))
        (node["dir"] / "log4j.properties").write_text(LOG4J)
        classpath = f"{libs}/*"
        log4j = f"-Dlog4j.configuration=file:{node['dir'] / 'log4j.properties'}"
        if not (node["dir"] / "data" / "meta.properties").exists():
            run(
                [
                    java,
                    "-cp",
                    classpath,
                    log4j,
                    "kafka.tools.StorageTool",
                    "format",
                    "--ignore-formatted",
                    # "=": an id may start with "-", which the tool would take for an option
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                ]
            )
        say(f"starting Kafka node {node['id']} on {HOST}:{node['port']}")
        with (node["dir"] / "kafka.log").open("ab") as out:
            proc = subprocess.Popen(
                [
                    java,
                    heap,
                    "-Xms128m",
                    "-XX:+UseG1GC",
                    "-XX:MaxGCPauseMillis=20",
                    "-Djava.awt.headless=true",
                    log4j,
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(config),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        (node["dir"] / "kafka.pid").write_text(str(proc.pid))
    wait_for(
        label,
        lambda: all(metadata_broker_count(n["port"]) >= len(nodes) for n in nodes),
        120,
        nodes[0]["dir"] / "kafka.log",
    )
    record_port(service)
    return True


def _kafka_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def stop_kafka(cluster: bool) -> None:
    for node in kafka_nodes(cluster):
        stop_pid(
            node["dir"] / "kafka.pid",
            f"Kafka node {node['id']}{' (cluster)' if cluster else ''}",
            _is_our_kafka(node),
            timeout=60,
        )


def kill_kafka_node(node_id: int, cluster: bool = True) -> None:
    """Used by tests: stop one broker of the cluster abruptly (SIGKILL)."""
    node = next(n for n in kafka_nodes(cluster) if n["id"] == node_id)
    stop_pid(
        node["dir"] / "kafka.pid", f"Kafka node {node_id}", _is_our_kafka(node), sig=signal.SIGKILL
    )


def stop_pid(
    pid_file: Path, label: str, is_ours: IsOurs, timeout: float = 20, sig: int = signal.SIGTERM
) -> None:
    pid = own_pid(pid_file, is_ours)
    if pid is None:
        if pid_file.exists() and pid_alive(pid_file) is not None:
            say(f"{label}: {pid_file} names a process this script did not start; left alone")
        pid_file.unlink(missing_ok=True)
        return
    say(f"stopping {label} (pid {pid})")
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid_file):
        time.sleep(0.2)
    if pid_alive(pid_file):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    pid_file.unlink(missing_ok=True)


# --- commands -------------------------------------------------------------------------------


SERVICES = ("pg", "redis", "kafka", "cluster")


def env_lines(cluster: bool) -> list[str]:
    lines = [
        f"export DB_HOSTNAME={HOST}",
        f"export DB_PORT={PG_PORT}",
        f"export DB_NAME={DB_NAME}",
        f"export DB_USERNAME={DB_USER}",
        f"export DB_PASSWORD={DB_PASSWORD}",
        f"export REDIS_URL=redis://{HOST}:{REDIS_PORT}",
        f"export KAFKA_BROKER_URLS={HOST}:{KAFKA_PORT}",
        "export KAFKA_REPLICATION_FACTOR=1  # one local broker; the default 3 needs the cluster",
    ]
    if cluster:
        brokers = ",".join(f"{HOST}:{n['port']}" for n in kafka_nodes(True))
        lines.append(f"export KAFKA_CLUSTER_BROKER_URLS={brokers}")
    if STATE_EXPLICIT:
        # Only when chosen explicitly: exported by default, it would make the scripts of another
        # checkout used from the same shell adopt this one's services.
        lines.append(f"export BAZOOKA_LOCAL_DIR={shlex.quote(str(STATE))}")
    return lines


def selected(args: argparse.Namespace) -> list[str]:
    if args.only:
        names = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = set(names) - set(SERVICES)
        if unknown:
            raise ServiceError(
                f"unknown service(s) {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(SERVICES)}"
            )
        return names
    return ["pg", "redis", "kafka"] + (["cluster"] if getattr(args, "cluster", False) else [])


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


def service_ports(name: str) -> list[int]:
    if name == "pg":
        return [PG_PORT]
    if name == "redis":
        return [REDIS_PORT]
    return [p for n in kafka_nodes(name == "cluster") for p in (n["port"], n["controller"])]


def warn_ephemeral_ports(names: list[str]) -> None:
    """A listening port inside the ephemeral range can be taken, as the local end of some
    outgoing connection, while its server is down: a broker killed and restarted by the tests
    then fails with "Address already in use"."""
    low, high = ephemeral_range()
    risky = sorted({p for name in names for p in service_ports(name) if low <= p <= high})
    if risky:
        say(
            f"warning: port(s) {', '.join(map(str, risky))} lie in the kernel's ephemeral range "
            f"{low}-{high}; a server restarted there may find its port taken by a client "
            "connection. Prefer ports below it (the defaults are)."
        )


def cmd_start(args: argparse.Namespace) -> int:
    started = []
    warn_ephemeral_ports(selected(args))
    try:
        for name in selected(args):
            starters: dict[str, Callable[[], bool]] = {
                "pg": start_postgres,
                "redis": start_redis,
                "kafka": lambda: start_kafka(False),
                "cluster": lambda: start_kafka(True),
            }
            fresh = starters[name]()
            if fresh:
                started.append(name)
            else:
                say(f"{name}: already running (started earlier by this script)")
    except ServiceError as exc:
        if args.json:  # the caller may stop what was started before the failure
            print(json.dumps({"started": started, "error": str(exc)}))
        raise
    if args.json:
        print(json.dumps({"started": started}))
    else:
        say(
            "ready: "
            + ", ".join(selected(args))
            + (f" (started now: {', '.join(started)})" if started else "")
        )
        print("\n".join(env_lines("cluster" in selected(args))))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    names = args.only.split(",") if args.only else list(SERVICES)
    for name in reversed(SERVICES):
        if name not in names:
            continue
        stoppers: dict[str, Callable[[], None]] = {
            "pg": stop_postgres,
            "redis": stop_redis,
            "kafka": lambda: stop_kafka(False),
            "cluster": lambda: stop_kafka(True),
        }
        stoppers[name]()
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    state = {
        "pg": pg_running(),
        "redis": redis_pid() is not None,
        "kafka": all(kafka_running(kafka_nodes(False))),
        "cluster": all(kafka_running(kafka_nodes(True))),
    }
    print(json.dumps(state))
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    running = {
        "pg": pg_running(),
        "redis": redis_pid() is not None,
        "kafka": any(kafka_running(kafka_nodes(False))),
        "cluster": args.cluster and any(kafka_running(kafka_nodes(True))),
    }
    for service, up in running.items():
        if up:
            check_port_unchanged(service)
    print("\n".join(env_lines(args.cluster)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start")
    start.add_argument(
        "--cluster", action="store_true", help="also start the three-broker Kafka cluster"
    )
    start.add_argument("--only", help=f"comma-separated subset of {','.join(SERVICES)}")
    start.add_argument("--json", action="store_true", help="print the services started now as JSON")
    stop = sub.add_parser("stop")
    stop.add_argument("--only", help=f"comma-separated subset of {','.join(SERVICES)}")
    sub.add_parser("status")
    env = sub.add_parser("env")
    env.add_argument("--cluster", action="store_true")
    kill = sub.add_parser("kill-broker", help="(tests) SIGKILL one node of the cluster")
    kill.add_argument("node", type=int, choices=[1, 2, 3])
    sub.add_parser("restart-pg", help="(tests) restart PostgreSQL in immediate mode (a crash)")
    sub.add_parser("restart-redis", help="(tests) SIGKILL Redis and start it again")
    args = parser.parse_args()
    try:
        if args.command == "kill-broker":
            kill_kafka_node(args.node)
            return 0
        if args.command == "restart-pg":
            restart_postgres_immediately()
            return 0
        if args.command == "restart-redis":
            restart_redis()
            return 0
        return {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "env": cmd_env}[
            args.command
        ](args)
    except ServiceError as exc:
        say(f"error: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
