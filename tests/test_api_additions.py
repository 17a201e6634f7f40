"""The API additions of issue 17: iter_values, get_many_with_expiry, from_url, the
constructor's client check, repr, the cast_fn hint and delete's count."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import fakeredis
import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL
from multimapwithttl._protocol import Send

from .conftest import Factory
from .errors import response_error
from .servers import LocalCluster, RedisServer

CLOCKS = pytest.mark.parametrize("clock", ["client", "server"])


def _key(mm: Any, name: str) -> str:
    return f"{mm.key_prefix}:{name}"


# -- delete returns how many names existed ------------------------------------------


def test_delete_returns_how_many_names_existed(make: Factory) -> None:
    mm = make("dc")
    # Names spread over slots (and nodes, on the cluster); one given twice.
    mm.add_many([(f"n{i}", [i]) for i in range(20)])
    assert mm.delete("n0", "n1", "n0", "never", *(f"n{i}" for i in range(5, 15))) == 12
    assert mm.delete() == 0
    assert mm.delete("n0", "never") == 0
    assert mm.count("n2") == 1


# -- get_many_with_expiry -------------------------------------------------------


@CLOCKS
def test_get_many_with_expiry_answers_each_name_in_the_order_asked(
    make: Factory, clock: str
) -> None:
    mm = make("gme", cast_fn=str, clock=clock)
    mm.add("a", "x", ttl=100)
    mm.add("a", "y", ttl=300)
    mm.add_many([(f"n{i}", [f"v{i}"]) for i in range(30)], ttl=200)
    names = ["n7", "a", "nobody", "n7", *(f"n{i}" for i in range(30))]
    got = mm.get_many_with_expiry(*names)
    assert got == [mm.get_with_expiry(name) for name in names]
    assert [value for value, _ in got[1]] == ["x", "y"]  # soonest-expiring first
    assert got[2] == []
    assert all(isinstance(when, float) for pairs in got for _, when in pairs)
    assert mm.get_many_with_expiry() == []


@CLOCKS
def test_get_many_with_expiry_leaves_out_expired_values(
    make: Factory, raw: Any, clock: str
) -> None:
    mm = make("gmx", clock=clock)
    mm.add_many([("a", [1]), ("b", [2])])
    now = time.time()
    raw.zadd("gmx:a", {b"3": now - 50})
    raw.zadd("gmx:b", {b"4": now - 50})
    assert [[v for v, _ in pairs] for pairs in mm.get_many_with_expiry("a", "b")] == [[1], [2]]


def test_get_many_with_expiry_wrongtype(make: Factory, raw: Any) -> None:
    mm = make("gmw")
    raw.set("gmw:s", "x")
    with pytest.raises(response_error(mm), match="WRONGTYPE"):
        mm.get_many_with_expiry("a", "s")


# -- iter_values ----------------------------------------------------------------


@CLOCKS
def test_iter_values_gives_every_live_value_once(make: Factory, raw: Any, clock: str) -> None:
    mm = make("it", clock=clock)
    mm.add("big", *range(3000))
    mm.add("small", 1, 2, 3)
    now = time.time()
    # Expired but still stored (no write since to collect them): never given.
    raw.zadd("it:big", {str(-i): now - 10 - i for i in range(1, 40)})
    raw.zadd("it:small", {b"-1": now - 10})
    values = list(mm.iter_values("big", count=100))
    assert sorted(values) == list(range(3000))
    assert sorted(mm.iter_values("small")) == [1, 2, 3]
    assert list(mm.iter_values("nobody", count=1)) == []


# Real servers' ZSCAN (its guarantee under a growing and shrinking hash table) is
# what this test is about; on fakeredis it was the suite's slowest test (30,000
# members through its Lua, four times per job) and checked fakeredis's ZSCAN, not
# the library, whose paging is the same code on every backend (fakeredis 2.30,
# the floor, even loses members in a ZSCAN under writes).
@CLOCKS
@pytest.mark.backends_except("fake")
def test_iter_values_exactly_once_under_concurrent_writes(
    make: Factory, raw: Any, clock: str
) -> None:
    mm = make("itc", ttl=600, cast_fn=str, clock=clock)
    writer = make("itc", ttl=600, cast_fn=str, clock=clock)
    base = [f"v{i}" for i in range(5000)]
    mm.add("big", *base)
    raw.zadd("itc:big", {f"dead{i}": time.time() - 100 - i for i in range(50)})
    new = [f"new{i}" for i in range(30_000)]
    given: list[str] = []
    for n, value in enumerate(mm.iter_values("big", count=100)):
        given.append(value)
        if n == 10:
            writer.add("big", *base[::2], ttl=300)  # half re-added: expiry moves earlier
        elif n == 200:
            writer.add("big", *base[1::4], ttl=3000)  # ... or later
            writer.add("big", *new)  # the set grows sevenfold, and its hash table
        elif n == 1500:
            writer.remove("big", *new)  # shrinks back: ZSCAN then repeats members
            writer.add("big", *base[::3], ttl=200)
    assert len(given) == len(set(given)), "a value came twice"
    assert set(base) <= set(given), "a value live throughout is missing"
    assert not [value for value in given if value.startswith("dead")]
    assert set(given) <= set(base) | set(new)


def test_iter_values_wrongtype(make: Factory, raw: Any) -> None:
    mm = make("itw")
    raw.set("itw:s", "x")
    with pytest.raises(response_error(mm), match="WRONGTYPE"):
        list(mm.iter_values("s"))
    assert raw.get("itw:s") == b"x"


@pytest.mark.parametrize(
    ("count", "error"),
    [(0, ValueError), (-5, ValueError), (True, TypeError), (1.5, TypeError), ("10", TypeError)],
)
def test_iter_values_count_is_checked_by_the_call(make: Factory, count: Any, error: Any) -> None:
    mm = make("itk")
    with pytest.raises(error, match="count must be a positive int"):
        mm.iter_values("a", count=count)  # not iterated: the call itself raises
    with pytest.raises(TypeError, match="name"):
        mm.iter_values(b"a")


@pytest.mark.parametrize("count", [2**63, 10**20])
def test_iter_values_refuses_a_count_the_server_would_refuse(make: Factory, count: int) -> None:
    # ZSCAN takes its COUNT as a signed 64-bit long: beyond it the server says
    # "value is not an integer or out of range", which came only mid-iteration.
    mm = make("itb")
    with pytest.raises(ValueError, match=r"count must be at most 2\*\*63 - 1"):
        mm.iter_values("a", count=count)


@CLOCKS
def test_iter_values_takes_the_largest_count_the_server_accepts(make: Factory, clock: str) -> None:
    mm = make("itm", clock=clock)
    mm.add("big", *range(300))  # beyond the listpack limit: a real hash table to scan
    assert sorted(mm.iter_values("big", count=2**63 - 1)) == list(range(300))


def test_iter_values_checks_before_any_io() -> None:
    # A client on a port nothing listens on: a check that sent anything would
    # raise ConnectionError instead.
    mm = MultiMapWithTTL(redis.Redis(port=1), "p")
    with pytest.raises(ValueError, match="count"):
        mm.iter_values("a", count=0)
    amm = AsyncMultiMapWithTTL(redis.asyncio.Redis(port=1), "p")
    with pytest.raises(TypeError, match="count"):
        amm.iter_values("a", count=False)
    with pytest.raises(ValueError, match="count"):
        amm.iter_values("a", count=2**63)
    with pytest.raises(ValueError, match="count"):
        mm.iter_values("a", count=10**20)


# -- the default cast_fn=int on text values ----------------------------------------


@CLOCKS
def test_default_int_cast_on_text_says_to_pass_cast_fn(make: Factory, raw: Any, clock: str) -> None:
    mm = make("cast", clock=clock)
    mm.add_many([("t", ["hello"]), ("u", ["12"])])
    reads = [
        lambda: list(mm.get("t")),
        lambda: [list(v) for v in mm.get_many("u", "t")],
        lambda: mm.get_with_expiry("t"),
        lambda: mm.get_many_with_expiry("t"),
        lambda: list(mm.iter_values("t")),
    ]
    for read in reads:
        with pytest.raises(ValueError, match=r"cast_fn=str to read text values") as info:
            read()
        assert "hello" in str(info.value)
    assert list(mm.get("u")) == [12]
    # Another cast_fn's error is its own.
    floats = make("cast", cast_fn=float, clock=clock)
    with pytest.raises(ValueError, match="could not convert") as info:
        list(floats.get("t"))
    assert "cast_fn" not in str(info.value)


# -- repr --------------------------------------------------------------------


def test_repr_shows_the_settings_never_the_credentials() -> None:
    client = fakeredis.FakeRedis.from_url("redis://alice:s3cret@db.example:6379/0")
    mm = MultiMapWithTTL(client, "sessions", cast_fn=str)
    assert repr(mm) == (
        "MultiMapWithTTL(key_prefix='sessions', ttl=3600, resolution=1.0, "
        "clock='client', cast_fn=str)"
    )
    plain = MultiMapWithTTL(client, "p", 1.5, resolution=0.001, clock="server")
    assert repr(plain) == (
        "MultiMapWithTTL(key_prefix='p', ttl=1.5, resolution=0.001, clock='server', cast_fn=None)"
    )
    aclient = fakeredis.FakeAsyncRedis.from_url("redis://alice:s3cret@db.example:6379/0")
    amm = AsyncMultiMapWithTTL(aclient, "s", 60, bytes)
    assert repr(amm) == (
        "AsyncMultiMapWithTTL(key_prefix='s', ttl=60, resolution=1.0, clock='client', "
        "cast_fn=bytes)"
    )
    for shown in (repr(mm), repr(plain), repr(amm), str(mm)):
        assert "s3cret" not in shown
        assert "alice" not in shown
        assert "example" not in shown


def test_repr_names_a_users_cast_fn() -> None:
    def parse(raw: bytes) -> bytes:
        return raw

    mm = MultiMapWithTTL(fakeredis.FakeRedis(), "p", cast_fn=parse)
    assert repr(mm).endswith(f"cast_fn={__name__}.{parse.__qualname__})")


# -- the constructor checks its client --------------------------------------------


@pytest.mark.parametrize(
    "client",
    ["redis://:s3cret@localhost:6379/0", None, 6379, object(), redis.ConnectionPool()],
    ids=["url", "none", "int", "object", "pool"],
)
@pytest.mark.parametrize("cls", [MultiMapWithTTL, AsyncMultiMapWithTTL])
def test_constructor_refuses_what_is_not_a_client(cls: Any, client: Any) -> None:
    with pytest.raises(TypeError, match="redis_client must be a redis-py or valkey-py client") as e:
        cls(client, "p")
    message = str(e.value)
    assert "s3cret" not in message
    if isinstance(client, str):
        assert f"{cls.__name__}.from_url(" in message


def test_constructor_accepts_every_client_library() -> None:
    valkey = pytest.importorskip("valkey")
    valkey_asyncio = pytest.importorskip("valkey.asyncio")

    MultiMapWithTTL(fakeredis.FakeRedis(), "p")
    MultiMapWithTTL(valkey.Valkey(port=1), "p")
    AsyncMultiMapWithTTL(fakeredis.FakeAsyncRedis(), "p")
    AsyncMultiMapWithTTL(valkey_asyncio.Valkey(port=1), "p")
    AsyncMultiMapWithTTL(AsyncRedisCluster(host="127.0.0.1", port=1), "p")


# -- from_url ------------------------------------------------------------------


def test_from_url_on_a_real_server(real_server: RedisServer) -> None:
    url = f"redis://127.0.0.1:{real_server.port}/0"
    mm = MultiMapWithTTL.from_url(url, "fu", 60, str, resolution=0.001, decode_responses=True)
    try:
        assert type(mm.redis) is redis.Redis
        assert mm.redis.connection_pool.connection_kwargs["decode_responses"] is True
        mm.add("a", "x")
        assert list(mm.get("a")) == ["x"]
        assert mm.ttl == 60
        assert mm.resolution == 0.001
        assert list(MultiMapWithTTL.from_url(url, "fu", cast_fn=bytes).get("a")) == [b"x"]
    finally:
        mm.redis.close()

    async def main() -> list[str]:
        amm = AsyncMultiMapWithTTL.from_url(url, "fu", cast_fn=str, clock="server")
        assert type(amm.redis) is redis.asyncio.Redis
        try:
            return await amm.get("a")
        finally:
            await amm.redis.aclose()

    assert asyncio.run(main()) == ["x"]


def test_from_url_valkey_scheme(real_server: RedisServer) -> None:
    valkey = pytest.importorskip("valkey")
    mm = MultiMapWithTTL.from_url(f"valkey://127.0.0.1:{real_server.port}", "fv", cast_fn=str)
    assert type(mm.redis) is valkey.Valkey
    mm.add("a", "x")
    assert list(mm.get("a")) == ["x"]
    mm.redis.close()


def test_from_url_on_a_cluster(real_cluster: LocalCluster) -> None:
    port = real_cluster.ports[0]
    for mm in (
        MultiMapWithTTL.from_url(f"redis+cluster://127.0.0.1:{port}", "fc", cast_fn=str),
        MultiMapWithTTL.from_url(f"redis://127.0.0.1:{port}", "fc", cast_fn=str, cluster=True),
    ):
        assert type(mm.redis) is RedisCluster
        mm.add_many([(f"n{i}", ["x"]) for i in range(10)])
        assert [list(v) for v in mm.get_many("n0", "n9")] == [["x"], ["x"]]
        assert mm.delete(*(f"n{i}" for i in range(10))) == 10
        mm.redis.close()

    async def main() -> int:
        amm = AsyncMultiMapWithTTL.from_url(f"redis+cluster://127.0.0.1:{port}", "fc")
        assert type(amm.redis) is AsyncRedisCluster
        try:
            return await amm.add("a", 1)
        finally:
            await amm.redis.aclose()

    assert asyncio.run(main()) == 1


def test_from_url_checks_settings_and_scheme_before_connecting() -> None:
    # Nothing listens on port 1: a check made after connecting would raise
    # a ConnectionError (RedisCluster.from_url connects at once).
    with pytest.raises(ValueError, match="ttl"):
        MultiMapWithTTL.from_url("redis+cluster://127.0.0.1:1", "p", ttl=-1)
    with pytest.raises(TypeError, match="cast_fn"):
        MultiMapWithTTL.from_url("redis+cluster://127.0.0.1:1", "p", cast_fn=3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="clock"):
        AsyncMultiMapWithTTL.from_url("redis://127.0.0.1:1", "p", clock="local")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="url must be a str"):
        MultiMapWithTTL.from_url(None, "p")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="url must start with") as info:
        MultiMapWithTTL.from_url("http://bob:s3cret@host/", "p")
    assert "s3cret" not in str(info.value)


@CLOCKS
def test_get_many_with_expiry_is_one_round_trip(clock: str) -> None:
    # The sans-I/O operation, driven by hand: one Send answers every name.
    mm = MultiMapWithTTL(fakeredis.FakeRedis(), "rt", clock=clock)  # type: ignore[call-overload]
    operation = mm._op_get_many_with_expiry(["a", "b", "c"])
    request = next(operation)
    assert isinstance(request, Send)
    now = int(time.time())
    reads = [[b"1", str(now + 60).encode(), b"2", str(now + 90).encode()], [], [b"3", b"5"]]
    replies = [[str(now).encode(), b"0"], *reads] if clock == "server" else reads
    if clock == "client":
        reads[2] = []  # the client's bound is in the command: nothing expired comes back
    with pytest.raises(StopIteration) as done:
        operation.send(replies[: len(request.calls)])
    assert done.value.value == [[(1, now + 60.0), (2, now + 90.0)], [], []]
