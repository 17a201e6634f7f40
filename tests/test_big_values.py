"""Big members never pass through Lua, and every guarantee holds all the same (issue 27).

A plain write of a name whose members come to 1 KB or more goes as WATCH,
a read-only check of the keys, then MULTI/ZADD/PEXPIRE/EXEC (Redis's Lua
hashes every byte a script is given). These tests hold that path to what
the write script does: the same counts and end state, foreign keys left
byte for byte, nothing written over maxmemory or past an ACL, a lost EXEC
reply raised and never resent, a key changed under the WATCH checked again.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL, _commands, _core
from multimapwithttl._keys import slot_of
from multimapwithttl._protocol import Transaction

from .conftest import Factory
from .reliability.test_lost_reply import SlotMove
from .servers import LocalCluster, RedisServer

BIG = 4000  # bytes per value: well over the threshold


def big(i: int, size: int = BIG) -> bytes:
    return b"%06d" % i + b"x" * (size - 6)


def batch(n: int, start: int = 0) -> list[tuple[str, list[bytes]]]:
    return [(f"n{i}", [big(i)]) for i in range(start, start + n)]


def members(raw: Any, key: str) -> list[bytes]:
    # Sorted by member, not score: two writes in the same second tie on the
    # score and sort by bytes, so the score order hangs on the clock.
    return sorted(raw.zrange(key, 0, -1))


def calls(raw: Any, command: str) -> int:
    stats = raw.info("commandstats").get(f"cmdstat_{command}")
    return int(stats["calls"]) if stats else 0


def inner(mm: Any) -> Any:
    """The multimap itself (the async one behind the tests' blocking wrapper)."""
    return getattr(mm, "_inner", mm)


def scenario(mm: Any, raw: Any, prefix: str) -> list[Any]:
    """Writes touching each case the check tells apart; what each returned."""
    now = time.time()
    out: list[Any] = [mm.add_many(batch(20))]
    out.append(mm.add_many(batch(20)))  # a refresh: nothing new
    raw.zadd(f"{prefix}:n1", {b"gone": now - 5})  # expired: collected first, not counted
    raw.zadd(f"{prefix}:n2", {b"later": now + 7200})  # newer than the write: the script's
    raw.zadd(f"{prefix}:n3", {big(3) + b"-2": now - 5})
    out.append(mm.add_many([("n1", [big(1), big(99)]), ("n2", [big(2)]), ("n3", [big(3) + b"-2"])]))
    out.append(mm.add_many([("n4", [big(4, 100)]), ("n5", [big(5)]), ("n30", [big(30), 7])]))
    return out


def state(raw: Any, prefix: str) -> dict[str, tuple[list[bytes], bool]]:
    return {
        key.decode(): (members(raw, key), raw.pttl(key) > 0)
        for key in sorted(raw.scan_iter(match=f"{prefix}:*"))
    }


def test_big_writes_count_and_store_as_the_write_script_does(
    make: Factory, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        patched.setattr(_commands, "BIG_KEY_BYTES", 1 << 40)  # everything through write.lua
        by_script = scenario(make("s", cast_fn=bytes), raw, "s")
    by_transaction = scenario(make("t", cast_fn=bytes), raw, "t")
    assert by_transaction == by_script == [20, 0, 2, 3]
    script_state = {key[2:]: value for key, value in state(raw, "s").items()}
    assert {key[2:]: value for key, value in state(raw, "t").items()} == script_state
    assert all(has_ttl for _, has_ttl in script_state.values())


@pytest.mark.backends_except("fake")  # fakeredis runs no #!lua scripts: the script path only
def test_big_values_never_reach_the_write_script(make: Factory, raw: Any) -> None:
    mm = make("t", cast_fn=bytes)
    nodes = make.backend.raw_nodes()
    for node in nodes:
        node.config_resetstat()
    assert mm.add_many(batch(50)) == 50
    assert sum(calls(node, "exec") for node in nodes) > 0
    assert sum(calls(node, "zadd") for node in nodes) == 50
    read = mm.get_many(*[f"n{i}" for i in range(50)])
    assert list(map(list, read)) == [[big(i)] for i in range(50)]
    assert all(node.pttl(key) > 0 for node in nodes for key in node.scan_iter(match="t:*"))


def dump(raw_nodes: list[Any], keys: list[str]) -> dict[str, Any]:
    found = {}
    for key in keys:
        for node in raw_nodes:
            with contextlib.suppress(redis.exceptions.ResponseError):
                value = node.dump(key)
                if value is not None:
                    found[key] = (value, node.pttl(key))
    return found


def test_foreign_keys_are_left_byte_for_byte_and_the_others_written(
    make: Factory, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    results = {}
    for prefix in ("s", "t"):
        raw.zadd(f"{prefix}:board", {b"alice": 40, b"bob": 12})
        raw.zadd(f"{prefix}:inf", {b"forever": float("inf")})
        raw.zadd(f"{prefix}:old", {b"e": now - 10, b"points": 5})
        raw.set(f"{prefix}:text", b"hello")
        foreign = [f"{prefix}:{name}" for name in ("board", "inf", "old", "text")]
        before = dump(make.backend.raw_nodes(), foreign)
        with monkeypatch.context() as patched:
            if prefix == "s":
                patched.setattr(_commands, "BIG_KEY_BYTES", 1 << 40)
            mm = make(prefix, cast_fn=bytes)
            data = [("a", [big(1)]), ("board", [big(2)]), ("inf", [big(3)])]
            data += [("old", [big(4)]), ("text", [big(5)]), ("z", [big(6)])]
            with pytest.raises(make.backend.exceptions.ResponseError) as caught:
                mm.add_many(data)
        assert dump(make.backend.raw_nodes(), foreign) == before
        error = caught.value
        results[prefix] = (sorted(error.written), error.unknown, type(error))
        assert members(raw, f"{prefix}:a") == [big(1)]
        assert members(raw, f"{prefix}:z") == [big(6)]
    assert results["t"] == results["s"] == (["a", "z"], [], results["s"][2])


# -- a key changed under the WATCH: EXEC does nothing, the write is checked again ------


@pytest.mark.parametrize("times", [1, 10])
def test_a_key_changed_between_check_and_exec_is_checked_again(
    make: Factory, raw: Any, times: int
) -> None:
    """Another writer changes a key after each check, ``times`` times: EXEC does
    nothing and the chunk is checked again; past a few tries, the write script
    (which nothing interrupts) writes it. The count is right either way."""
    if make.backend.name == "fake":
        pytest.skip("fakeredis runs no #!lua scripts: the script path only")
    if make.backend.cluster:
        pytest.skip("one slot's transaction: see the cluster tests below")
    mm = make("t", cast_fn=bytes)
    target = inner(mm)
    perform = target._perform
    meddled: list[int] = []

    def meddle(request: Any) -> Any:
        if isinstance(request, Transaction):
            then = request.then

            def change_then_plan(replies: list[Any]) -> Any:
                calls = then(replies)
                sends_exec = calls and any(call.args[0] == "EXEC" for call in calls)
                if sends_exec and len(meddled) < times:  # between this check and its EXEC
                    member = b"other-%d" % len(meddled)
                    meddled.append(raw.zadd("t:n0", {member: time.time() + 60}))
                return calls

            request.then = change_then_plan
        return perform(request)

    target._perform = meddle
    raw.config_resetstat()
    assert mm.add_many(batch(5)) == 5  # counted once, however many tries
    assert meddled == [1] * min(times, 3)
    assert len(members(raw, "t:n0")) == 1 + len(meddled)
    assert all(raw.pttl(f"t:n{i}") > 0 for i in range(5))
    assert calls(raw, "exec") == min(times + 1, 3)


def test_each_transaction_is_packed_while_the_server_runs_the_exchange_before(
    make: Factory, raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction's ZADDs do not wait on its check's reply (only which of them
    go in does): they are packed after the check is sent and before its reply
    is read, while the server works, and each chunk is packed once."""
    if make.backend.name == "fake":
        pytest.skip("fakeredis runs no #!lua scripts: the script path only")
    if make.backend.cluster:
        pytest.skip("one slot's transaction: see the cluster tests below")
    events: list[Any] = []
    real_zadds = _commands.zadd_calls

    def zadds(writes: Any, score: str) -> Any:
        events.append(("pack", len(writes)))
        return real_zadds(writes, score)

    monkeypatch.setattr(_core, "zadd_calls", zadds)
    monkeypatch.setattr(_commands, "zadd_calls", zadds)
    mm = make("p", cast_fn=bytes)
    data = [(f"n{i}", [big(i, 20_000)]) for i in range(120)]  # 2.4 MB: three transactions
    mm.add_many(data[:1])  # check.lua loaded: a NOSCRIPT starts the conversation again
    events.clear()
    target = inner(mm)
    perform = target._perform

    def spy(request: Any) -> Any:
        if isinstance(request, Transaction):
            meanwhile, then = request.meanwhile, request.then
            assert meanwhile is not None

            def noted_meanwhile() -> None:
                events.append("meanwhile")
                meanwhile()

            def noted_then(replies: list[Any]) -> Any:
                events.append("then")
                return then(replies)

            request.meanwhile, request.then = noted_meanwhile, noted_then
        return perform(request)

    target._perform = spy
    assert mm.add_many(data) == 119
    packs = [i for i, event in enumerate(events) if isinstance(event, tuple)]
    assert sum(events[i][1] for i in packs) == 120
    assert len(packs) == 3
    assert all(events[i - 1] == "meanwhile" for i in packs)
    assert sum(raw.zcard(f"p:n{i}") for i in range(120)) == 120


# -- over maxmemory, past an ACL: refused, nothing written -------------------------------


@pytest.fixture
def full_server(tmp_path: Path, real_server: RedisServer) -> Iterator[RedisServer]:
    """A server of its own, over its maxmemory with noeviction."""
    server = RedisServer(tmp_path / "full", None, "--appendonly", "no").start()
    try:
        with server.client() as client:
            client.set("other", "x" * 100_000)
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", str(used // 2))
        yield server
    finally:
        server.stop()


def run(flavor: str, port: int, write: Callable[[Any], Any], **client_kwargs: Any) -> Any:
    """``write(mm)`` on a fresh client: what it returned, or the exception it raised."""
    if flavor == "sync":
        with redis.Redis(port=port, **client_kwargs) as client:
            try:
                return write(MultiMapWithTTL(client, "big", cast_fn=bytes))
            except Exception as error:
                return error

    async def go() -> Any:
        client = redis.asyncio.Redis(port=port, **client_kwargs)
        try:
            return await write(AsyncMultiMapWithTTL(client, "big", cast_fn=bytes))
        except Exception as error:
            return error
        finally:
            await client.aclose()

    return asyncio.run(go())


def stored(port: int) -> list[bytes]:
    with redis.Redis(port=port) as client:
        return sorted(client.scan_iter(match="big:*"))


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_over_maxmemory_a_big_write_is_refused_and_writes_nothing(
    full_server: RedisServer, flavor: str
) -> None:
    error = run(flavor, full_server.port, lambda mm: mm.add_many(batch(30)))
    assert isinstance(error, redis.exceptions.OutOfMemoryError), error
    assert stored(full_server.port) == []


@pytest.fixture
def limited(real_server: RedisServer) -> Iterator[dict[str, Any]]:
    """Credentials of a user who may use every command on ``big:a*`` only."""
    with real_server.client() as client:
        client.flushall()
        client.acl_setuser(
            "limited", enabled=True, passwords=["+secret"], keys=["big:a*"], commands=["+@all"]
        )
        yield {"username": "limited", "password": "secret"}
        client.acl_deluser("limited")
        client.flushall()


@pytest.fixture
def no_zadd(real_server: RedisServer) -> Iterator[dict[str, Any]]:
    """Credentials of a user who may run everything but ZADD."""
    with real_server.client() as client:
        client.flushall()
        client.acl_setuser(
            "nozadd", enabled=True, passwords=["+secret"], keys=["*"], commands=["+@all", "-zadd"]
        )
        yield {"username": "nozadd", "password": "secret"}
        client.acl_deluser("nozadd")
        client.flushall()


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_user_without_zadd_is_refused_and_nothing_is_written(
    real_server: RedisServer, no_zadd: dict[str, Any], flavor: str
) -> None:
    error = run(flavor, real_server.port, lambda mm: mm.add_many(batch(10)), **no_zadd)
    assert isinstance(error, redis.exceptions.NoPermissionError), error
    assert "ZADD" in str(error)
    assert stored(real_server.port) == []


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_name_the_user_may_not_write_is_refused_and_the_error_says_what_was_written(
    real_server: RedisServer, limited: dict[str, Any], flavor: str
) -> None:
    data = [("a1", [big(1)]), ("b1", [big(2)]), ("a2", [big(3)])]
    error = run(flavor, real_server.port, lambda mm: mm.add_many(data), **limited)
    assert isinstance(error, redis.exceptions.NoPermissionError), error
    # As the write script: the refused name's call (here all three) wrote nothing.
    found = stored(real_server.port)
    assert b"big:b1" not in found
    assert sorted(error.written) == [key.decode()[4:] for key in found]
    assert error.unknown == []


# -- a lost EXEC reply: raised, never resent ------------------------------------------


def ran(raw: Any, execs: int) -> None:
    """Wait until the server has run ``execs`` EXECs (the proxy's side may lag the client's)."""
    for _ in range(1000):
        if calls(raw, "exec") >= execs:
            return
        time.sleep(0.01)


class ExecReplyDropper:
    """Forwards to a Redis server; once a client has sent EXEC, cuts that connection
    before any reply to it comes back (the server still runs it)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            cut = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, cut), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, cut), daemon=True).start()

    def _up(self, src: socket.socket, dst: socket.socket, cut: threading.Event) -> None:
        tail = b""
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if b"EXEC\r\n" in tail + data:
                    # The server gets all of it; the client, no reply: its
                    # side is closed, the server's kept open while it works.
                    # Cut before forwarding: on a busy machine the reply could
                    # otherwise pass back before the cut (a CI flake).
                    cut.set()
                    dst.sendall(data)
                    self.cuts += 1
                    self._close(src)
                    return
                dst.sendall(data)
                tail = data[-8:]
        self._close(src, dst)

    def _down(self, src: socket.socket, dst: socket.socket, cut: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not cut.is_set():
                    dst.sendall(data)
        self._close(src, dst)

    @staticmethod
    def _close(*sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize("retry", ["default", "retrying"])
def test_a_lost_exec_reply_raises_and_the_write_ran_once(
    real_server: RedisServer, flavor: str, retry: str
) -> None:
    with real_server.client() as raw:
        raw.flushall()
        raw.config_resetstat()
    proxy = ExecReplyDropper(real_server.port)
    kwargs: dict[str, Any] = {}
    if retry == "retrying":
        kwargs["retry_on_error"] = [redis.exceptions.ConnectionError]
    try:
        error = run(flavor, proxy.port, lambda mm: mm.add_many(batch(10)), **kwargs)
    finally:
        proxy.close()
    assert isinstance(error, redis.exceptions.ConnectionError), error
    assert proxy.cuts == 1
    assert sorted(error.unknown) == sorted(f"n{i}" for i in range(10))
    assert error.written == []
    with real_server.client() as raw:
        ran(raw, 1)
        assert calls(raw, "exec") == 1  # never resent
        assert len(stored(real_server.port)) == 10  # it ran, once


# -- a cluster: a transaction per slot; a slot moving under the WATCH --------------------


@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize("redirection", ["moved", "ask"])
def test_a_big_cluster_write_follows_a_redirection_and_runs_once(
    real_cluster: LocalCluster, flavor: str, redirection: str
) -> None:
    """The slot moved (MOVED) or is being migrated with the key not on its old
    node (ASK): WATCH is refused there, nothing is written, and the write goes
    to the slot's new node once."""
    prefix = f"big-redirected-{flavor}-{redirection}"
    move = SlotMove(real_cluster, "redis", flavor, prefix, f"{prefix}:event".encode())
    target = move.target
    for node in move.nodes:
        node.flushall()  # a node gives a slot away only while it holds no key of it
    value = "e" * BIG
    try:
        move.run(move.mm.add("warm", "w"))  # the client has read the slot table
        if redirection == "moved":
            move.set_owner(move.target_id)
        else:
            move.start_migrating()
        assert move.run(move.mm.add_many([("event", [value])])) == 1
        assert move.run(move.mm.add_many([("event", [value])])) == 0
        asking = target.pipeline(transaction=False)  # one connection: ASKING applies
        asking.execute_command("ASKING")
        asking.zcard(f"{prefix}:event")
        asking.execute_command("ASKING")  # to the next command only
        asking.pttl(f"{prefix}:event")
        _, count, _, ttl = asking.execute()
        assert count == 1  # on the node the slot went to, once
        assert ttl > 0
    finally:
        move.undo(redirection, f"{prefix}:event", real_cluster)


def test_a_big_cluster_batch_runs_one_transaction_per_slot(make: Factory) -> None:
    if not make.backend.cluster:
        pytest.skip("a cluster's slots")
    mm = make("t", cast_fn=bytes)
    nodes = make.backend.raw_nodes()
    for node in nodes:
        node.config_resetstat()
    assert mm.add_many(batch(60)) == 60
    slots = {slot_of(f"t:n{i}".encode()) for i in range(60)}
    assert sum(calls(node, "exec") for node in nodes) == len(slots)
    assert sum(calls(node, "zadd") for node in nodes) == 60


@pytest.fixture(params=["-watch", "-multi", "-exec", "-unwatch"])
def without_transactions(
    real_server: RedisServer, request: pytest.FixtureRequest
) -> Iterator[dict[str, Any]]:
    """Credentials of a user who may run everything but one transaction command."""
    with real_server.client() as client:
        client.flushall()
        client.acl_setuser(
            "notx",
            enabled=True,
            passwords=["+secret"],
            keys=["*"],
            commands=["+@all", request.param],
        )
        yield {"username": "notx", "password": "secret"}
        client.acl_deluser("notx")
        client.flushall()


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_user_without_transactions_writes_big_values_through_the_script(
    real_server: RedisServer, without_transactions: dict[str, Any], flavor: str
) -> None:
    def twice(mm: Any) -> Any:
        if flavor == "sync":
            first, second = mm.add_many(batch(10)), mm.add_many(batch(12))
            return [first, second, list(map(list, mm.get_many("n0", "n11")))]

        async def go() -> Any:
            first = await mm.add_many(batch(10))
            second = await mm.add_many(batch(12))
            return [first, second, [list(v) for v in await mm.get_many("n0", "n11")]]

        return go()

    result = run(flavor, real_server.port, twice, **without_transactions)
    assert result == [10, 2, [[big(0)], [big(11)]]]
    assert len(stored(real_server.port)) == 12


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_lost_exec_reply_in_a_batch_of_transactions_says_which_names_are_unknown(
    real_server: RedisServer, flavor: str
) -> None:
    with real_server.client() as raw:
        raw.flushall()
        raw.config_resetstat()
    proxy = ExecReplyDropper(real_server.port)
    try:
        # ~2.4 MB of values: three transactions, the first EXEC's reply lost.
        error = run(flavor, proxy.port, lambda mm: mm.add_many(batch(600)))
    finally:
        proxy.close()
    assert isinstance(error, redis.exceptions.ConnectionError), error
    assert error.written == []
    assert 0 < len(error.unknown) < 600
    with real_server.client() as raw:
        ran(raw, 1)
    found = {key.decode()[4:] for key in stored(real_server.port)}
    assert found == set(error.unknown)  # the first transaction ran; the next never did
