"""The container image the indexer's deploy installs, built from the project's ``Dockerfile``
over the stand-in base (``scripts/lambda_image.py``), run as Lambda runs it: read-only root file
system with only ``/tmp`` writable, a non-root user, no ``/dev/shm``, and only the environment
variables the original's deployment sets. It is invoked through the emulator its base image's
entrypoint starts, over the host's loopback, against the real local services and the
three-broker cluster (replication factor 3, the default).

Auxo (``indexer/services/auxo``) invokes the function with exactly ``{"migrate":true}`` or
``{"migrate":true,"create_kafka_topics":true}`` (``JSON.stringify``: no spaces); those bytes
are sent here as they are.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from bazooka.kafka.topics import MANAGED_TOPICS, TO_VULCAN
from tests.integration.conftest import StartEmulator
from tests.integration.lambda_support import connect, error, migrations, slow_ddl, success
from tools.scripts import load_script

image_script = load_script("lambda_image")

pytestmark = pytest.mark.cluster

AUXO_MIGRATE = b'{"migrate":true}'
AUXO_MIGRATE_AND_TOPICS = b'{"migrate":true,"create_kafka_topics":true}'
# The function's configuration in the indexer's deployment: the original's variable names,
# nothing of Bazooka's own (NODE_ENV=production comes from the image, as in the original's).
DEPLOYMENT_VARIABLES = (
    "DB_HOSTNAME",
    "DB_PORT",
    "DB_NAME",
    "DB_USERNAME",
    "DB_PASSWORD",
    "KAFKA_BROKER_URLS",
    "REDIS_URL",
)
HANDLER = "bazooka.lambda_handler.handler"


@pytest.fixture(scope="module")
def image() -> str:
    """The image, built once per module from the Dockerfile over the stand-in base."""
    try:
        return str(image_script.build_image())
    except image_script.ImageError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def deployment(scratch_db: dict[str, str]) -> dict[str, str]:
    """A fresh database and the cluster, as the deployment's variables name them."""
    brokers = scratch_db.get("KAFKA_CLUSTER_BROKER_URLS")
    if not brokers:
        pytest.fail("KAFKA_CLUSTER_BROKER_URLS not set: start the cluster (scripts/test.sh)")
    env = {**scratch_db, "KAFKA_BROKER_URLS": brokers}
    return {name: env[name] for name in DEPLOYMENT_VARIABLES}


StartContainer = Callable[..., Any]


@pytest.fixture
def start_container(image: str) -> Iterator[StartContainer]:
    """Start the image with ``env`` (a new container per call); all removed afterwards."""
    started: list[Any] = []

    def start(env: dict[str, str], *, timeout_s: int = 300) -> Any:
        container = image_script.LambdaContainer(env, image=image, timeout_s=timeout_s)
        started.append(container)
        return container.start()

    yield start
    for container in started:
        container.stop()


def _in_image(image: str, script: str) -> str:
    """Run ``script`` (sh) in the image, read-only, as Lambda's user; its output."""
    result = image_script.podman(
        "run",
        "--rm",
        "--read-only",
        "--user",
        image_script.LAMBDA_USER,
        "--entrypoint",
        "/bin/sh",
        image,
        "-c",
        script,
    )
    return str(result.stdout)


def _admin(env: dict[str, str]) -> AdminClient:
    return AdminClient({"bootstrap.servers": env["KAFKA_BROKER_URLS"]})


def _delete_managed_topics(env: dict[str, str]) -> None:
    """The cluster without Bazooka's topics (it is the tests' own), once Kafka says so."""
    admin = _admin(env)
    present = [t for t in admin.list_topics(timeout=10).topics if t in MANAGED_TOPICS]
    if present:
        for future in admin.delete_topics(present, operation_timeout=30).values():
            future.result()
    deadline = time.monotonic() + 60
    while set(admin.list_topics(timeout=10).topics) & set(MANAGED_TOPICS):
        assert time.monotonic() < deadline, "the managed topics were not deleted in 60 s"
        time.sleep(0.5)


def _topic_shapes(env: dict[str, str]) -> dict[str, tuple[int, set[int]]]:
    """Each managed topic's (partition count, replication factors seen)."""
    topics = _admin(env).list_topics(timeout=10).topics
    return {
        name: (len(t.partitions), {len(p.replicas) for p in t.partitions.values()})
        for name, t in topics.items()
        if name in MANAGED_TOPICS
    }


