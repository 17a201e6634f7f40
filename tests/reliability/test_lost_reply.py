"""A write whose reply is lost raises, on every client configuration; one never sent succeeds.

The de-duplication recipe trusts ``add(..., nx=True)``: it returns how many
values are new, and the caller handles those. If the client library resends
a write whose reply was lost (redis-py >= 6 retries by default, and so does an
explicit ``Retry``), the write runs twice and the second run reports the value
as already seen: 0, and the event is never handled. A lost reply must raise
the client's ConnectionError instead; the caller's retry then gets the truth.

And the opposite edge: a connection the server closed while it sat idle in
the pool (``timeout``, a proxy, a restart) never carried the write, which
must then go out on a fresh connection and succeed.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, ClusterDownError, MovedError, TryAgainError

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL
from multimapwithttl._commands import Call
from multimapwithttl._connections import (
    ASKING,
    CLUSTERDOWN_PAUSE,
    MAX_ROUNDS,
    TRYAGAIN_PAUSE,
    Address,
    Exchange,
    Failed,
    Pause,
    Refresh,
    SlotOwner,
    Target,
    route,
)
from multimapwithttl._keys import slot_of

from ..conftest import ClientLibrary
from ..servers import LocalCluster, RedisServer
from .proxy import ReplyDropper

CONFIGURATIONS = [
    "pooled",
    "single-connection",
    "async-pooled",
    "async-single-connection",
    "cluster",
    "async-cluster",
]
BATCH = 1500
_prefixes = itertools.count()


class Setup:
    """One client configuration behind reply-dropping proxies, and a way to inspect the data."""

    def __init__(
        self,
        library: str,
        configuration: str,
        retry: str,
        server: RedisServer,
        cluster: LocalCluster,
    ) -> None:
        self.lib = ClientLibrary(library)
        self.asyncio = configuration.startswith("async")
        self.loop = asyncio.new_event_loop() if self.asyncio else None
        self.prefix = f"lost-reply-{next(_prefixes)}"
        kwargs = _retry(library, self.asyncio, retry)
        if configuration.endswith("cluster"):
            self.proxies = behind_proxies(cluster.ports, kwargs)
            kind = self.lib.async_cluster if self.asyncio else self.lib.cluster
            self.client = kind(**kwargs)
            self.raw: Any = RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        else:
            self.proxies = {server.port: ReplyDropper(server.port)}
            if configuration.endswith("single-connection"):
                kwargs["single_connection_client"] = True
            kind = self.lib.asyncio if self.asyncio else self.lib.sync
            self.client = kind(port=self.proxies[server.port].port, **kwargs)
            self.raw = server.client()
        shell = AsyncMultiMapWithTTL if self.asyncio else MultiMapWithTTL
        self.mm: Any = shell(self.client, self.prefix, ttl=600, cast_fn=str)

    def run(self, result: Any) -> Any:
        """The result of a multimap method, awaited on this setup's loop if it is a coroutine."""
        if self.loop is None:
            return result
        return self.loop.run_until_complete(result)

    def arm(self) -> None:
        if len(self.proxies) > 1:
            # redis-py's asyncio cluster client may have routed a read of its own to
            # the wrong node first; its MOVED handling then put the node's announced
            # address in the slot table without address_remap: around the proxies
            # here (behind real NAT, unreachable: the library's call fails unsent,
            # reloads the table and goes again). A fresh table sends it through them.
            self.run(self.client.nodes_manager.initialize())
        for proxy in self.proxies.values():
            proxy.arm()

    def disarm(self) -> None:
        for proxy in self.proxies.values():
            proxy.disarm()

    @property
    def cuts(self) -> int:
        return sum(proxy.cuts for proxy in self.proxies.values())

    def stored(self, names: list[str], value: str) -> int:
        """How many of ``names`` hold ``value`` (read directly, not through the multimap)."""
        pipe = self.raw.pipeline(transaction=False)
        for name in names:
            pipe.zscore(f"{self.prefix}:{name}", value)
        return sum(score is not None for score in pipe.execute())

    def close(self) -> None:
        self.disarm()
        if self.loop is not None:
            self.loop.run_until_complete(_aclose(self.client))
            self.loop.close()
        else:
            self.client.close()
        keys = list(self.raw.scan_iter(match=f"{self.prefix}:*", count=1000))
        for key in keys:
            self.raw.delete(key)
        self.raw.close()
        for proxy in self.proxies.values():
            proxy.close()


