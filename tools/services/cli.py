"""The command line of ``scripts/services.py``: start, stop, status, env (and the tests' kill
and restart commands)."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable

from tools import services
from tools.services.kafka import (
    kafka_nodes,
    kafka_running,
    kill_kafka_node,
    start_kafka,
    stop_kafka,
)
from tools.services.ports import check_port_unchanged, chosen_port, ephemeral_range
from tools.services.postgres import (
    pg_running,
    restart_postgres_immediately,
    start_postgres,
    stop_postgres,
)
from tools.services.redis_server import redis_pid, restart_redis, start_redis, stop_redis
from tools.services.state import (
    DB_NAME,
    DB_PASSWORD,
    DB_USER,
    HOST,
    ServiceError,
    say,
    state_dir,
    state_explicit,
)

SERVICES = ("pg", "redis", "kafka", "cluster")


def env_lines(cluster: bool) -> list[str]:
    lines = [
        f"export DB_HOSTNAME={HOST}",
        f"export DB_PORT={chosen_port('pg')}",
        f"export DB_NAME={DB_NAME}",
        f"export DB_USERNAME={DB_USER}",
        f"export DB_PASSWORD={DB_PASSWORD}",
        f"export REDIS_URL=redis://{HOST}:{chosen_port('redis')}",
        f"export KAFKA_BROKER_URLS={HOST}:{chosen_port('kafka')}",
        "export KAFKA_REPLICATION_FACTOR=1  # one local broker; the default 3 needs the cluster",
    ]
    if cluster:
        brokers = ",".join(f"{HOST}:{n['port']}" for n in kafka_nodes(True))
        lines.append(f"export KAFKA_CLUSTER_BROKER_URLS={brokers}")
    if state_explicit():
        # Only when chosen explicitly: exported by default, it would make the scripts of another
        # checkout used from the same shell adopt this one's services.
        lines.append(f"export BAZOOKA_LOCAL_DIR={shlex.quote(str(state_dir()))}")
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


def service_ports(name: str) -> list[int]:
    if name == "pg":
        return [chosen_port("pg")]
    if name == "redis":
        return [chosen_port("redis")]
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
        description=services.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
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
