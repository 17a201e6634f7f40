"""Durability on request: ``wait_replicas`` / ``wait_timeout`` / ``wait_aof``.

After each write call the library sends ``WAIT`` (``WAITAOF``) on the
connection the write went out on (each node's on a cluster); fewer
acknowledgements than asked raise ``DurabilityError`` carrying what the write
returned. Shown here on a primary with one replica started for the module
(the replica stopped with SIGSTOP to make ``WAIT`` time out), on a cluster
with a replica per primary, and on servers without the command (fakeredis
lacks ``WAIT``, Redis 7.0 ``WAITAOF``): there the first write says so and
writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
import redis.exceptions
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from multimapwithttl import AsyncMultiMapWithTTL, DurabilityError, MultiMapWithTTL
from multimapwithttl._commands import Call, Durability, NodeReplies
from multimapwithttl._connections import Exchange, SlotOwner, route, with_trailer
from multimapwithttl._keys import slot_of

from . import servers
from .conftest import Blocking, ClientLibrary, skip_or_fail
from .servers import LocalCluster, RedisServer

CLASSES = [MultiMapWithTTL, AsyncMultiMapWithTTL]


# -- settings: refused at construction, before anything is sent ---------------------


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"wait_replicas": -1}, ValueError),
        ({"wait_replicas": True}, TypeError),
        ({"wait_replicas": 1.0}, TypeError),
        ({"wait_replicas": "1"}, TypeError),
        ({"wait_replicas": 1, "wait_timeout": 0}, ValueError),
        ({"wait_replicas": 1, "wait_timeout": -1}, ValueError),
        ({"wait_replicas": 1, "wait_timeout": float("nan")}, ValueError),
        ({"wait_replicas": 1, "wait_timeout": float("inf")}, ValueError),
        ({"wait_replicas": 1, "wait_timeout": "1"}, TypeError),
        ({"wait_replicas": 1, "wait_timeout": True}, TypeError),
        ({"wait_replicas": 1, "wait_timeout": None}, TypeError),
        ({"wait_aof": 1}, TypeError),
        ({"wait_aof": "yes"}, TypeError),
    ],
)
@pytest.mark.parametrize("cls", CLASSES)
def test_bad_settings_are_refused_at_construction(
    cls: Any, settings: dict[str, Any], error: type[Exception]
) -> None:
    client = fakeredis.FakeRedis() if cls is MultiMapWithTTL else fakeredis.FakeAsyncRedis()
    with pytest.raises(error, match=[*settings][-1]):
        cls(client, "p", **settings)
    # from_url checks them before making a client (this URL reaches nothing).
    with pytest.raises(error, match=[*settings][-1]):
        cls.from_url("redis://127.0.0.1:1/0", "p", **settings)


@pytest.mark.parametrize("cls", CLASSES)
def test_the_settings_are_shown(cls: Any) -> None:
    client = fakeredis.FakeRedis() if cls is MultiMapWithTTL else fakeredis.FakeAsyncRedis()
    m = cls(client, "p", wait_replicas=2, wait_timeout=0.5)
    assert (m.wait_replicas, m.wait_timeout, m.wait_aof) == (2, 0.5, False)
    assert "wait_replicas=2, wait_timeout=0.5" in repr(m)
    plain = cls(client, "p")
    assert (plain.wait_replicas, plain.wait_aof) == (0, False)
    assert "wait" not in repr(plain)


def test_durability_error_is_a_redis_error() -> None:
    error = DurabilityError("m", result=3, acknowledged=0, required=1)
    assert isinstance(error, redis.exceptions.RedisError)
    assert (error.result, error.acknowledged, error.required, error.local) == (3, 0, 1, None)


def test_durability_error_pickles() -> None:
    error = DurabilityError("short", result=[True], acknowledged=None, required=2, local=False)
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.result, again.acknowledged, again.required, again.local) == (
        "short",
        [True],
        None,
        2,
        False,
    )


def test_routing_sends_the_wait_after_each_nodes_calls_in_every_round() -> None:
    # Two writes of two slots, then WAIT: the WAIT is the exchange's trailer (each
    # node's last call), and again after a MOVED write sent elsewhere.
    first, second = (Call(("EVALSHA", "x", 1, key), resend=False) for key in (b"a", b"b"))
    wait = Durability(1, 0.5, aof=False).call()
    assert wait.args == ("WAIT", 1, 500)
    assert (wait.each_node, wait.resend) == (True, False)
    routing = route([first, second, wait])
    step = next(routing)
    assert isinstance(step, Exchange)
    assert [call for _, call in step.calls] == [first, second]
    assert step.trailer is wait
    moved = redis.exceptions.ResponseError(f"MOVED {slot_of(b'b')} 127.0.0.1:7002")
    step = routing.send([1, moved, 1, 1])  # two nodes written: two WAIT replies
    while not isinstance(step, Exchange):
        step = next(routing)
    assert [call for _, call in step.calls] == [second]
    assert step.trailer is wait
    with pytest.raises(StopIteration) as done:
        routing.send([1, 0])
    replies = done.value.value
    assert replies[:2] == [1, 1]
    assert isinstance(replies[2], NodeReplies)
    assert list(replies[2]) == [1, 1, 0]


def test_the_trailer_goes_once_after_each_nodes_calls() -> None:
    target_a, target_b = SlotOwner(1), SlotOwner(2)
    calls = [(target_a, Call(("A",))), (target_b, Call(("B",))), (target_a, Call(("C",)))]
    groups = [[0, 2], [1]]  # as a shell groups them by node
    wait = Call(("WAIT", 1, 1), each_node=True)
    every = with_trailer(calls, groups, wait)
    assert groups == [[0, 2, 3], [1, 4]]
    assert every[3] == (target_a, wait)
    assert every[4] == (target_b, wait)
    assert with_trailer(calls, [[0, 2], [1]], None) == calls


# -- a server without the command: said before anything is written ------------------


def _drive(cls: Any, client: Any, **settings: Any) -> tuple[Any, Callable[[], None]]:
    """A multimap (the async one driven to completion) and what closes it."""
    if cls is MultiMapWithTTL:
        return cls(client, "p", **settings), client.close
    loop = asyncio.new_event_loop()

    def close() -> None:
        loop.run_until_complete(client.aclose())
        loop.close()

    return Blocking(cls(client, "p", **settings), loop), close


@pytest.mark.parametrize("cls", CLASSES)
def test_fakeredis_has_no_wait_and_nothing_is_written(cls: Any) -> None:
    server = fakeredis.FakeServer()
    client = (
        fakeredis.FakeRedis(server=server)
        if cls is MultiMapWithTTL
        else fakeredis.FakeAsyncRedis(server=server)
    )
    m, close = _drive(cls, client, wait_replicas=1)
    try:
        with pytest.raises(redis.exceptions.ResponseError) as raised:
            m.add("a", 1)
        said = str(raised.value)
        assert "wait_replicas needs the server's WAIT" in said
        assert "Nothing was written" in said
        assert fakeredis.FakeRedis(server=server).keys() == []
    finally:
        close()


# -- a primary and its replica ---------------------------------------------------


def _in_sync(primary: RedisServer, replicas: int = 1, timeout: float = 30) -> None:
    """Until ``replicas`` replicas are online with the primary."""
    deadline = time.monotonic() + timeout
    with primary.client() as client:
        while True:
            info = client.info("replication")
            online = [
                info[f"slave{i}"]
                for i in range(int(info.get("connected_slaves", 0)))
                if info[f"slave{i}"].get("state") == "online"
            ]
            if len(online) >= replicas:
                return
            assert time.monotonic() < deadline, f"no replica in sync: {info}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and one replica, both with an AOF fsynced at every write (for WAITAOF)."""
    if not servers.REDIS_SERVER:
        skip_or_fail(servers.MISSING)
    base = tmp_path_factory.mktemp("replicated")
    aof = ("--appendonly", "yes", "--appendfsync", "always")
    primary = RedisServer(base / "primary", None, *aof).start()
    replica = RedisServer(
        base / "replica", None, *aof, "--replicaof", "127.0.0.1", str(primary.port)
    )
    try:
        replica.start()
        _in_sync(primary)
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


