"""Apache Kafka 3.9 in KRaft mode from its jars on Maven Central: one broker, or a
three-broker cluster."""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import struct
import subprocess
import uuid
from pathlib import Path
from typing import TypedDict

from tools.services.ports import (
    check_port_unchanged,
    chosen_port,
    port_open,
    port_taken,
    record_port,
    recorded_ports,
)
from tools.services.process import IsOurs, ensure_dir, own_pid, run, same_path, stop_pid, wait_for
from tools.services.state import (
    HOST,
    KAFKA_VERSION_MARKER,
    PORT_VARIABLES,
    ROOT,
    ServiceError,
    say,
    state_dir,
)


class KafkaNode(TypedDict):
    """One Kafka node (broker and controller) this script runs."""

    id: int
    dir: Path
    port: int
    controller: int


def kafka_libs() -> Path:
    libs = state_dir() / "kafka" / "libs"
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
                "dir": state_dir() / "kafka" / "single",
                "port": chosen_port("kafka"),
                "controller": chosen_port("kafka") + 1,
            }
        ]
    return [
        {
            "id": i,
            "dir": state_dir() / "kafka" / "cluster" / f"node{i}",
            "port": chosen_port("cluster") + i - 1,
            "controller": chosen_port("cluster") + 100 + i - 1,
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
    return lambda _pid, argv: "kafka.Kafka" in argv and any(same_path(a, config) for a in argv)


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
    variable, base_port = PORT_VARIABLES[service][0], chosen_port(service)
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
