"""PostgreSQL 15 from Debian's packages: a cluster in the state directory, on 127.0.0.1."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

from tools.services.ports import (
    check_port_unchanged,
    chosen_port,
    port_open,
    port_taken,
    record_port,
    recorded_ports,
)
from tools.services.process import apt_install, ensure_dir, own_pid, run, same_path, wait_for
from tools.services.state import (
    DB_NAME,
    DB_PASSWORD,
    DB_USER,
    HOST,
    PG_SUPERUSER_PASSWORD,
    ROOT,
    ServiceError,
    is_root,
    say,
    state_dir,
)


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
    base = state_dir() / "postgres"
    return base, base / "data", base / "postgres.log"


def _is_our_postgres(_pid: int, argv: list[str]) -> bool:
    _, data, _ = pg_dirs()
    return any(
        a == "-D" and i + 1 < len(argv) and same_path(argv[i + 1], data) for i, a in enumerate(argv)
    )


def pg_running() -> bool:
    _, data, _ = pg_dirs()
    return own_pid(data / "postmaster.pid", _is_our_postgres) is not None


# A Unix socket's path is limited to 107 bytes (sun_path). A checkout deep enough to exceed it
# gets no socket at all: PostgreSQL is reached over TCP only, as everything here does.
SOCKET_PATH_MAX = 107


def pg_socket_dir(base: Path) -> Path | None:
    socket_path = f"{base}/.s.PGSQL.{chosen_port('pg')}"
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
        [
            "pg_isready",
            "-h",
            HOST,
            "-p",
            str(chosen_port("pg")),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ],
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
    if port_open(chosen_port("pg")):
        raise port_taken(chosen_port("pg"), "PostgreSQL", "BAZOOKA_PG_PORT")
    bindir = pg_bin()
    owner = "postgres" if is_root() else None
    base, data, log = pg_dirs()
    ensure_dir(state_dir())
    if is_root():
        state_dir().chmod(0o755)  # the postgres user must reach its data directory
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
        f"starting PostgreSQL on {HOST}:{chosen_port('pg')}"
        + ("" if socket_dir else f" (TCP only: a Unix socket in {base} would exceed 107 bytes)")
    )
    # pg_ctl hands these options to a shell: quote the path.
    options = (
        f"-p {chosen_port('pg')} -k {shlex.quote(str(socket_dir or ''))} "
        f"-c listen_addresses={HOST} "
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
        str(chosen_port("pg")),
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
        as_user="postgres" if is_root() else None,
    )


def restart_postgres_immediately() -> None:
    """Used by the fault campaign: ``pg_ctl restart -m immediate`` (every session is cut, the
    server recovers from its WAL as after a crash), waiting until it accepts connections."""
    _, data, log = pg_dirs()
    if not pg_running():
        raise ServiceError("this checkout's PostgreSQL is not running; start it first")
    say("restarting PostgreSQL (immediate)")
    pg_ctl = [str(pg_bin() / "pg_ctl"), "-D", str(data), "-l", str(log), "-m", "immediate"]
    run([*pg_ctl, "-w", "-t", "60", "restart"], as_user="postgres" if is_root() else None)
    wait_for("PostgreSQL", pg_ready, 60, log)
