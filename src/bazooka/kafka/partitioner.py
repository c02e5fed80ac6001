"""The Java client's default partitioner for keyed records: ``toPositive(murmur2(key)) % n``.

The chain's full nodes and the original (kafkajs ``DefaultPartitioner``) place a Vulcan message
with this function, so the same order always lands in the same partition whichever producer
wrote it. We produce with librdkafka's ``murmur2_random`` partitioner, which implements it in C;
this pure version states the contract and lets the send step verify where messages landed.
"""

from __future__ import annotations

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's ``Utils.murmur2`` as an unsigned 32-bit value."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    end = length - (length & 3)
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    # The last 1-3 bytes, little-endian (Java's fall-through switch on length % 4).
    if end < length:
        h ^= int.from_bytes(data[end:], "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def java_partition(key: bytes, num_partitions: int) -> int:
    """The partition Kafka's Java producer picks for ``key`` among ``num_partitions``."""
    if num_partitions < 1:
        raise ValueError("num_partitions must be positive")
    return (murmur2(key) & 0x7FFFFFFF) % num_partitions
