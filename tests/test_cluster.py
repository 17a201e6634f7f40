"""Redis Cluster specifics on a real local 3-master cluster (sync and async)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from .clock import Span, lives
from .servers import LocalCluster


@pytest.fixture
def nodes(real_cluster: LocalCluster) -> Iterator[list[redis.Redis]]:
    clients = [redis.Redis(port=p) for p in real_cluster.ports]
    for client in clients:
        client.flushall()
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def cluster(real_cluster: LocalCluster, nodes: Any) -> Iterator[RedisCluster]:
    client = RedisCluster(host="127.0.0.1", port=real_cluster.ports[0])
    yield client
    client.close()


def _keys_per_node(nodes: list[redis.Redis]) -> list[int]:
    return [node.dbsize() for node in nodes]


def test_a_2000_name_batch_spreads_over_every_node_and_comes_back_in_order(
    cluster: RedisCluster, nodes: list[redis.Redis]
) -> None:
    mm = MultiMapWithTTL(cluster, "spread", ttl=300)
    names = [f"user-{i}" for i in range(2000)]
    with Span() as span:
        mm.add_many((name, [i, i + 10000]) for i, name in enumerate(names))
    assert all(count > 500 for count in _keys_per_node(nodes))
    assert sum(_keys_per_node(nodes)) == 2000
    got = list(mm.get_many(*reversed(names)))
    assert [sorted(v) for v in got] == [sorted([i, i + 10000]) for i in reversed(range(2000))]
    for node in nodes:  # every key on every node carries its TTL
        assert all(lives(node, k, 300, span) for k in node.scan_iter(count=1000))
    assert sorted(mm.names()) == sorted(names)
    mm.delete(*names[:1500])
    assert sum(_keys_per_node(nodes)) == 500


def test_a_hash_tagged_prefix_keeps_a_multimap_on_one_node(
    cluster: RedisCluster, nodes: list[redis.Redis]
) -> None:
    mm = MultiMapWithTTL(cluster, "{tenant42}:sessions", ttl=300)
    mm.add_many((f"u{i}", [i]) for i in range(1200))
    counts = _keys_per_node(nodes)
    assert sorted(counts) == [0, 0, 1200]
    assert [list(v) for v in mm.get_many("u5", "u1100", "nobody")] == [[5], [1100], []]
    assert len(list(mm.names())) == 1200
    mm.delete(*(f"u{i}" for i in range(1200)))
    assert sum(_keys_per_node(nodes)) == 0


def test_scripts_flushed_on_one_node_mid_run(
    cluster: RedisCluster, nodes: list[redis.Redis]
) -> None:
    mm = MultiMapWithTTL(cluster, "flush", ttl=300)
    tagged = MultiMapWithTTL(cluster, "{t}", ttl=300)
    mm.add_many((f"n{i}", [i]) for i in range(300))
    tagged.add_many((f"n{i}", [i]) for i in range(300))
    assert [sorted(v) for v in tagged.get_many("n1", "n2")] == [[1], [2]]
    for node in nodes[:1]:
        node.script_flush()
    mm.add_many((f"n{i}", [i + 1000]) for i in range(300))
    assert [sorted(v) for v in mm.get_many(*(f"n{i}" for i in range(300)))] == [
        [i, i + 1000] for i in range(300)
    ]
    for node in nodes:
        node.script_flush()
    assert [sorted(v) for v in tagged.get_many("n1", "n2")] == [[1], [2]]
    tagged.add("n1", 5)
    assert sorted(tagged.get("n1")) == [1, 5]


def test_async_cluster_big_batch_with_a_small_connection_pool(
    real_cluster: LocalCluster, nodes: list[redis.Redis]
) -> None:
    async def scenario() -> tuple[list[list[int]], list[str]]:
        client = AsyncRedisCluster(host="127.0.0.1", port=real_cluster.ports[0], max_connections=4)
        try:
            mm = AsyncMultiMapWithTTL(client, "abig", ttl=300)
            await mm.add_many((f"n{i}", [i]) for i in range(5000))
            got = await mm.get_many(*(f"n{i}" for i in range(4999, -1, -1)))
            names = [name async for name in mm.names()]
            await mm.delete(*(f"n{i}" for i in range(5000)))
            return got, names
        finally:
            await client.aclose()

    got, names = asyncio.run(scenario())
    assert got == [[i] for i in range(4999, -1, -1)]
    assert len(names) == 5000
    assert sum(_keys_per_node(nodes)) == 0


def test_sync_and_async_share_data_on_a_cluster(
    real_cluster: LocalCluster, cluster: RedisCluster
) -> None:
    MultiMapWithTTL(cluster, "share", cast_fn=str).add_many([("a", ["x"]), ("b", ["y"])])

    async def read() -> list[list[str]]:
        client = AsyncRedisCluster(host="127.0.0.1", port=real_cluster.ports[0])
        try:
            mm = AsyncMultiMapWithTTL(client, "share", cast_fn=str)
            await mm.add("c", "z")
            return await mm.get_many("a", "b", "c")
        finally:
            await client.aclose()

    assert asyncio.run(read()) == [["x"], ["y"], ["z"]]
