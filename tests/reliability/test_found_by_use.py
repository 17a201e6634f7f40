"""Defects found by using the built package outside the suite's comfort (user testing).

Each test here failed on the code it was written against, for the reason its
docstring gives.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from multimapwithttl import MultiMapWithTTL
from multimapwithttl._cli import main

from .. import servers
from ..servers import LocalCluster, RedisServer


@pytest.mark.parametrize("scale", ["1e10", "1e308"])
def test_demo_scale_too_large_is_a_usage_error_not_a_traceback(
    scale: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``demo --scale 1e10`` passed the CLI's check, then the constructor's
    ValueError ("ttl must be at most 10000000000 seconds") escaped ``main`` as
    a traceback with exit status 1. The spec: usage errors exit 2, and no
    traceback."""
    monkeypatch.delenv("REDIS_URL", raising=False)  # the embedded fakeredis
    try:
        status = main(["demo", "--scale", scale])
    except SystemExit as stop:
        status = int(stop.code or 0)
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") <= 2  # a usage line and one error line
    assert "Traceback" not in err


def test_server_clock_score_on_a_fine_grain_never_hangs_the_server(
    real_server: RedisServer,
) -> None:
    """``clock="server"``, ``resolution=1.3e-6`` and ``ttl=1e10`` pass every
    check (ttl <= 1e10, resolution >= 1e-6), but write.lua's round-up loop
    (``while score < when do ticks = ticks + 1``) works on Lua doubles: with
    ``(now + ttl) / resolution`` above 2**53, ``ticks + 1 == ticks`` and the
    loop never ends whenever the first candidate undershoots (a few percent of
    server times). The server then answers every client BUSY until SCRIPT
    KILL. Either refusing these settings (ValueError) or computing the score
    without the endless loop is fine; hanging the server is not."""
    guard = real_server.client()
    threshold = guard.config_get("busy-reply-threshold").get("busy-reply-threshold", "5000")
    guard.config_set("busy-reply-threshold", 100)  # SCRIPT KILL allowed after 0.1 s
    client = real_server.client(socket_timeout=2, retry=Retry(NoBackoff(), 0))
    hung_at = None
    try:
        try:
            mm = MultiMapWithTTL(client, "found-by-use-grain", ttl=1e10, resolution=1.3e-6,
                                 clock="server")  # fmt: skip
        except ValueError:
            return  # refused up front: fine
        for attempt in range(150):  # ~6% of attempts hang: P(no hang in 150) < 1e-4
            try:
                mm.add("k", attempt)
            except ValueError:
                return  # refused before writing: fine
            except redis.TimeoutError:
                hung_at = attempt
                break
    finally:
        if hung_at is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    guard.script_kill()
                    break
                except redis.ResponseError as error:  # NOTBUSY: the server is free again
                    if "NOTBUSY" in str(error):
                        break
                    time.sleep(0.1)
        guard.config_set("busy-reply-threshold", threshold)
        guard.delete("found-by-use-grain:k")
        client.close()
        guard.close()
    assert hung_at is None, f"write.lua looped forever (attempt {hung_at}); SCRIPT KILL ended it"


class _Kind(str, enum.Enum):
    SESSION = "session"


class _Shard(int, enum.Enum):
    ONE = 1


@pytest.mark.parametrize(
    "name", [_Kind.SESSION, _Shard.ONE], ids=["str-enum-mixin", "int-enum-mixin"]
)
def test_a_mixed_in_enum_name_maps_to_the_key_0_1_0_uses(make: Any, raw: Any, name: Any) -> None:
    """0.1.0 forms every key as ``f"{key_prefix}:{name}"``. For a ``(str, Enum)``
    or ``(int, Enum)`` member that is ``"p:_Kind.SESSION"`` / ``"p:_Shard.ONE"`` on
    Python 3.11+, while this library wrote ``"p:session"`` / ``"p:1"``: during a
    rolling upgrade old and new processes then read and write different keys, and
    after it every value 0.1.0 stored under such a name is invisible (spec:
    wire-compatible, the same keys). Found with the real 0.1.0 in a separate
    process on Python 3.11."""
    mm = make("p", cast_fn=str)
    mm.add(name, "v")
    old_key = f"p:{name}"  # exactly what 0.1.0's _get_key() returns
    assert raw.exists(old_key) == 1, f"0.1.0 reads {old_key!r}; keys written: {raw.keys('p:*')}"
    raw.delete(old_key)
    raw.zadd(old_key, {"old": time.time() + 60})  # as 0.1.0 writes it
    assert list(mm.get(name)) == ["old"]