def _records_in(env: dict[str, str], topic: str) -> int:
    """The sum of ``topic``'s high watermarks."""
    admin = _admin(env)
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
    latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
    wanted = {TopicPartition(topic, p): latest for p in partitions}
    return sum(f.result().offset for f in admin.list_offsets(wanted).values())


def _step(report: dict[str, Any], name: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in report["steps"] if s["name"] == name)
    return step


# --- what the image holds -----------------------------------------------------------------------


def test_the_image_carries_only_what_runs(image: str) -> None:
    config = json.loads(image_script.podman("image", "inspect", image).stdout)[0]["Config"]
    # The base's entrypoint contract, untouched: the image only names its handler.
    assert config["Entrypoint"] == ["/lambda-entrypoint.sh"]
    assert config["Cmd"] == [HANDLER]
    assert "NODE_ENV=production" in config["Env"]
    assert "LAMBDA_TASK_ROOT=/var/task" in config["Env"]
    found = _in_image(
        image,
        "command -v gcc cc x86_64-linux-gnu-gcc || echo no-compiler;"
        " ls /build 2>/dev/null || echo no-build-dir;"
        " find /var/task -name '*.c' -o -name setup.py -o -name pyproject.toml | head -5;"
        " ls /var/task/bazooka/vulcan/ | grep '^_wire.*\\.so$'",
    ).split()
    assert found[:2] == ["no-compiler", "no-build-dir"], found
    assert len(found) == 3 and found[2].startswith("_wire.cpython-"), found  # the C encoder
    # Every module has its bytecode, for the image's own interpreter (the task root is
    # read-only: without it every cold start would compile what it imports).
    missing = _in_image(
        image,
        "cd /var/task && python3 -c 'import importlib.util, pathlib;"
        ' print([str(p) for p in pathlib.Path(".").rglob("*.py")'
        " if not pathlib.Path(importlib.util.cache_from_source(str(p))).is_file()])'",
    )
    assert missing.strip() == "[]", missing
    # The C encoder loads and passes the self-check against the official classes.
    checked = _in_image(
        image,
        "cd /var/task && python3 -c 'from bazooka.vulcan import official, wire;"
        " official.self_check(); print(wire.ENCODER)'",
    )
    assert checked.strip() == "C"


# --- Auxo's invocations -------------------------------------------------------------------------


def test_auxos_two_payloads_migrate_and_create_the_topics_then_nothing_to_do(
    start_container: StartContainer, deployment: dict[str, str]
) -> None:
    _delete_managed_topics(deployment)
    container = start_container(deployment)
    migrated = success(container.invoke(AUXO_MIGRATE, request_id="auxo-1"))
    step = _step(migrated, "migrate")
    assert step["details"]["applied_count"] == 113 and step["details"]["path"] == "baseline"
    assert migrations(deployment) == (113, 0)
    assert migrated["request_id"] == "auxo-1"

    created = success(container.invoke(AUXO_MIGRATE_AND_TOPICS, request_id="auxo-2"))
    assert _step(created, "migrate")["details"]["applied_count"] == 0
    topics = _step(created, "create_kafka_topics")["details"]
    assert sorted(topics["topics_to_create"]) == sorted(MANAGED_TOPICS)
    assert topics["replication_factor"] == 3
    assert _topic_shapes(deployment) == {
        name: (partitions, {3}) for name, partitions in MANAGED_TOPICS.items()
    }

    # A second deploy (a new container: a cold start) has nothing to do, and says so.
    again = start_container(deployment)
    report = success(again.invoke(AUXO_MIGRATE_AND_TOPICS, request_id="auxo-3"))
    assert _step(report, "migrate")["details"]["applied_count"] == 0
    assert _step(report, "create_kafka_topics")["details"]["changed"] is False
    said = [line["message"] for line in again.log_lines() if line.get("aws_request_id")]
    assert any("already up to date" in message for message in said), said
    assert any("nothing to do" in message for message in said), said
    assert migrations(deployment) == (113, 0)
    # The function wrote its log as JSON lines, with the Lambda context, and no secret.
    lines = [line for line in again.log_lines() if line.get("aws_request_id") == "auxo-3"]
    assert lines and {line["cold_start"] for line in lines} == {True}
    assert deployment["DB_PASSWORD"] not in again.output()