def behind_proxies(ports: list[int], kwargs: dict[str, Any]) -> dict[int, ReplyDropper]:
    """A proxy per cluster node (by node port), and in ``kwargs`` what a cluster client
    needs to reach every node through its proxy: the first node's proxy to start from,
    and an ``address_remap`` (the nodes announce their own ports)."""
    proxies = {port: ReplyDropper(port) for port in ports}
    proxied = {port: proxy.port for port, proxy in proxies.items()}
    kwargs["host"], kwargs["port"] = "127.0.0.1", proxied[ports[0]]
    kwargs["address_remap"] = lambda address: (address[0], proxied.get(address[1], address[1]))
    return proxies


async def _aclose(client: Any) -> None:
    close: Callable[[], Awaitable[Any]] = getattr(client, "aclose", None) or client.close
    await close()


def _retry(library: str, asyncio_: bool, retry: str) -> dict[str, Any]:
    """No retry argument (the default), or an explicit one retrying on connection errors."""
    if retry == "default-retry":
        return {}
    backoff = importlib.import_module(f"{library}.backoff")
    retry_module = importlib.import_module(
        f"{library}.asyncio.retry" if asyncio_ else f"{library}.retry"
    )
    errors = importlib.import_module(f"{library}.exceptions")
    return {
        "retry": retry_module.Retry(backoff.ExponentialBackoff(), 3),
        "retry_on_error": [errors.ConnectionError],
    }


@pytest.fixture(params=["redis", "valkey"])
def library(request: pytest.FixtureRequest) -> str:
    if request.param == "valkey":
        pytest.importorskip("valkey", reason="valkey-py is not installed")
    return str(request.param)


@pytest.fixture(params=CONFIGURATIONS)
def setup(
    request: pytest.FixtureRequest,
    library: str,
    real_server: RedisServer,
    real_cluster: LocalCluster,
) -> Iterator[Setup]:
    retry = request.node.callspec.params.get("retry", "default-retry")
    setup = Setup(library, str(request.param), retry, real_server, real_cluster)
    try:
        yield setup
    finally:
        setup.close()


@pytest.mark.parametrize("retry", ["default-retry", "explicit-retry"])
def test_a_lost_reply_raises_and_the_write_ran_once(setup: Setup, retry: str) -> None:
    """The server stores the value, the reply never arrives: ``add(..., nx=True)``
    raises ConnectionError (it used to return 0 on a single-connection or cluster
    client: the client's retry ran the write again, which then found the value)."""
    setup.run(setup.mm.add("warm", "w"))  # the script is loaded, a connection open
    setup.arm()
    with pytest.raises((setup.lib.exceptions.ConnectionError, setup.lib.exceptions.TimeoutError)):
        setup.run(setup.mm.add("event", "e1", nx=True))
    setup.disarm()
    assert setup.cuts == 1
    assert setup.stored(["event"], "e1") == 1  # the write ran: only its reply was lost
    # The caller's own retry learns the truth: the value is there now.
    assert setup.run(setup.mm.add("event", "e1", nx=True)) == 0
    assert setup.run(setup.mm.add("event", "e2", nx=True)) == 1


@pytest.mark.parametrize("retry", ["default-retry", "explicit-retry"])
def test_add_new_whose_reply_is_lost_raises_and_ran_once(setup: Setup, retry: str) -> None:
    """``add_new``'s answer is lost with its reply: it raises, never answers from a
    resend (which would call every id old). Asking again, as the de-duplication
    recipe does, tells the ids nobody recorded (True) from the rest (False)."""
    setup.run(setup.mm.add("warm", "w"))  # the script is loaded, a connection open
    setup.arm()
    with pytest.raises((setup.lib.exceptions.ConnectionError, setup.lib.exceptions.TimeoutError)):
        setup.run(setup.mm.add_new("event", "e1", "e2"))
    setup.disarm()
    assert setup.cuts == 1
    assert setup.stored(["event"], "e1") == 1  # the write ran: only its reply was lost
    assert setup.run(setup.mm.add_new("event", "e1", "e3")) == [False, True]


