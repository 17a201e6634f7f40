"""Connections cut mid-batch, many times: no key is left without a TTL; a retry converges."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from ..servers import RedisServer
from .proxy import CuttingProxy

ROUNDS = 40
NAMES = [f"name-{i}" for i in range(400)]


@pytest.fixture
def proxy(real_server: RedisServer) -> Iterator[CuttingProxy]:
    real_server.client().flushall()
    proxy = CuttingProxy(real_server.port)
    yield proxy
    proxy.close()


def _no_key_without_ttl(direct: redis.Redis, prefix: str) -> None:
    keys = list(direct.scan_iter(match=f"{prefix}:*", count=1000))
    ttls = direct.pipeline(transaction=False)
    for key in keys:
        ttls.pttl(key)
    assert all(ttl > 0 for ttl in ttls.execute())


def test_cut_connections_never_leave_a_key_without_ttl(
    real_server: RedisServer, proxy: CuttingProxy
) -> None:
    direct = real_server.client()
    rng = random.Random(5)
    failures = 0
    for round_ in range(ROUNDS):
        proxy.budget = rng.randrange(50, 60_000)
        cut = redis.Redis(port=proxy.port, retry=Retry(NoBackoff(), 0), socket_timeout=5)
        mm = MultiMapWithTTL(cut, "cut", ttl=rng.choice([5, 600]))
        names = rng.sample(NAMES, 300)
        # 8 values a name: the batch spans two script calls, streamed on one connection.
        batch = [(name, [round_ + 10**6 * k for k in range(8)]) for name in names]
        try:
            mm.add_many(batch)
        except redis.ConnectionError:
            failures += 1
        cut.close()
        _no_key_without_ttl(direct, "cut")
        # The retry, on a sound connection, converges to the intended state.
        MultiMapWithTTL(direct, "cut", ttl=600).add_many(batch)
        got = MultiMapWithTTL(direct, "cut").get_many(*names)
        assert all({round_ + 10**6 * k for k in range(8)} <= set(values) for values in got)
    assert failures > ROUNDS // 2  # the proxy really did cut most batches mid-way
    _no_key_without_ttl(direct, "cut")


def test_cut_connections_async(real_server: RedisServer, proxy: CuttingProxy) -> None:
    import asyncio

    import redis.asyncio
    import redis.asyncio.retry

    direct = real_server.client()
    rng = random.Random(6)

    async def one_round(budget: int, batch: list[tuple[str, list[int]]]) -> bool:
        proxy.budget = budget
        client = redis.asyncio.Redis(
            port=proxy.port, retry=redis.asyncio.retry.Retry(NoBackoff(), 0)
        )
        try:
            await AsyncMultiMapWithTTL(client, "acut", ttl=600).add_many(batch)
            return False
        except (redis.ConnectionError, OSError):
            return True
        finally:
            await client.aclose()

    cuts = 0
    for round_ in range(15):
        batch = [(name, [round_ + 10**6 * k for k in range(4)]) for name in rng.sample(NAMES, 300)]
        cuts += asyncio.run(one_round(rng.randrange(50, 30_000), batch))
        _no_key_without_ttl(direct, "acut")
    assert cuts > 7