@pytest.mark.parametrize(
    "payload",
    [
        b'{"reset_db":true,"migrate":true}',  # destructive without force
        b'{"migrate":"true"}',  # a string for a boolean
        b'{"migrate":true,"mgirate":true}',  # an unknown field
        b'{"migrate":',  # not JSON at all
    ],
    ids=["without-force", "string-for-boolean", "unknown-field", "not-json"],
)
def test_bad_events_fail_with_the_zips_error(
    start_container: StartContainer,
    start_emulator: StartEmulator,
    deployment: dict[str, str],
    scratch_db: dict[str, str],
    payload: bytes,
) -> None:
    from_image = error(start_container(deployment).invoke(payload))
    from_zip = error(start_emulator(scratch_db).invoke(payload))
    assert (from_image["errorType"], from_image["errorMessage"]) == (
        from_zip["errorType"],
        from_zip["errorMessage"],
    )
    assert migrations(deployment) == (-1, None)  # nothing was touched


# --- the Vulcan send, with the C encoder --------------------------------------------------------


def test_a_send_of_100000_orders_is_acknowledged_with_the_c_encoder(
    start_container: StartContainer, deployment: dict[str, str]
) -> None:
    from tools.seeding import seed_orders  # the benchmark's seeding of valid open orders

    container = start_container(deployment)
    success(container.invoke(AUXO_MIGRATE_AND_TOPICS))
    with connect(deployment) as conn:
        fills = seed_orders(conn, 100_000, 2_000, random.Random(21))  # noqa: S311
    before = _records_in(deployment, TO_VULCAN)
    report = success(container.invoke({"send_stateful_orders_to_vulcan": True}))
    details = _step(report, "send_stateful_orders_to_vulcan")["details"]
    assert details["encoder"] == "C"
    assert details["orders_read"] == details["orders_sent"] == 100_000
    assert details["order_updates"] == fills and details["invalid_orders"] == 0
    assert details["messages_acknowledged"] == 100_000 + fills == details["messages_produced"]
    assert _records_in(deployment, TO_VULCAN) - before == 100_000 + fills


# --- the function's timeout ---------------------------------------------------------------------

SLOW_DDL_S = 0.04  # 318 DDL commands in the replay: 12.7 s of sleep at least
FUNCTION_TIMEOUT_S = 20  # with the default reserve (10 s), the step has about 10 s


def test_a_timeout_shorter_than_the_work_stops_cleanly_with_the_lock_free(
    start_container: StartContainer, deployment: dict[str, str]
) -> None:
    # A table of someone else's: the database is not empty, so it takes the replay, migration
    # by migration (the defaults; nothing of Bazooka's own is configured).
    with connect(deployment) as conn:
        conn.execute("CREATE TABLE public.not_bazookas (id int)")
    slow_ddl(deployment, seconds=SLOW_DDL_S)
    container = start_container(deployment, timeout_s=FUNCTION_TIMEOUT_S)
    stopped = container.invoke(AUXO_MIGRATE)
    assert not stopped.body.startswith(b"Task timed out"), stopped.body
    assert stopped.elapsed_s < FUNCTION_TIMEOUT_S
    failure = error(stopped)
    assert failure["errorType"] == "OutOfTime"
    assert failure["errorMessage"].startswith("Stopped cleanly: only ")
    applied, locked = migrations(deployment)
    assert 0 < applied < 113, applied
    assert locked == 0
    with connect(deployment) as conn:
        conn.execute("DROP EVENT TRIGGER test_slow_ddl")
    finished = success(container.invoke(AUXO_MIGRATE))
    assert _step(finished, "migrate")["details"]["applied_count"] == 113 - applied
    assert migrations(deployment) == (113, 0)


def test_the_image_size_is_what_the_dockerfile_states(image: str) -> None:
    """The Dockerfile states the size of the layer Bazooka adds; it must stay true (10 %)."""
    stated = next(
        line
        for line in (Path(image_script.ROOT) / "Dockerfile").read_text().splitlines()
        if "add one layer of" in line
    )
    megabytes = int(stated.split("add one layer of ")[1].split(" MB")[0])
    layers = json.loads(image_script.podman("history", "--format", "json", image).stdout)
    added = max(layer["size"] for layer in layers if "COPY" in layer.get("CreatedBy", ""))
    assert abs(added / 1e6 - megabytes) <= megabytes * 0.1, (added, megabytes)