@pytest.mark.parametrize("retry", ["default-retry", "explicit-retry"])
def test_a_delete_whose_reply_is_lost_raises_never_returns_a_count(
    setup: Setup, retry: str
) -> None:
    """Found by the standalone history (a proxy dropping replies): ``delete`` answers
    how many names existed; the client's retry ran it again after the lost reply and
    the second run, finding the name gone, answered 0. It must raise instead."""
    setup.run(setup.mm.add("event", "e1"))
    setup.run(setup.mm.add("other", "o1"))
    setup.run(setup.mm.delete("warm"))  # the script is loaded, a connection open
    setup.arm()
    with pytest.raises((setup.lib.exceptions.ConnectionError, setup.lib.exceptions.TimeoutError)):
        setup.run(setup.mm.delete("event"))
    setup.disarm()
    assert setup.cuts == 1
    assert setup.stored(["event"], "e1") == 0  # the delete ran: only its reply was lost
    assert setup.run(setup.mm.delete("event", "other")) == 1


@pytest.mark.parametrize("retry", ["default-retry", "explicit-retry"])
def test_a_batch_whose_reply_is_lost_raises_never_returns_a_count(setup: Setup, retry: str) -> None:
    """1,500 new values, a reply lost mid-batch: raise; never a count (it was 0 for
    all 1,500 on a single-connection client). A resend afterwards counts exactly
    the values that are still missing."""
    names = [f"n{i}" for i in range(BATCH)]
    setup.run(setup.mm.add("warm", "w"))
    setup.arm()
    lost = (setup.lib.exceptions.ConnectionError, setup.lib.exceptions.TimeoutError)
    with pytest.raises(lost) as caught:
        setup.run(setup.mm.add_many([(name, ["v"]) for name in names], nx=True))
    setup.disarm()
    assert setup.cuts >= 1
    stored = setup.stored(names, "v")
    assert stored >= 1  # at least the call whose reply was lost ran
    # The error says which names were written (their calls answered) and which may
    # have been (a reply lost): every stored name is among those, the written all are.
    written, unknown = set(caught.value.written), set(caught.value.unknown)
    assert unknown
    assert not written & unknown
    assert len(written) <= stored <= len(written | unknown)
    assert setup.stored(sorted(written), "v") == len(written)
    assert setup.stored([name for name in names if name not in written | unknown], "v") == 0
    assert setup.run(setup.mm.add_many([(name, ["v"]) for name in names], nx=True)) == (
        BATCH - stored
    )