class _LoseOneReply:
    """A TCP proxy to a server that, once armed, cuts the connection instead of
    forwarding the reply to a script call (EVALSHA) it has passed on: the server
    ran the write, the client never hears of it."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = False
        self.cuts = 0
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [downstream, upstream]
            sent_script = threading.Event()
            threading.Thread(
                target=self._to_server, args=(downstream, upstream, sent_script), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(upstream, downstream, sent_script), daemon=True
            ).start()

    @staticmethod
    def _to_server(src: socket.socket, dst: socket.socket, sent_script: threading.Event) -> None:
        try:
            while data := src.recv(65536):
                if b"EVALSHA" in data.upper():
                    sent_script.set()
                dst.sendall(data)
        except OSError:
            pass

    def _to_client(
        self, src: socket.socket, dst: socket.socket, sent_script: threading.Event
    ) -> None:
        try:
            while data := src.recv(65536):
                if self.armed and sent_script.is_set():
                    self.armed = False
                    self.cuts += 1
                    for sock in (dst, src):  # shutdown wakes the other thread's recv
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    return
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.mark.parametrize("names", [1, 2000], ids=["one-call", "streamed-batch"])
def test_a_write_whose_reply_is_lost_never_reports_new_values_as_seen(
    real_server: RedisServer, names: int
) -> None:
    """The README's de-duplication window: ``add(..., nx=True)`` returns how
    many values are new, "handle them". When the reply of a write that the
    server ran is lost (a connection cut), redis-py >= 6's default retry (and
    ``_stream``'s own ``call_with_retry``) silently ran the script again, and
    the call returned 0: new events reported as already seen, and dropped by
    the caller. A lost reply must raise (outcome unknown), or the count must be
    the true one; never a wrong count. (``remove`` has the same flaw.)"""
    proxy = _LoseOneReply(real_server.port)
    client = redis.Redis(port=proxy.port)  # the installed redis-py's default retry policy
    mm = MultiMapWithTTL(client, "found-by-use-lost", ttl=600)
    data = [(f"n{i}", [17]) for i in range(names)]
    try:
        mm.add("warm", 1)  # script loaded, connection open: the next call goes straight out
        proxy.armed = True
        try:
            new: int | None = mm.add_many(data, nx=True)
        except redis.ConnectionError:
            new = None  # the caller is told the outcome is unknown: fine
        assert proxy.cuts == 1
        assert new in (None, names), f"{new} of {names} new values reported"
    finally:
        proxy.close()
        client.close()
        cleanup = real_server.client()
        cleanup.delete("found-by-use-lost:warm", *(f"found-by-use-lost:{n}" for n, _ in data))
        cleanup.close()


@pytest.fixture(scope="module")
def cluster_with_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """One master holding every slot and one replica of it: ``[master port, replica port]``."""
    if not servers.REDIS_SERVER:
        pytest.skip(servers.MISSING)
    cluster = LocalCluster(tmp_path_factory.mktemp("replicated"), masters=2)
    master, replica = cluster.nodes
    master.extra += ("--repl-diskless-sync-delay", "0")  # sync the replica at once
    try:
        for node in cluster.nodes:
            node.start()
        with master.client() as client:
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
            client.execute_command("CLUSTER", "MEET", "127.0.0.1", replica.port)
            master_id = client.execute_command("CLUSTER", "MYID")
        deadline = time.monotonic() + 30
        with replica.client() as client:
            while True:  # REPLICATE needs the master known first
                try:
                    client.execute_command("CLUSTER", "REPLICATE", master_id)
                    break
                except redis.ResponseError:
                    assert time.monotonic() < deadline, "the replica never learnt of its master"
                    time.sleep(0.1)
            while client.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica never synced"
                time.sleep(0.1)
        with master.client() as client:
            # CLUSTER SLOTS lists a replica once its replication offset is not 0:
            # a write advances it (the cluster refuses writes until its state is ok).
            while len(client.execute_command("CLUSTER", "SLOTS")[0]) < 4:  # master + replica
                assert time.monotonic() < deadline, "CLUSTER SLOTS never listed the replica"
                with contextlib.suppress(redis.ResponseError):
                    client.incr("{rep}:warm")
                time.sleep(0.05)
            cluster.wait_ok()  # on both nodes: Valkey 9 turns the state ok a moment later
            client.delete("{rep}:warm")
        yield [master.port, replica.port]
    finally:
        cluster.stop()


def _replica_reader(port: int) -> RedisCluster:
    """A cluster client that sends read commands to replicas, as redis-py offers."""
    try:
        from redis.cluster import LoadBalancingStrategy
    except ImportError:  # older redis-py: round robin over primary and replicas
        return RedisCluster(host="127.0.0.1", port=port, read_from_replicas=True)
    return RedisCluster(
        host="127.0.0.1", port=port, load_balancing_strategy=LoadBalancingStrategy.RANDOM_REPLICA
    )


def test_server_clock_reads_and_stats_recover_from_noscript_on_a_replica(
    cluster_with_replica: list[int],
) -> None:
    """Spec: reads run on replicas, work on a cluster, NOSCRIPT recovery included.
    A cluster client reading from replicas sends EVALSHA_RO (a read command) to a
    replica; NOSCRIPT there made the library SCRIPT LOAD, which redis-py's cluster
    client sends to the primaries only (and Redis 7 does not replicate SCRIPT LOAD),
    so the resend hit NOSCRIPT again: every ``clock="server"`` read and ``stats()``
    raised NoScriptError."""
    master_port, replica_port = cluster_with_replica
    writer = RedisCluster(host="127.0.0.1", port=master_port)
    reader = _replica_reader(master_port)
    try:
        MultiMapWithTTL(writer, "{rep}", cast_fn=str).add("a", "x")
        with redis.Redis(port=master_port) as master:
            master.execute_command("WAIT", 1, 1000)
        with redis.Redis(port=replica_port) as replica:
            replica.script_flush()  # a fresh replica: its script cache is empty
        mm = MultiMapWithTTL(reader, "{rep}", cast_fn=str, clock="server")
        assert list(mm.get("a")) == ["x"]
        assert mm.count("a") == 1
        assert mm.contains("a", "x")
        assert MultiMapWithTTL(reader, "{rep}").stats().names == 1
    finally:
        writer.close()
        reader.close()
