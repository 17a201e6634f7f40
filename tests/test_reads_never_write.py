"""Reads never write: plain read commands or EVALSHA_RO only, and they work on a replica."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from multimapwithttl import MultiMapWithTTL

from .servers import RedisServer

READ_COMMANDS = {"zrangebyscore", "evalsha_ro", "zscore", "zcount", "zscan", "scan"}
READ_COMMANDS |= {"script|load", "time"}
# On the client's clock reads are the plain commands 0.1.0 sends: the
# cheapest for the server, and no script at all.
PLAIN_READS = {"zrangebyscore", "zscore", "zcount", "scan", "zscan"}
# With max_values, reads of the values the cap keeps: read commands too.
CAPPED_READS = {"zrange", "zrevrank"}


def _commands_run(client: Any) -> set[str]:
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_") for name in stats}


@pytest.mark.parametrize("cap", [None, 1], ids=["uncapped", "capped"])
@pytest.mark.parametrize("clock", ["client", "server"])
def test_read_methods_issue_only_read_commands(
    make: Any, raw: Any, clock: str, cap: int | None
) -> None:
    backend = make.backend
    if backend.name == "fake":
        pytest.skip("fakeredis keeps no commandstats; the real server and cluster check this")
    make("ro").add_many([(f"n{i}", [i, i + 1]) for i in range(50)])
    mm = make("ro", clock=clock, max_values=cap)
    for node in backend.raw_nodes():
        node.config_resetstat()
    list(mm.get("n1"))
    list(mm.get_many(*(f"n{i}" for i in range(50))))
    mm.count("n1")
    mm.contains("n1", 1)
    mm.get_with_expiry("n1")
    mm.get_many_with_expiry(*(f"n{i}" for i in range(50)))
    list(mm.iter_values("n1", count=1))
    list(mm.names())
    ran: set[str] = set()
    for node in backend.raw_nodes():
        ran |= _commands_run(node)
    ran -= {"config|resetstat", "info", "ping", "cluster|slots", "cluster|shards", "command"}
    ran = {c for c in ran if not c.startswith(("client|", "hello", "command|"))}
    allowed = PLAIN_READS if clock == "client" else READ_COMMANDS
    if cap is not None:
        allowed |= CAPPED_READS
    if clock == "server":  # TIME is read inside read-only scripts
        assert "evalsha_ro" in ran
    assert ran <= allowed, ran - allowed


@pytest.fixture
def replica(real_server: RedisServer, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(
        tmp_path / "replica", None, "--replicaof", "127.0.0.1", str(real_server.port)
    ).start()
    yield server
    server.stop()


@pytest.mark.parametrize("clock", ["client", "server"])
def test_every_read_works_on_a_read_only_replica(
    real_server: RedisServer, replica: Any, clock: Any
) -> None:
    primary = real_server.client()
    primary.flushall()
    MultiMapWithTTL(primary, "rep", ttl=600).add_many([("a", [1, 2]), ("b", [3])])
    replica_client = replica.client()
    deadline = time.monotonic() + 10
    while replica_client.dbsize() < 2:
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.05)
    replica_client.config_resetstat()
    capped = MultiMapWithTTL(replica_client, "rep", clock=clock, max_values=1)
    assert [sorted(v) for v in capped.get_many("a", "b", "c")] == [[2], [3], []]
    assert list(capped.get("a")) == [2]  # ties: the bytes that sort last
    assert capped.count("a") == 1
    assert not capped.contains("a", 1)
    assert [v for v, _ in capped.get_with_expiry("a")] == [2]
    assert [[v for v, _ in p] for p in capped.get_many_with_expiry("a", "c")] == [[2], []]
    assert list(capped.iter_values("a", count=1)) == [2]
    mm = MultiMapWithTTL(replica_client, "rep", clock=clock)
    assert [sorted(v) for v in mm.get_many("a", "b", "c")] == [[1, 2], [3], []]
    assert sorted(mm.get("a")) == [1, 2]
    assert mm.count("a") == 2
    assert mm.contains("b", 3)
    assert [v for v, _ in mm.get_with_expiry("b")] == [3]
    assert [[v for v, _ in pairs] for pairs in mm.get_many_with_expiry("b", "c")] == [[3], []]
    assert sorted(mm.iter_values("a", count=1)) == [1, 2]
    assert sorted(mm.names()) == ["a", "b"]
    ran = _commands_run(replica_client) - {"config|resetstat"}
    allowed = READ_COMMANDS | CAPPED_READS
    assert ran <= allowed, ran - allowed  # nothing that writes, not even a script
    with pytest.raises(redis.ReadOnlyError):
        mm.add("a", 4)