# -- a connection the server closed while idle ------------------------------------------


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A server that closes a connection idle for more than 1 s (``timeout 1``)."""
    server = RedisServer(tmp_path_factory.mktemp("idle"), None, "--appendonly", "no").start()
    try:
        with server.client() as admin:
            admin.config_set("timeout", 1)
        yield server
    finally:
        server.stop()


def _idle_clients(library: ClientLibrary, flavor: str, port: int) -> dict[str, Any]:
    kind = library.asyncio if flavor == "async" else library.sync
    return {
        "pooled": kind(port=port),
        "single-connection": kind(port=port, single_connection_client=True),
        "explicit-retry": kind(port=port, **_retry(library.name, flavor == "async", "explicit")),
    }


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_write_after_the_server_closed_an_idle_connection_succeeds(
    idle_server: RedisServer, library: str, flavor: str
) -> None:
    """Redis ``timeout 1``, 2 s idle: the next write goes out on a fresh connection and
    succeeds (an asyncio client raised "Connection closed by server." although the
    server never received the write)."""
    lib = ClientLibrary(library)
    clients = _idle_clients(lib, flavor, idle_server.port)
    shell = AsyncMultiMapWithTTL if flavor == "async" else MultiMapWithTTL
    loop = asyncio.new_event_loop()

    def run(result: Any) -> Any:
        return loop.run_until_complete(result) if flavor == "async" else result

    maps = {
        what: shell(client, f"idle-{library}-{flavor}-{what}", cast_fn=str)
        for what, client in clients.items()
    }
    try:
        for mm in maps.values():
            run(mm.add("single", "before"))
            run(mm.add_many([("a", ["before"]), ("b", ["before"])]))
        time.sleep(2)  # the server closes every one of those connections after 1 s
        outcome = {what: run(mm.add("single", "after", nx=True)) for what, mm in maps.items()}
        assert outcome == dict.fromkeys(maps, 1)
        time.sleep(2)
        outcome = {
            what: run(mm.add_many([("a", ["after"]), ("b", ["after"])], nx=True))
            for what, mm in maps.items()
        }
        assert outcome == dict.fromkeys(maps, 2)
    finally:
        for client in clients.values():
            if flavor == "async":
                loop.run_until_complete(_aclose(client))
            else:
                client.close()
        loop.close()
        with idle_server.client() as admin:
            admin.flushall()


def test_a_cluster_write_after_a_node_closed_an_idle_connection_succeeds(
    real_cluster: LocalCluster, library: str
) -> None:
    """As above, on both cluster clients: every node with ``timeout 1``."""
    lib = ClientLibrary(library)
    nodes = [redis.Redis(port=port) for port in real_cluster.ports]
    loop = asyncio.new_event_loop()
    sync_client = lib.cluster(host="127.0.0.1", port=real_cluster.ports[0])
    async_client = lib.async_cluster(host="127.0.0.1", port=real_cluster.ports[0])
    maps = {
        "cluster": MultiMapWithTTL(sync_client, f"idle-{library}-c", cast_fn=str),
        "async-cluster": AsyncMultiMapWithTTL(async_client, f"idle-{library}-ac", cast_fn=str),
    }

    def run(result: Any) -> Any:
        return loop.run_until_complete(result) if asyncio.iscoroutine(result) else result

    names = [f"n{i}" for i in range(30)]  # every node gets some
    try:
        for node in nodes:
            node.config_set("timeout", 1)
        for mm in maps.values():
            run(mm.add_many([(name, ["before"]) for name in names]))
        time.sleep(2)
        outcome = {
            what: run(mm.add_many([(name, ["after"]) for name in names], nx=True))
            for what, mm in maps.items()
        }
        assert outcome == dict.fromkeys(maps, len(names))
    finally:
        for node in nodes:
            node.config_set("timeout", 0)
        sync_client.close()
        loop.run_until_complete(_aclose(async_client))
        loop.close()
        for node in nodes:
            for key in node.scan_iter(match=f"idle-{library}-*", count=1000):
                node.delete(key)
            node.close()


# -- redirections: what the routing of cluster writes sends again, and where -----------


def _write(key: bytes) -> Call:
    return Call(("EVALSHA", "0" * 40, 1, key, "argv"), resend=False)


def _drive(
    calls: list[Call], answer: Callable[[int, Target, Call], Any]
) -> tuple[list[Any], list[Any]]:
    """Run ``route(calls)``; ``answer(round, target, call)`` plays the cluster. Returns
    the replies and every step taken (an Exchange as its list of (target, call))."""
    routing = route(calls)
    steps: list[Any] = []
    result: Any = None
    round_ = 0
    try:
        while True:
            step = routing.send(result)
            result = None
            if isinstance(step, Exchange):
                steps.append(list(step.calls))
                result = [answer(round_, target, call) for target, call in step.calls]
                round_ += 1
            else:
                steps.append(step)
    except StopIteration as done:
        return list(done.value), steps


def test_routing_sends_each_write_to_its_slot_once_when_nothing_is_redirected() -> None:
    calls = [_write(b"a"), _write(b"b")]
    replies, steps = _drive(calls, lambda _r, _t, _c: 1)
    assert replies == [1, 1]
    assert steps == [[(SlotOwner(slot_of(b"a")), calls[0]), (SlotOwner(slot_of(b"b")), calls[1])]]


def test_routing_resends_only_what_a_redirection_says_did_not_run() -> None:
    """MOVED: reload the slot table, resend that call alone to the node named; ASK:
    ASKING then the call at the named node, no reload; an ordinary error reply is an
    answer, never resent."""
    moved, asked, failed, fine = (_write(k) for k in (b"m", b"a", b"f", b"ok"))
    wrongtype = redis.ResponseError("WRONGTYPE Operation against a key")

    def answer(round_: int, target: Target, call: Call) -> Any:
        if call is ASKING:
            return b"OK"
        if round_ == 0 and call is moved:
            return MovedError(f"{slot_of(b'm')} 127.0.0.1:7002")
        if round_ == 0 and call is asked:
            return AskError(f"{slot_of(b'a')} 127.0.0.1:7003")
        return wrongtype if call is failed else 1

    replies, steps = _drive([moved, asked, failed, fine], answer)
    assert replies == [1, 1, wrongtype, 1]
    assert steps[1:] == [
        Refresh(),
        [
            (Address("127.0.0.1", 7002, asking=False), moved),  # the node MOVED named
            (Address("127.0.0.1", 7003), ASKING),
            (Address("127.0.0.1", 7003), asked),
        ],
    ]


@pytest.mark.parametrize(
    ("error", "then"),
    [
        (TryAgainError("Multiple keys request during rehashing of slot"), [Pause(TRYAGAIN_PAUSE)]),
        (ClusterDownError("The cluster is down"), [Pause(CLUSTERDOWN_PAUSE), Refresh()]),
        (redis.ResponseError("TRYAGAIN Multiple keys"), [Pause(TRYAGAIN_PAUSE)]),  # code kept
    ],
    ids=["tryagain", "clusterdown", "tryagain-unparsed"],
)
def test_routing_waits_before_resending_after_tryagain_or_clusterdown(
    error: Exception, then: list[Any]
) -> None:
    call = _write(b"k")
    replies, steps = _drive([call], lambda round_, _t, _c: error if round_ == 0 else 1)
    assert replies == [1]
    assert steps == [[(SlotOwner(slot_of(b"k")), call)], *then, [(SlotOwner(slot_of(b"k")), call)]]


def test_routing_gives_up_after_a_bounded_number_of_rounds() -> None:
    moved = MovedError(f"{slot_of(b'k')} 127.0.0.1:7002")
    replies, steps = _drive([_write(b"k")], lambda _r, _t, _c: moved)
    assert replies == [moved]  # raised to the caller, as any error reply
    assert sum(isinstance(step, list) for step in steps) == MAX_ROUNDS + 1


def _port(node: redis.Redis) -> int:
    return int(node.connection_pool.connection_kwargs["port"])


def _owner(nodes: list[redis.Redis], slot: int) -> redis.Redis:
    """The node that serves ``slot`` now."""
    for start, end, primary, *_ in nodes[0].execute_command("CLUSTER", "SLOTS"):
        if int(start) <= slot <= int(end):
            port = int(primary[1])
            return next(n for n in nodes if _port(n) == port)
    raise AssertionError(f"no node serves slot {slot}")


class SlotMove:
    """A cluster slot about to move from ``source`` to ``target``, and a multimap on it.

    One node connection per master, the slot's owner and another master (with
    their ids), and ``mm`` on a cluster client of ``library`` (sync or asyncio:
    ``run`` awaits what it returns). ``close`` closes them all.
    """

    def __init__(
        self,
        cluster: LocalCluster,
        library: str,
        flavor: str,
        prefix: str,
        key: bytes,
        *,
        remapped: bool = False,
    ) -> None:
        self.lib = ClientLibrary(library)
        self.nodes = [redis.Redis(port=port, decode_responses=True) for port in cluster.ports]
        self.slot = slot_of(key)
        self.source = _owner(self.nodes, self.slot)
        self.target = next(node for node in self.nodes if node is not self.source)
        self.others = [n for n in self.nodes if n not in (self.source, self.target)]
        self.source_id, self.target_id = (
            n.execute_command("CLUSTER", "MYID") for n in (self.source, self.target)
        )
        self.flavor = flavor
        self.loop = asyncio.new_event_loop()
        kind = self.lib.async_cluster if flavor == "async" else self.lib.cluster
        # With ``remapped``, the client reaches every node through a forwarding proxy
        # (``address_remap``, as behind NAT or Docker port mapping).
        reach: dict[str, Any] = {"host": "127.0.0.1", "port": cluster.ports[0]}
        #: The proxies by node port (none unless ``remapped``).
        self.proxies = behind_proxies(cluster.ports, reach) if remapped else {}
        self.client = kind(**reach)
        self.prefix = prefix
        shell = AsyncMultiMapWithTTL if flavor == "async" else MultiMapWithTTL
        self.mm: Any = shell(self.client, prefix, cast_fn=str)

    def run(self, result: Any) -> Any:
        return self.loop.run_until_complete(result) if self.flavor == "async" else result

    def set_owner(self, node_id: str) -> None:
        """Give the slot to ``node_id`` (the source or the target), telling it first."""
        new, old = (self.target, self.source)
        if node_id == self.source_id:
            new, old = old, new
        for node in (new, old, *self.others):
            node.execute_command("CLUSTER", "SETSLOT", self.slot, "NODE", node_id)

    def start_migrating(self) -> None:
        self.target.execute_command("CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.source_id)
        self.source.execute_command("CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.target_id)

    def drop_keys(self) -> None:
        """Delete every key under the prefix, on every node."""
        for node in self.nodes:
            for key in node.scan_iter(match=f"{self.prefix}:*", count=1000):
                node.delete(key)

    def undo(self, redirection: str, key: str, cluster: LocalCluster) -> None:
        """The slot back on the source, stable and empty of ``key`` (after a move or ASK)."""
        if redirection == "moved":
            self.target.delete(key)  # a node gives a slot away only once it is empty
            self.set_owner(self.source_id)
        else:
            cleanup = self.target.pipeline(transaction=False)
            cleanup.execute_command("ASKING")
            cleanup.delete(key)
            cleanup.execute()
            for node in (self.source, self.target):
                node.execute_command("CLUSTER", "SETSLOT", self.slot, "STABLE")
        cluster.wait_ok()
        self.drop_keys()
        self.close()

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        if self.flavor == "async":
            self.loop.run_until_complete(_aclose(self.client))
        else:
            self.client.close()
        self.loop.close()
        for proxy in self.proxies.values():
            proxy.close()


@pytest.mark.parametrize("reach", ["direct", "remapped"])
@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize("redirection", ["moved", "ask"])
def test_a_cluster_write_follows_a_redirection_and_runs_once(
    real_cluster: LocalCluster, library: str, flavor: str, redirection: str, reach: str
) -> None:
    """The client's slot table is stale (the slot moved: MOVED) or the slot is being
    migrated and the key is not on its old node (ASK): the write is refused there, not
    run, so it goes to the right node and counts the value as new; once, not twice.

    ``remapped``: the nodes are reached through proxies (``address_remap``). MOVED and
    ASK name a node's own address, which the client must remap too: the write went
    to the unmapped address (not in the slot table: "a node not in the cluster"),
    or, once redis-py had cached that address itself, around the proxy."""
    prefix = f"redirected-{library}-{flavor}-{redirection}-{reach}"
    move = SlotMove(
        real_cluster,
        library,
        flavor,
        prefix,
        f"{prefix}:event".encode(),
        remapped=reach == "remapped",
    )
    target = move.target
    for node in move.nodes:
        # A node gives a slot away only while it holds no key of it: other tests'
        # keys on the shared cluster may share the slot.
        node.flushall()
    try:
        move.run(move.mm.add("warm", "w"))  # the client has read the slot table
        if redirection == "moved":
            move.set_owner(move.target_id)
        else:
            move.start_migrating()
        proxy = move.proxies.get(_port(target))
        before = proxy.evalsha if proxy else 0
        assert move.run(move.mm.add("event", "e1", nx=True)) == 1
        assert move.run(move.mm.add("event", "e1", nx=True)) == 0
        if proxy is not None:
            assert proxy.evalsha - before == 2  # both writes reached it through its proxy
        asking = target.pipeline(transaction=False)  # one connection: ASKING applies
        asking.execute_command("ASKING")
        asking.zscore(f"{prefix}:event", "e1")
        assert asking.execute()[1] is not None  # on the node the slot went to
    finally:
        move.undo(redirection, f"{prefix}:event", real_cluster)


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_cluster_write_goes_where_moved_says_though_the_reloaded_table_is_stale(
    real_cluster: LocalCluster, library: str, flavor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the cluster history (a graceful CLUSTER FAILOVER): the slot moved, and
    the slot table reloaded after MOVED still names the old owner (the node asked has
    not heard yet). The call must go to the node the MOVED names, as the cluster
    protocol says. It went back to the old owner instead, five times, and MovedError
    was raised, after the other calls of a batch had run."""
    prefix = f"moved-stale-{library}-{flavor}"
    move = SlotMove(real_cluster, library, flavor, prefix, f"{prefix}:event".encode())
    for node in move.nodes:
        node.flushall()  # a node gives a slot away only while it holds no key of it

    def stale(self: Any, *args: Any, **kwargs: Any) -> None:
        """A reload that reads the table from a node that has not heard yet."""

    async def stale_async(self: Any, *args: Any, **kwargs: Any) -> None:
        """The same, for the asyncio client."""

    try:
        move.run(move.mm.add("warm", "w"))  # the client has read the slot table
        move.set_owner(move.target_id)
        manager = type(move.client.nodes_manager)
        monkeypatch.setattr(manager, "initialize", stale_async if flavor == "async" else stale)
        assert move.run(move.mm.add_many({"event": ["e1"], "warm": ["w2"]}, nx=True)) == 2
        assert move.run(move.mm.add("event", "e1", nx=True)) == 0
        assert move.target.zscore(f"{prefix}:event", "e1") is not None
    finally:
        monkeypatch.undo()
        move.target.delete(f"{prefix}:event")  # a node gives a slot away only once empty
        move.set_owner(move.source_id)
        real_cluster.wait_ok()
        move.drop_keys()
        move.close()


