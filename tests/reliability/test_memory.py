"""Redis memory per stored value, at the default resolution, against 0.1.0's format."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from multimapwithttl import MultiMapWithTTL

from ..old010 import Old010
from ..servers import RedisServer

NAMES, PER_NAME = 5000, 10


def _data() -> list[tuple[str, list[int]]]:
    return [(f"device-{i}", list(range(i, i + PER_NAME))) for i in range(NAMES)]


def _used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _settle(client: redis.Redis) -> int:
    # Wait until the writer's connection is gone: its buffers are not data.
    for _ in range(200):
        if len(client.client_list()) == 1:
            break
        time.sleep(0.01)
    return _used_memory(client)


def _cost(server: RedisServer, write: Callable[[redis.Redis], object]) -> float:
    client = server.client()
    client.flushall()
    # Fixed costs (the script cache, the Lua VM) are paid before measuring.
    with server.client() as warm:
        MultiMapWithTTL(warm, "warm").add_many([("w", [1]), ("x", [2])])
        MultiMapWithTTL(warm, "warm").get_many("w", "x")
        warm.delete("warm:w", "warm:x")
    before = _settle(client)
    with server.client() as writer:
        write(writer)
    return (_settle(client) - before) / (NAMES * PER_NAME)


def _old_twice(client: redis.Redis) -> None:
    # 0.1.0's first write leaves keys without TTL; a second one gives them one.
    Old010(client, "mem", ttl=3600).add_many(_data())
    Old010(client, "mem", ttl=3600).add_many(_data())


def test_memory_per_value_within_ten_percent_of_0_1_0(real_server: RedisServer) -> None:
    new_cost = _cost(real_server, lambda c: MultiMapWithTTL(c, "mem").add_many(_data()))
    old_first = _cost(real_server, lambda c: Old010(c, "mem", ttl=3600).add_many(_data()))
    old_cost = _cost(real_server, _old_twice)
    print(f"bytes/value: new {new_cost:.1f}, 0.1.0 {old_cost:.1f} (first write {old_first:.1f})")
    assert new_cost <= 1.10 * old_cost
    # 0.1.0's first write is cheaper only because it leaks: its keys have no
    # TTL, so they take no entry in the expires table.
    assert old_first < old_cost
