"""Backends (fakeredis, a real redis-server, a real 3-master cluster) and flavours (sync, async).

Every behaviour test takes ``make`` and runs once per backend and flavour:
the same assertions hold for ``MultiMapWithTTL`` and ``AsyncMultiMapWithTTL``
on every kind of server. Real servers are started here, on loopback.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from .servers import MISSING, REDIS_SERVER, LocalCluster, RedisServer


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not REDIS_SERVER:
        pytest.skip(MISSING)
    server = RedisServer(tmp_path_factory.mktemp("redis"), None, "--appendonly", "no").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not REDIS_SERVER:
        pytest.skip(MISSING)
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


class Backend:
    """One kind of server: clients for it, a raw client to inspect it, and its clock."""

    name: str
    cluster = False

    def sync_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def async_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        """Let time pass for the client and the server alike."""
        time.sleep(seconds)

    def raw_nodes(self) -> list[redis.Redis]:
        """A plain client per master, to inspect (INFO, DBSIZE, SCAN) every node."""
        raise NotImplementedError

    def all_keys(self) -> list[bytes]:
        return sorted(k for node in self.raw_nodes() for k in node.scan_iter(count=1000))

    def snapshot(self) -> dict[bytes, Any]:
        """Every key with its type, content and whether it has a TTL."""
        out: dict[bytes, Any] = {}
        for node in self.raw_nodes():
            for key in node.scan_iter(count=1000):
                kind = node.type(key)
                if kind == b"zset":
                    content: Any = node.zrange(key, 0, -1, withscores=True)
                elif kind == b"string":
                    content = node.get(key)
                else:
                    content = kind
                out[key] = (kind, content, node.pttl(key) > 0)
        return out


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, freezer: Any) -> None:
        self.server = fakeredis.FakeServer()
        self.freezer = freezer

    def sync_client(self, **kwargs: Any) -> Any:
        return fakeredis.FakeRedis(server=self.server, **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        return fakeredis.FakeAsyncRedis(server=self.server, **kwargs)

    def advance(self, seconds: float) -> None:
        self.freezer.tick(seconds)

    def raw_nodes(self) -> list[redis.Redis]:
        return [self.sync_client()]


class RealBackend(Backend):
    name = "real"

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.raw = server.client()
        self.raw.flushall()
        self.raw.script_flush()
        self.raw.config_resetstat()

    def sync_client(self, **kwargs: Any) -> Any:
        return self.server.client(**kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        return redis.asyncio.Redis(port=self.server.port, **kwargs)

    def raw_nodes(self) -> list[redis.Redis]:
        return [self.raw]


class ClusterBackend(Backend):
    name = "cluster"
    cluster = True

    def __init__(self, cluster: LocalCluster) -> None:
        self.ports = cluster.ports
        self.nodes = [redis.Redis(port=p) for p in self.ports]
        for node in self.nodes:
            node.flushall()
            node.config_resetstat()

    def sync_client(self, **kwargs: Any) -> Any:
        return RedisCluster(host="127.0.0.1", port=self.ports[0], **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        return AsyncRedisCluster(host="127.0.0.1", port=self.ports[0], **kwargs)

    def raw_nodes(self) -> list[redis.Redis]:
        return self.nodes


@pytest.fixture(params=["fake", "real", "cluster"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        return FakeBackend(request.getfixturevalue("freezer"))
    if request.param == "real":
        return RealBackend(request.getfixturevalue("real_server"))
    return ClusterBackend(request.getfixturevalue("real_cluster"))


class Blocking:
    """Drives an ``AsyncMultiMapWithTTL`` from plain test code, on its own event loop."""

    def __init__(self, inner: AsyncMultiMapWithTTL, loop: asyncio.AbstractEventLoop) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_loop", loop)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "names":
            return lambda: iter(self._loop.run_until_complete(self._collect(attr())))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self._loop.run_until_complete(attr(*a, **k))
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    @staticmethod
    async def _collect(names: Any) -> list[str]:
        return [name async for name in names]


Factory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(backend: Backend, flavor: str) -> Iterator[Factory]:
    """``make(prefix, ttl=..., cast_fn=..., resolution=..., **client_kwargs)``."""
    loop = asyncio.new_event_loop()
    clients: list[Any] = []

    def factory(
        key_prefix: str = "mm",
        ttl: float = 3600,
        cast_fn: Any = None,
        *,
        resolution: float = 1.0,
        **client_kwargs: Any,
    ) -> Any:
        if flavor == "sync":
            client = backend.sync_client(**client_kwargs)
            clients.append(client)
            return MultiMapWithTTL(client, key_prefix, ttl, cast_fn, resolution=resolution)
        client = backend.async_client(**client_kwargs)
        clients.append(client)
        inner = AsyncMultiMapWithTTL(client, key_prefix, ttl, cast_fn, resolution=resolution)
        return Blocking(inner, loop)

    factory.backend = backend  # type: ignore[attr-defined]
    yield factory
    for client in clients:
        if flavor == "async":
            loop.run_until_complete(client.aclose())
        else:
            client.close()
    loop.close()


@pytest.fixture
def raw(backend: Backend) -> Any:
    """A sync client on the same data as ``make``'s multimaps."""
    client = backend.sync_client()
    yield client
    client.close()