def test_routing_reloads_the_slot_table_after_a_connection_failure() -> None:
    """After a failover the slot table names a dead primary: a connection that could not
    be opened sent nothing, so the calls go again once the table is reloaded; a failure
    once anything may have been sent is raised (after the reload), never resent."""
    call = _write(b"k")
    unreachable = redis.ConnectionError("Connection refused")
    routing = route([call])
    first = next(routing)
    assert routing.send(Failed(unreachable, sent=False)) == Refresh()
    assert next(routing) == first  # the same calls, to the owner in the new table
    with pytest.raises(StopIteration) as done:
        routing.send([1])
    assert done.value.value == [1]

    lost = redis.ConnectionError("Connection closed by server.")
    routing = route([call])
    next(routing)
    assert routing.send(Failed(lost, sent=True)) == Refresh()
    with pytest.raises(redis.ConnectionError) as raised:
        next(routing)
    assert raised.value is lost


@pytest.mark.parametrize("configuration", ["cluster", "async-cluster"])
def test_a_cluster_write_to_a_node_that_cannot_be_reached_raises_and_runs_later(
    library: str, configuration: str, real_server: RedisServer, real_cluster: LocalCluster
) -> None:
    """A node that cannot be reached (its connections cut, new ones refused): nothing is
    sent, so the slot table is reloaded and the write tried again a few times, then the
    client's ConnectionError is raised; nothing stored. Once the node answers again, the
    same write succeeds and counts its value as new."""
    setup = Setup(library, configuration, "default-retry", real_server, real_cluster)
    try:
        setup.run(setup.mm.add("warm", "w"))
        nodes = [redis.Redis(port=port) for port in real_cluster.ports]
        startup = real_cluster.ports[0]  # its proxy is the one the client started from
        # A name on another node: the client must still be able to reload its table.
        name, owner = next(
            (name, port)
            for name in (f"event{i}" for i in itertools.count())
            if (port := _port(_owner(nodes, slot_of(f"{setup.prefix}:{name}".encode())))) != startup
        )
        for node in nodes:
            node.close()
        down = setup.proxies[owner]
        down.refusing = True
        down.cut_all()
        with pytest.raises(setup.lib.exceptions.ConnectionError):
            setup.run(setup.mm.add(name, "e1", nx=True))
        assert setup.stored([name], "e1") == 0
        down.refusing = False
        assert setup.run(setup.mm.add(name, "e1", nx=True)) == 1
    finally:
        setup.close()


