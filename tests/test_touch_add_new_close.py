"""Issue 28's calls: touch (how many were live), add_new (which were new), and close.

``touch`` and ``add_new`` go through the write script like every write, so the
write path's promises are asserted for them too: foreign keys refused and left
as they were, the key TTL ending with the newest live value, both clocks.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.cluster

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL
from multimapwithttl._commands import WriteMode

from .conftest import Backend, Factory
from .errors import response_error
from .servers import LocalCluster, RedisServer

CLOCKS = pytest.mark.parametrize("clock", ["client", "server"])
RESOLUTIONS = pytest.mark.parametrize("resolution", [1.0, 0.001])


# -- touch -----------------------------------------------------------------------


@CLOCKS
@RESOLUTIONS
def test_touch_says_the_session_is_live_every_time(
    make: Factory, clock: str, resolution: float
) -> None:
    # The recipe's old test, add(xx=True, ch=True) == 1, said 0 whenever the
    # new expiry equalled the old one (back-to-back calls in one resolution
    # step; on the frozen fakeredis clock, always).
    mm = make("tl", ttl=600, cast_fn=str, resolution=resolution, clock=clock)
    mm.add("sessions", "s1")
    assert [mm.touch("sessions", "s1") for _ in range(30)] == [1] * 30
    assert mm.touch("sessions", "s1", "s1", "gone") == 1  # a repeat counts once
    assert mm.touch("sessions", "gone") == 0
    assert mm.touch("nobody", "s1") == 0
    assert mm.touch("sessions") == 0
    assert list(mm.get("sessions")) == ["s1"]
    # Touching "nobody" made no key.
    assert make.backend.all_keys() == [b"tl:sessions"]  # type: ignore[attr-defined]


@CLOCKS
def test_touch_gives_the_new_expiry_and_adds_nothing(make: Factory, raw: Any, clock: str) -> None:
    mm = make("tn", ttl=100, cast_fn=str, clock=clock)
    mm.add("n", "a", "b", ttl=1000)
    # Expired but not yet collected: not live, so neither counted nor revived.
    raw.zadd("tn:n", {"dead": time.time() - 50})
    before = dict(mm.get_with_expiry("n"))
    assert mm.touch("n", "a", "dead", "never", ttl=3000) == 1
    after = dict(mm.get_with_expiry("n"))
    assert set(after) == {"a", "b"}
    assert after["b"] == before["b"]
    assert after["a"] >= before["a"] + 1900
    assert 2_000_000 < raw.pttl("tn:n") <= 3_002_000  # ends with "a", the newest
    # Shorter than before, with the instance's ttl: the key TTL follows the newest, "b".
    assert mm.touch("n", "a") == 1
    assert dict(mm.get_with_expiry("n"))["a"] < after["b"]
    assert 900_000 < raw.pttl("tn:n") <= 1_002_000
    assert raw.zscore("tn:n", "dead") is None  # collected, as writes do


@CLOCKS
def test_touch_and_add_new_end_the_key_with_its_newest_value(
    make: Factory, raw: Any, clock: str
) -> None:
    mm = make("tk", cast_fn=str, clock=clock)

    def ttl_s() -> float:
        return float(raw.pttl("tk:n")) / 1000

    assert mm.add_new("n", "x", ttl=100) == [True]
    assert 90 < ttl_s() <= 101
    assert mm.add_new("n", "y", "x", ttl=900) == [True, False]  # y is the newest now
    assert 850 < ttl_s() <= 901
    assert mm.add_new("n", "x", "y", ttl=50) == [False, False]  # nothing new: still y
    assert 850 < ttl_s() <= 901
    assert mm.touch("n", "x", ttl=2000) == 1  # x is the newest now
    assert 1950 < ttl_s() <= 2001
    assert mm.touch("n", "x", ttl=10) == 1  # back to y
    assert 850 < ttl_s() <= 901
    # A key an 0.1.0 writer left without a TTL gets one from either call.
    raw.zadd("tk:old", {"a": time.time() + 300})
    assert raw.pttl("tk:old") == -1
    assert mm.touch("old", "gone") == 0
    assert 250_000 < raw.pttl("tk:old") <= 301_000
    raw.persist("tk:old")
    assert mm.add_new("old", "a") == [False]
    assert 250_000 < raw.pttl("tk:old") <= 301_000


def test_touch_with_max_values(make: Factory) -> None:
    mm = make("tm", cast_fn=str, max_values=2)
    mm.add("n", "a", "b", ttl=500)
    assert mm.touch("n", "a", "b", "c", ttl=900) == 2
    assert sorted(mm.get("n")) == ["a", "b"]
    assert mm.count("n") == 2


def test_touch_and_add_new_refuse_foreign_keys(make: Factory, raw: Any) -> None:
    mm = make("tf", cast_fn=str)
    raw.zadd("tf:board", {"alice": 5, "bob": 12})  # a leaderboard: points, not expiry times
    raw.zadd("tf:ms", {"a": time.time() * 1000 + 60_000})  # milliseconds
    raw.set("tf:text", "v")
    before = make.backend.snapshot()  # type: ignore[attr-defined]
    for name in ("board", "ms", "text"):
        with pytest.raises(response_error(mm)):
            mm.touch(name, "alice", "a")
        with pytest.raises(response_error(mm)):
            mm.add_new(name, "alice", "a", "new")
    assert make.backend.snapshot() == before  # type: ignore[attr-defined]


def test_touch_and_add_new_check_their_input_before_writing(make: Factory) -> None:
    mm = make("tc")
    with pytest.raises(TypeError):
        mm.touch("n", None)
    with pytest.raises(TypeError):
        mm.add_new("n", 1, [2])
    with pytest.raises(TypeError):
        mm.add_new(None, 1)
    with pytest.raises(ValueError, match="ttl must be a positive"):
        mm.touch("n", 1, ttl=-1)
    with pytest.raises(ValueError, match="ttl must be finite"):
        mm.add_new("n", 1, ttl=float("nan"))
    with pytest.raises(ValueError, match="ttl must be a positive"):
        mm.add_new("n", ttl=0)  # the ttl is checked even with no values, as add does
    with pytest.raises(ValueError, match="cannot be encoded"):
        mm.add_new("n", "\ud800")
    assert make.backend.all_keys() == []  # type: ignore[attr-defined]
    assert mm.add_new("n") == []


# -- add_new -----------------------------------------------------------------------


@CLOCKS
@RESOLUTIONS
def test_add_new_says_which_values_were_new(
    make: Factory, raw: Any, clock: str, resolution: float
) -> None:
    mm = make("an", ttl=600, cast_fn=str, resolution=resolution, clock=clock)
    mm.add("ids", "a", ttl=5000)
    kept = dict(mm.get_with_expiry("ids"))["a"]
    raw.zadd("an:ids", {"old": time.time() - 50})  # expired: new again
    got = mm.add_new("ids", "b", "a", "old", "b", 1, "1", b"c")
    # "b" twice and 1 / "1" (stored alike): True at the first place only.
    assert got == [True, False, True, False, True, False, True]
    found = dict(mm.get_with_expiry("ids"))
    assert set(found) == {"a", "b", "old", "1", "c"}
    assert found["a"] == kept  # first seen wins: a live value keeps its expiry
    assert found["old"] > time.time()
    assert mm.add_new("ids", "c", "d", ttl=10) == [False, True]
    assert mm.add_new("ids", "a", "b") == [False, False]
    # The key lives as long as its newest value ("a").
    assert raw.pttl("an:ids") > 4_000_000


def test_add_new_of_a_batch_split_over_several_calls(make: Factory) -> None:
    # More values than one script call takes: several calls, answers joined in order.
    mm = make("ab", cast_fn=str)
    seen = [f"id{i}" for i in range(0, 2600, 2)]
    mm.add("ids", *seen)
    batch = [f"id{i}" for i in range(2600)]
    random.Random(28).shuffle(batch)
    got = mm.add_new("ids", *batch)
    assert got == [int(v[2:]) % 2 == 1 for v in batch]
    assert mm.count("ids") == 2600


def test_add_new_sum_matches_add_nx(make: Factory) -> None:
    mm = make("as")
    mm.add("x", *range(0, 100, 3))
    mm.add("y", *range(0, 100, 3))
    assert sum(mm.add_new("x", *range(100))) == mm.add("y", *range(100), nx=True) == 66


def test_add_new_with_max_values(make: Factory) -> None:
    mm = make("am", cast_fn=str, max_values=3)
    mm.add("n", "a", "b", ttl=5000)
    # Every value not live before is True, even one the cap evicts at once:
    # False would tell a de-duplicator "already recorded", which it is not.
    assert mm.add_new("n", "c", "d", "a") == [True, True, False]
    assert mm.count("n") == 3
    assert {"a", "b"} <= set(mm.get("n"))  # they expire last


def _add_new_worker(port: int, cluster: bool, seed: int, start: Any, out: Any) -> None:
    """One racer: adds every id in batches of a few names.

    Every racer goes through the ids in the same order, so they meet on the
    same ids at the same time; in batches of its own size, so each call
    overlaps other racers' calls differently.
    """
    client: Any = (
        redis.cluster.RedisCluster(host="127.0.0.1", port=port)
        if cluster
        else redis.Redis(port=port)
    )
    mm = MultiMapWithTTL(client, "race", 600, str)
    ids = list(range(2000))
    random.Random(28).shuffle(ids)
    size = 17 + 10 * seed
    mine: list[str] = []
    start.wait()  # every racer connected and ready: they overlap
    for first in range(0, len(ids), size):
        by_name: dict[str, list[str]] = {}
        for n in ids[first : first + size]:
            by_name.setdefault(f"w{n % 3}", []).append(str(n))  # names on several slots
        for name, batch in by_name.items():
            got = mm.add_new(name, *batch, *batch[:2])  # repeats: False, never counted
            assert got[len(batch) :] == [False] * len(batch[:2])
            mine += (f"{name}/{value}" for value, new in zip(batch, got, strict=False) if new)
    client.close()
    out.put(mine)


#: What the race must find: every id True exactly once, under its name.
RACED = sorted(f"w{n % 3}/{n}" for n in range(2000))


def test_add_new_is_exactly_once_across_processes(real_server: RedisServer) -> None:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start = context.Barrier(4)
    workers = [
        context.Process(target=_add_new_worker, args=(real_server.port, False, seed, start, out))
        for seed in range(4)
    ]
    for worker in workers:
        worker.start()
    found: Counter[str] = Counter()
    for _ in workers:
        found.update(out.get(timeout=300))
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sorted(found) == RACED
    assert set(found.values()) == {1}


def test_add_new_is_exactly_once_across_clients_on_a_cluster(real_cluster: LocalCluster) -> None:
    found: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(4)

    class Out:
        def put(self, mine: list[str]) -> None:
            with lock:
                found.update(mine)

    threads = [
        threading.Thread(
            target=_add_new_worker, args=(real_cluster.ports[0], True, seed, start, Out())
        )
        for seed in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(found) == RACED
    assert set(found.values()) == {1}


@pytest.mark.backends_except("fake")
def test_add_new_is_exactly_once_across_async_clients(backend: Backend) -> None:
    ids = [f"{n}" for n in range(2000)]

    async def one(seed: int) -> list[str]:
        client = backend.async_client()
        mm = AsyncMultiMapWithTTL(client, "arace", 600, str)
        order = list(ids)
        random.Random(seed).shuffle(order)
        mine: list[str] = []
        try:
            for start in range(0, len(order), 50):
                batch = order[start : start + 50]
                got = await mm.add_new("ids", *batch)
                mine += (value for value, new in zip(batch, got, strict=True) if new)
        finally:
            await client.aclose()
        return mine

    async def race() -> list[list[str]]:
        return list(await asyncio.gather(*(one(seed) for seed in range(4))))

    found = Counter(value for mine in asyncio.run(race()) for value in mine)
    assert sorted(found) == sorted(ids)
    assert set(found.values()) == {1}


# -- close and context managers ----------------------------------------------------


def _connected(raw: redis.Redis, name: str) -> int:
    return sum(1 for client in raw.client_list() if client.get("name") == name)


def _all_closed(nodes: list[redis.Redis], name: str) -> bool:
    """Whether the servers dropped every connection named ``name``, given up to 10 s to notice.

    A client's close only shuts its socket; the server drops the connection
    when its event loop reads the end of the stream, which a loaded machine
    may delay past the next CLIENT LIST (seen in CI, on redis-py 5.0's asyncio).
    """
    deadline = time.monotonic() + 10
    while sum(_connected(node, name) for node in nodes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("scheme", ["redis", "valkey"])
def test_close_closes_the_client_from_url_made(real_server: RedisServer, scheme: str) -> None:
    raw = real_server.client()
    url = f"{scheme}://127.0.0.1:{real_server.port}"
    with MultiMapWithTTL.from_url(url, "cl", client_name="mm-owned") as mm:
        mm.add("a", 1)
        assert _connected(raw, "mm-owned") == 1
    assert _all_closed([raw], "mm-owned")
    mm.close()  # again: no harm

    async def run() -> None:
        async with AsyncMultiMapWithTTL.from_url(url, "cl", client_name="amm-owned") as amm:
            assert await amm.get("a") == [1]
            assert _connected(raw, "amm-owned") == 1
        assert _all_closed([raw], "amm-owned")
        await amm.aclose()

    asyncio.run(run())


def test_close_leaves_a_given_client_open(real_server: RedisServer) -> None:
    raw = real_server.client()
    client = redis.Redis(port=real_server.port, client_name="mm-mine")
    with MultiMapWithTTL(client, "cg") as mm:
        mm.add("a", 1)
    mm.close()
    assert _connected(raw, "mm-mine") == 1
    assert client.zcard("cg:a") == 1

    async def run() -> None:
        aclient = redis.asyncio.Redis(port=real_server.port, client_name="amm-mine")
        async with AsyncMultiMapWithTTL(aclient, "cg") as amm:
            await amm.add("b", 2)
        await amm.aclose()
        assert _connected(raw, "amm-mine") == 1
        assert await aclient.zcard("cg:b") == 1
        await aclient.aclose()

    asyncio.run(run())
    client.close()


def test_close_on_a_cluster(real_cluster: LocalCluster) -> None:
    port = real_cluster.ports[0]
    nodes = [redis.Redis(port=p) for p in real_cluster.ports]
    url = f"redis+cluster://127.0.0.1:{port}"
    with MultiMapWithTTL.from_url(url, "cc", client_name="mmc-owned") as mm:
        mm.add_many([(f"n{i}", [i]) for i in range(20)])
        assert sum(_connected(node, "mmc-owned") for node in nodes) >= 3
    assert _all_closed(nodes, "mmc-owned")

    async def run() -> None:
        async with AsyncMultiMapWithTTL.from_url(url, "cc", client_name="ammc-owned") as amm:
            assert sum(len(v) for v in await amm.get_many(*(f"n{i}" for i in range(20)))) == 20
            assert sum(_connected(node, "ammc-owned") for node in nodes) >= 3
        assert _all_closed(nodes, "ammc-owned")

    asyncio.run(run())


def test_close_keeps_a_given_client_usable(make: Factory, raw: Any, flavor: str) -> None:
    mm = make("ck")
    mm.add("a", 1)
    if flavor == "sync":
        mm.close()
    else:
        mm.aclose()
    assert raw.zcard("ck:a") == 1
    assert mm.add("a", 2) == 1  # the client is the caller's: still open
    assert sorted(mm.get("a")) == [1, 2]


def test_the_write_modes_of_touch_and_add_new() -> None:
    # What write.lua's ARGV[2] says for each (see its header).
    assert WriteMode(xx=True, touch=True).arg() == "XX|T"
    assert WriteMode(xx=True, touch=True, cap=3).arg() == "XX|T3"
    assert WriteMode(nx=True, report=True).arg() == "NX|N"
    assert WriteMode(nx=True, report=True, cap=12).arg() == "NX|N12"
    assert WriteMode(xx=True, ch=True, cap=2).arg() == "XX|C2"