@contextlib.contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    """``server`` frozen (SIGSTOP): it acknowledges nothing until it goes on (SIGCONT)."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


@pytest.fixture
def on_pair(pair: tuple[RedisServer, RedisServer], flavor: str) -> Iterator[Callable[..., Any]]:
    """``on_pair(library="redis", client options..., **settings)``: a multimap on the primary."""
    primary, _replica = pair
    with primary.client() as admin:
        admin.flushall()
    _in_sync(primary)
    closers: list[Callable[[], None]] = []

    def make(library: str = "redis", socket_timeout: float | None = None, **settings: Any) -> Any:
        lib = ClientLibrary(library)
        options = {"port": primary.port, "socket_timeout": socket_timeout}
        if flavor == "sync":
            client = lib.sync(**options)
            cls: Any = MultiMapWithTTL
        else:
            client = lib.asyncio(**options)
            cls = AsyncMultiMapWithTTL
        m, close = _drive(cls, client, **settings)
        closers.append(close)
        return m

    yield make
    for close in closers:
        close()


def _writes(m: Any) -> list[tuple[str, Callable[[], Any], Any]]:
    now = time.time()
    return [
        ("add", lambda: m.add("a", 1, 2), 2),
        ("touch", lambda: m.touch("a", 1, 9), 1),
        ("add_new", lambda: m.add_new("a", 2, 3), [False, True]),
        ("add_many", lambda: m.add_many([("b", [4]), ("c", [5, 6])]), 3),
        ("add_many_with_ttl", lambda: m.add_many_with_ttl([("d", [(now + 60, 7)])]), 1),
        ("remove", lambda: m.remove("a", 1), 1),
        ("delete", lambda: m.delete("c", "zz"), 1),
    ]


@pytest.mark.parametrize("library", ["redis", "valkey"])
def test_every_write_returns_once_the_replica_has_it(
    pair: tuple[RedisServer, RedisServer], on_pair: Callable[..., Any], library: str
) -> None:
    primary, replica = pair
    m = on_pair(library, wait_replicas=1, wait_timeout=30)
    with primary.client() as on_primary, replica.client() as on_replica:
        for label, write, answer in _writes(m):
            assert write() == answer, label
            # Acknowledged: the replica holds it as soon as the call returns.
            assert _snapshot(on_replica) == _snapshot(on_primary), label
        assert sorted(on_replica.keys()) == [b"p:a", b"p:b", b"p:d"]


def _snapshot(client: redis.Redis) -> dict[bytes, Any]:
    return {key: client.zrange(key, 0, -1, withscores=True) for key in client.scan_iter()}


def test_fewer_replicas_than_asked_raise_with_the_writes_result(
    pair: tuple[RedisServer, RedisServer], on_pair: Callable[..., Any]
) -> None:
    primary, _replica = pair
    m = on_pair(wait_replicas=2, wait_timeout=0.05)
    with pytest.raises(DurabilityError) as raised:
        m.add("a", 1, 2)
    error = raised.value
    assert (error.result, error.acknowledged, error.required) == (2, 1, 2)
    assert "the write ran on the primary, but 1 of the 2 replicas" in str(error)
    assert isinstance(error, redis.exceptions.RedisError)
    # It ran, and is not undone.
    with primary.client() as admin:
        assert admin.zrange("p:a", 0, -1) == [b"1", b"2"]
    with pytest.raises(DurabilityError) as raised:
        m.add_new("a", 2, 3)
    assert raised.value.result == [False, True]


def test_wait_goes_on_the_connection_the_write_used(
    pair: tuple[RedisServer, RedisServer], on_pair: Callable[..., Any]
) -> None:
    # A WAIT on any other connection (one that wrote nothing) would be
    # answered at once by the frozen replica's last acknowledgement.
    _primary, replica = pair
    m = on_pair(wait_replicas=1, wait_timeout=0.1)
    m.add("a", 1)  # the probe and a first write, acknowledged
    with stopped(replica), pytest.raises(DurabilityError) as raised:
        m.add_many([("a", [2]), ("b", [3])])
    assert (raised.value.result, raised.value.acknowledged, raised.value.required) == (2, 0, 1)


def test_a_lost_wait_reply_raises_with_the_result_and_an_unknown_count(
    pair: tuple[RedisServer, RedisServer], on_pair: Callable[..., Any]
) -> None:
    # The client gives up on the socket before WAIT answers: the write's own
    # reply was read, so it ran; how many replicas have it is not known.
    primary, replica = pair
    m = on_pair(socket_timeout=0.3, wait_replicas=1, wait_timeout=60)
    m.add("a", 1)
    with stopped(replica), pytest.raises(DurabilityError) as raised:
        m.add("a", 2, 3)
    error = raised.value
    assert (error.result, error.acknowledged, error.required) == (2, None, 1)
    assert "got no answer" in str(error)
    assert isinstance(
        error.__cause__, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    )
    with primary.client() as admin:
        assert admin.zrange("p:a", 0, -1) == [b"1", b"2", b"3"]


def test_a_script_loaded_again_is_waited_for_too(
    pair: tuple[RedisServer, RedisServer], on_pair: Callable[..., Any]
) -> None:
    # NOSCRIPT: the write is sent again after SCRIPT LOAD, and WAIT after it.
    primary, replica = pair
    m = on_pair(wait_replicas=1, wait_timeout=30)
    m.add("a", 1)
    with primary.client() as admin:
        admin.script_flush()
    assert m.add("b", 2) == 1
    with replica.client() as on_replica:
        assert on_replica.zrange("p:b", 0, -1) == [b"2"]


def _has_waitaof(server: RedisServer) -> bool:
    with server.client() as client:
        try:
            client.execute_command("WAITAOF", 0, 0, 1)
        except redis.exceptions.ResponseError:
            return False
    return True


def test_wait_aof(pair: tuple[RedisServer, RedisServer], on_pair: Callable[..., Any]) -> None:
    primary, _replica = pair
    if not _has_waitaof(primary):
        # Redis 7.0: said at the first write, before anything is written.
        m = on_pair(wait_replicas=1, wait_aof=True)
        with pytest.raises(redis.exceptions.ResponseError, match="needs the server's WAITAOF"):
            m.add("a", 1)
        with primary.client() as admin:
            assert admin.keys() == []
        return
    assert on_pair(wait_replicas=1, wait_aof=True, wait_timeout=30).add("a", 1) == 1
    assert on_pair(wait_aof=True, wait_timeout=30).add("a", 2) == 1  # the primary's AOF only
    with pytest.raises(DurabilityError) as raised:
        on_pair(wait_replicas=2, wait_aof=True, wait_timeout=0.5).add("a", 3)
    error = raised.value
    # The one replica has fsynced it, unless a loaded machine kept it from doing so
    # within the timeout (seen in CI at 50 ms): never the two asked for.
    assert (error.result, error.required, error.local) == (1, 2, True)
    assert error.acknowledged in (0, 1)
    assert "fsynced" in str(error)


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_wait_aof_without_an_aof_is_said_before_writing(
    real_server: RedisServer, flavor: str
) -> None:
    # The suite's server runs with appendonly no (and Redis 7.0 has no WAITAOF).
    with real_server.client() as admin:
        admin.flushall()
    cls = MultiMapWithTTL if flavor == "sync" else AsyncMultiMapWithTTL
    client = (
        redis.Redis(port=real_server.port)
        if flavor == "sync"
        else redis.asyncio.Redis(port=real_server.port)
    )
    m, close = _drive(cls, client, wait_aof=True)
    try:
        with pytest.raises(redis.exceptions.ResponseError) as raised:
            m.add("a", 1)
        said = str(raised.value)
        assert "wait_aof=True needs the server's WAITAOF" in said
        assert "Nothing was written" in said
        with real_server.client() as admin:
            assert admin.keys() == []
    finally:
        close()


# -- a cluster with a replica per primary --------------------------------------------


@pytest.fixture(scope="module")
def replicated_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if not servers.REDIS_SERVER:
        skip_or_fail(servers.MISSING)
    cluster = LocalCluster(tmp_path_factory.mktemp("replicated-cluster"), replicas=1).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def fresh_cluster(replicated_cluster: LocalCluster) -> LocalCluster:
    """The replicated cluster, emptied."""
    for node in replicated_cluster.primaries():
        with node.client() as client:
            client.flushall()
    return replicated_cluster


def _cluster_multimap(cluster: LocalCluster, flavor: str, **settings: Any) -> Any:
    port = cluster.primaries()[0].port
    if flavor == "sync":
        return _drive(MultiMapWithTTL, RedisCluster(host="127.0.0.1", port=port), **settings)
    return _drive(AsyncMultiMapWithTTL, AsyncRedisCluster(host="127.0.0.1", port=port), **settings)


def _waits(node: RedisServer) -> int:
    with node.client() as client:
        return int(client.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_cluster_waits_once_per_node_written(fresh_cluster: LocalCluster, flavor: str) -> None:
    replicated_cluster = fresh_cluster
    primaries = replicated_cluster.primaries()
    m, close = _cluster_multimap(replicated_cluster, flavor, wait_replicas=1, wait_timeout=30)
    try:
        m.add("warm", 1)  # the probe and the scripts
        before = [_waits(node) for node in primaries]
        names = [(f"n{i}", [i]) for i in range(300)]  # every node, many slots each
        assert m.add_many(names) == 300
        assert [_waits(node) - b for node, b in zip(primaries, before, strict=True)] == [1] * 3
        with pytest.raises(DurabilityError) as raised:
            _cluster_multimap_short(replicated_cluster, flavor).add_many(names, xx=True)
        assert (raised.value.result, raised.value.acknowledged) == (0, 1)
    finally:
        close()


def _cluster_multimap_short(cluster: LocalCluster, flavor: str) -> Any:
    m, close = _cluster_multimap(cluster, flavor, wait_replicas=2, wait_timeout=0.05)
    _closers.append(close)
    return m


_closers: list[Callable[[], None]] = []


@pytest.fixture(autouse=True)
def _close_late() -> Iterator[None]:
    yield
    while _closers:
        _closers.pop()()


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_cluster_node_whose_replica_is_frozen_raises(
    fresh_cluster: LocalCluster, flavor: str
) -> None:
    replicated_cluster = fresh_cluster
    primaries = {node.port for node in replicated_cluster.primaries()}
    replica = next(node for node in replicated_cluster.nodes if node.port not in primaries)
    m, close = _cluster_multimap(replicated_cluster, flavor, wait_replicas=1, wait_timeout=0.2)
    try:
        names = [(f"f{i}", [i]) for i in range(60)]
        m.add("warm", 1)
        with stopped(replica), pytest.raises(DurabilityError) as raised:
            m.add_many(names)
        # The fewest over the nodes written: the frozen replica's primary got none.
        assert (raised.value.result, raised.value.acknowledged, raised.value.required) == (
            60,
            0,
            1,
        )
    finally:
        close()
    replicated_cluster.wait_ok()