@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_cluster_write_refused_with_tryagain_is_retried_a_few_times_then_raised(
    real_cluster: LocalCluster, library: str, flavor: str
) -> None:
    """Mid-migration, a call whose keys are partly moved gets TRYAGAIN: it did not run, so
    it goes again after a pause, a bounded number of times, and then the error reaches the
    caller with nothing changed. Once the migration is over the same write succeeds."""
    prefix = f"{{tryagain-{library}-{flavor}}}"  # one slot for every name
    move = SlotMove(real_cluster, library, flavor, prefix, prefix.encode())
    source, target, lib, mm, run = move.source, move.target, move.lib, move.mm, move.run
    try:
        run(mm.add("a", "old"))  # "a" on the source, "b" nowhere
        move.start_migrating()
        with pytest.raises(
            lib.exceptions.ResponseError, match=r"(?i)multiple keys|tryagain|rehash"
        ):
            run(mm.add_many([("a", ["new"]), ("b", ["new"])], nx=True))
        assert source.zrange(f"{prefix}:a", 0, -1) == ["old"]  # nothing changed
        port = _port(target)
        source.execute_command("MIGRATE", "127.0.0.1", port, f"{prefix}:a", 0, 5000)
        move.set_owner(move.target_id)
        assert run(mm.add_many([("a", ["new"]), ("b", ["new"])], nx=True)) == 2
        assert sorted(target.zrange(f"{prefix}:a", 0, -1)) == ["new", "old"]
    finally:
        move.drop_keys()
        for node in (source, target):  # the slot back where it was, stable
            node.execute_command("CLUSTER", "SETSLOT", move.slot, "STABLE")
        move.set_owner(move.source_id)
        real_cluster.wait_ok()
        move.close()
