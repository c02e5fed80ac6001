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
