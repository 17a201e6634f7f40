"""Every write is all or nothing, refused over maxmemory, and bounded (issue 16, items 3, 4, 6).

Each test failed on 0.3.0: an ``expire_at`` in year 9999, a key holding a
``+inf`` or microsecond-timestamp member, or a user without PEXPIRE left a
value stored in a key without a TTL; a server over ``maxmemory`` took every
write; and one write collected all of a name's expired members at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL, _scripts

from .clock import Span, lives
from .conftest import Backend, Factory
from .servers import RedisServer

# The last second of year 9999: the latest expiry time a value may have.
LAST_SECOND = 253402300799
# Scores a multimap can never have stored: no key TTL can follow from them.
ODD_SCORES = [float("inf"), 1.7e15, 253402300800.0, 40.0, float("-inf"), 999_999_999.5]
# How many expired members one write call collects at most.
BOUND: int = getattr(_scripts, "COLLECT_PER_CALL", 1000)
# ... plus one per argument of the call: a small call sends fewer than this.
ARGS = 16


def exact(raw: Any, key: str) -> tuple[Any, int]:
    """A key's members with scores, and its absolute expiry time in ms (-1 none, -2 gone)."""
    return raw.zrange(key, 0, -1, withscores=True), raw.pexpiretime(key)


# -- item 3: an expire_at anywhere up to year 9999 gets a TTL -------------------------


def test_an_expiry_in_year_9999_is_stored_with_a_ttl(make: Factory, raw: Any) -> None:
    mm = make("y9999")
    assert mm.add_many_with_ttl([("a", [(LAST_SECOND, 7)]), ("b", [(2.5e11, 8)])]) == 2
    for key in ("y9999:a", "y9999:b"):
        assert raw.pttl(key) > 0, f"{key} was left without a TTL"
    assert mm.get_with_expiry("a") == [(7, float(LAST_SECOND))]
    mm.add("a", 9)  # a later write keeps the key living as long as its newest value
    assert raw.pttl("y9999:a") > (LAST_SECOND - time.time() - 3600) * 1000


def test_an_expiry_from_year_10000_on_is_refused_before_writing(make: Factory, raw: Any) -> None:
    mm = make("y10k")
    with pytest.raises(ValueError, match="year 10000"):
        mm.add_many_with_ttl([("a", [(time.time() + 60, 1)]), ("b", [(LAST_SECOND + 1, 2)])])
    coarse = make("y10k", resolution=3600)
    with pytest.raises(ValueError, match="year 10000"):
        coarse.add_many_with_ttl([("a", [(LAST_SECOND, 1)])])  # rounds up into year 10000
    assert raw.exists("y10k:a", "y10k:b") == 0


# -- item 3: a key holding scores no expiry time has is left exactly as it was --------

WRITES: list[tuple[str, Callable[[Any], Any]]] = [
    ("add", lambda mm: mm.add("odd", 1)),
    ("add_many", lambda mm: mm.add_many([("good", [1]), ("odd", [1, 2])])),
    ("add_nx", lambda mm: mm.add("odd", 1, nx=True)),
    ("add_gt", lambda mm: mm.add("odd", 1, gt=True)),
    ("add_xx", lambda mm: mm.add("odd", "old", xx=True)),
    ("with_ttl", lambda mm: mm.add_many_with_ttl([("odd", [(time.time() + 60, 1)])])),
    ("with_ttl_past", lambda mm: mm.add_many_with_ttl([("odd", [(time.time() - 60, "old")])])),
    ("remove", lambda mm: mm.remove("odd", "old", "young")),
    ("delete", lambda mm: mm.delete("odd")),
]


@pytest.mark.parametrize(
    "score", ODD_SCORES, ids=["inf", "microseconds", "year10000", "points", "minus-inf", "2001"]
)
@pytest.mark.parametrize(("what", "write"), WRITES, ids=[w[0] for w in WRITES])
def test_a_key_with_a_score_no_expiry_has_fails_the_write_untouched(
    make: Factory, raw: Any, score: float, what: str, write: Callable[[Any], Any]
) -> None:
    mm = make("odd")
    mm.add("odd", "young", ttl=600)
    raw.zadd("odd:odd", {"old": score})
    raw.persist("odd:odd")  # as 0.1.0 or another tool left it
    before = exact(raw, "odd:odd")
    with pytest.raises(make.backend.exceptions.ResponseError, match="not an expiry time"):
        write(mm)
    assert exact(raw, "odd:odd") == before
    if what == "add_many":  # the call's other key was written, and has its TTL
        assert raw.pttl("odd:good") > 0
        assert raw.zcard("odd:good") == 1


def test_a_leaderboard_under_the_prefix_is_never_changed(make: Factory, raw: Any) -> None:
    # Another application's sorted set, scored in points: no write, removal or
    # deletion may take its points for expired values.
    mm = make("lb", 3600, str)
    raw.zadd("lb:top", {"ann": 40, "bob": 12})
    before = exact(raw, "lb:top")
    for call in (
        lambda: mm.add("top", "new"),
        lambda: mm.add_many([("top", ["new"])], nx=True),
        lambda: mm.remove("top", "ann"),
        lambda: mm.delete("top"),
    ):
        with pytest.raises(make.backend.exceptions.ResponseError, match="leaderboard"):
            call()
        assert exact(raw, "lb:top") == before


def test_expired_values_from_2001_on_are_collected(make: Factory, raw: Any) -> None:
    mm = make("low", 3600, str)
    raw.zadd("low:a", {"first": 1_000_000_000, "old": 1_600_000_000})
    assert mm.add("a", "old", "new") == 2  # "old" had expired: new again
    assert sorted(mm.get("a")) == ["new", "old"]
    assert raw.zcard("low:a") == 2
    assert raw.pttl("low:a") > 0
    raw.zadd("low:b", {"first": 1_000_000_000})
    assert mm.delete("b") == 1


# -- item 3: a permission the write needs is missing: found before writing ------------


@pytest.fixture
def acl_user(backend: Backend) -> Iterator[Callable[..., None]]:
    """``grant(*rules)``: (re)create user ``mmuser`` (password ``pw``) on every node."""
    if backend.name == "fake":
        pytest.skip("fakeredis scripts cannot check ACLs (no redis.acl_check_cmd)")
    nodes = backend.raw_nodes()

    def grant(*rules: str) -> None:
        for node in nodes:
            node.execute_command("ACL", "SETUSER", "mmuser", "reset", "on", ">pw", *rules)

    yield grant
    for node in nodes:
        node.execute_command("ACL", "DELUSER", "mmuser")


# fakeredis scripts have no redis.acl_check_cmd: no ACL case runs there.
NO_FAKE_ACL = pytest.mark.backends_except("fake")

WRITER = ("~acl:*", "+@sortedset", "+@scripting", "+time", "+cluster|slots", "+cluster|shards")


@NO_FAKE_ACL
def test_a_user_without_pexpire_writes_nothing_and_is_told(
    make: Factory, raw: Any, acl_user: Callable[..., None]
) -> None:
    acl_user(*WRITER, "+hello", "+command", "+info")
    mm = make("acl", username="mmuser", password="pw")
    for write in (
        lambda: mm.add("a", 1, nx=True),
        lambda: mm.add_many([("a", [1]), ("b", [2])], nx=True),
        lambda: mm.add_many_with_ttl([("a", [(time.time() + 60, 1)])]),
    ):
        with pytest.raises(make.backend.exceptions.ResponseError, match="PEXPIRE"):
            write()
        assert raw.exists("acl:a", "acl:b") == 0
    acl_user(*WRITER, "+hello", "+command", "+info", "+pexpire")
    assert mm.add("a", 1, nx=True) == 1  # the retry once granted: the value is new
    assert raw.pttl("acl:a") > 0


@NO_FAKE_ACL
def test_a_user_without_unlink_deletes_nothing_and_is_told(
    make: Factory, raw: Any, acl_user: Callable[..., None]
) -> None:
    raw.zadd("acl:a", {"1": time.time() + 60})
    acl_user(*WRITER, "+hello", "+command", "+info", "+pexpire", "+type")
    mm = make("acl", username="mmuser", password="pw")
    with pytest.raises(make.backend.exceptions.ResponseError, match="UNLINK"):
        mm.delete("a")
    assert raw.exists("acl:a") == 1


# -- item 4: over maxmemory with noeviction, writes are refused, nothing changed ------


@pytest.fixture
def full_server(tmp_path: Path, real_server: RedisServer) -> Iterator[RedisServer]:
    """A server of its own, holding data, over its maxmemory with noeviction."""
    server = RedisServer(tmp_path / "full", None, "--appendonly", "no").start()
    try:
        with server.client() as client:
            now = time.time()
            for n in range(20):
                client.zadd(f"oom:n{n}", {f"v{i}": now + 600 + i for i in range(50)})
                client.expire(f"oom:n{n}", 700)
            client.set("oom:other", "x" * 1000)
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", str(used // 2))  # well over: no luck involved
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                client.zadd("oom:probe", {"x": now + 60})
        yield server
    finally:
        server.stop()


def dump(client: redis.Redis) -> dict[bytes, tuple[Any, bool]]:
    """Every key's serialized value and whether it has a TTL."""
    return {key: (client.dump(key), client.pttl(key) > 0) for key in client.scan_iter()}


OOM_WRITES: list[tuple[str, Callable[[Any], Any]]] = [
    ("add", lambda mm: mm.add("n0", "new")),
    ("add_existing", lambda mm: mm.add("n1", "v1")),
    ("touch", lambda mm: mm.touch("n1", "v1")),
    ("add_new", lambda mm: mm.add_new("n0", "new", "v0")),
    ("add_many", lambda mm: mm.add_many([(f"n{n}", ["a", "b"]) for n in range(20)])),
    ("add_many_nx", lambda mm: mm.add_many([("fresh", range(100))], nx=True)),
    ("with_ttl", lambda mm: mm.add_many_with_ttl([("n2", [(time.time() + 60, "x")])])),
    ("with_ttl_past", lambda mm: mm.add_many_with_ttl([("n3", [(time.time() - 60, "v3")])])),
]


@pytest.mark.parametrize("flavor", ["sync", "async"])
@pytest.mark.parametrize(("what", "write"), OOM_WRITES, ids=[w[0] for w in OOM_WRITES])
def test_over_maxmemory_every_write_is_refused_with_the_server_s_oom_error(
    full_server: RedisServer, flavor: str, what: str, write: Callable[[Any], Any]
) -> None:
    def attempt() -> None:
        if flavor == "sync":
            write(MultiMapWithTTL(raw, "oom"))
            return

        async def run() -> None:
            client = redis.asyncio.Redis(port=full_server.port)
            try:
                await write(AsyncMultiMapWithTTL(client, "oom"))
            finally:
                await client.aclose()

        asyncio.run(run())

    with full_server.client() as raw:
        before = dump(raw)
        with pytest.raises(redis.exceptions.ResponseError, match="maxmemory") as caught:
            attempt()
        assert isinstance(caught.value, redis.exceptions.OutOfMemoryError)
        assert dump(raw) == before


def test_over_maxmemory_removing_and_deleting_still_free_memory(full_server: RedisServer) -> None:
    with full_server.client() as raw:
        mm = MultiMapWithTTL(raw, "oom")
        assert mm.remove("n0", "v0", "v1") == 2  # as 0.1.0's ZREM, allowed: it frees memory
        assert raw.zcard("oom:n0") == 48
        assert raw.pttl("oom:n0") > 0
        mm.delete("n1")
        assert raw.exists("oom:n1") == 0


# -- item 6: a write collects a bounded number of expired members ---------------------


def fill_expired(raw: Any, key: str, count: int) -> None:
    past = time.time() - 100
    pipe = raw.pipeline(transaction=False)
    for start in range(0, count, 1000):
        pipe.zadd(key, {f"e{i}": past - i for i in range(start, min(count, start + 1000))})
    pipe.execute()


def test_a_write_collects_at_most_the_bound_and_counts_exactly(make: Factory, raw: Any) -> None:
    mm = make("big", 3600, str)
    fill_expired(raw, "big:a", 5 * BOUND)
    # e1 and e2 are stored but expired: new for the count.
    with Span() as span:
        assert mm.add("a", "e1", "e2", "new") == 3
    left = raw.zcard("big:a")
    # Some collected, at most the bound (plus one per argument the call sent).
    assert 5 * BOUND + 1 - (BOUND + ARGS) <= left < 5 * BOUND + 1
    assert sorted(mm.get("a")) == ["e1", "e2", "new"]  # reads never see the expired ones
    assert mm.count("a") == 3
    assert lives(raw, "big:a", 3600, span)  # the newest live value's expiry
    # An expired member still stored is not live: nx adds it, counted as new.
    stale = raw.zrange("big:a", 0, 0)[0].decode()
    assert mm.add("a", stale, nx=True) == 1
    assert mm.count("a") == 4
    # Removing: an expired member still stored was not live, "new" was.
    assert mm.remove("a", raw.zrange("big:a", 0, 0)[0].decode(), "new") == 1
    assert sorted(mm.get("a")) == sorted(["e1", "e2", stale])
    assert raw.zcard("big:a") >= left - 2 * (BOUND + ARGS) - 1  # each write: at most the bound


def test_a_write_to_a_name_of_only_expired_members_keeps_collecting(
    make: Factory, raw: Any
) -> None:
    mm = make("dead")
    fill_expired(raw, "dead:a", 3 * BOUND)
    assert mm.add("a", "e5", xx=True) == 0  # not live: xx does not refresh it
    assert mm.count("a") == 0
    calls = 0
    while raw.exists("dead:a") and calls < 10:
        mm.add("a", "x", xx=True)
        calls += 1
    assert raw.exists("dead:a") == 0
    assert calls <= 3


def test_delete_frees_a_name_without_blocking(backend: Backend, make: Factory, raw: Any) -> None:
    if backend.name == "fake":
        pytest.skip("fakeredis keeps no commandstats")
    mm = make("del")
    mm.add("a", 1)
    mm.delete("a")
    assert raw.exists("del:a") == 0
    stats = {name for node in backend.raw_nodes() for name in node.info("commandstats")}
    assert "cmdstat_unlink" in stats
    assert "cmdstat_del" not in stats


def exact_state(backend: Backend) -> dict[bytes, Any]:
    """Every key: members with scores, and its absolute expiry time (ms; -1 none)."""
    return {
        key: (node.zrange(key, 0, -1, withscores=True), node.pexpiretime(key))
        for node in backend.raw_nodes()
        for key in node.scan_iter()
    }


ACL_WRITES: list[tuple[str, Callable[[Any], Any]]] = [
    ("add", lambda mm: mm.add("a", "new")),
    ("add_nx", lambda mm: mm.add("a", "live", "new", nx=True)),
    ("add_xx", lambda mm: mm.add("a", "live", xx=True)),
    ("add_gt", lambda mm: mm.add("a", "live", gt=True)),
    ("add_lt", lambda mm: mm.add("a", "live", "new", lt=True)),
    ("add_xx_lt_ch", lambda mm: mm.add("a", "live", xx=True, lt=True, ch=True)),
    ("add_ch", lambda mm: mm.add("a", "live", "new", ch=True)),
    ("add_many", lambda mm: mm.add_many([("a", ["new"]), ("b", ["new"])])),
    ("with_ttl", lambda mm: mm.add_many_with_ttl([("a", [(time.time() + 30, "new")])])),
    ("with_ttl_past", lambda mm: mm.add_many_with_ttl([("a", [(time.time() - 30, "live")])])),
    ("expired_again", lambda mm: mm.add("a", "e1")),
    ("remove", lambda mm: mm.remove("a", "live", "e1")),
]
COMMANDS = ["ZADD", "PEXPIRE", "ZRANGE", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZMSCORE", "ZREM"]


@NO_FAKE_ACL
@pytest.mark.parametrize("missing", COMMANDS)
@pytest.mark.parametrize(("what", "write"), ACL_WRITES, ids=[w[0] for w in ACL_WRITES])
def test_without_any_one_command_a_write_is_whole_or_refused_untouched(
    make: Factory,
    raw: Any,
    acl_user: Callable[..., None],
    missing: str,
    what: str,
    write: Callable[[Any], Any],
) -> None:
    now = time.time()
    raw.zadd("acl:a", {"live": now + 600, "e1": now - 60, "e2": now - 50})
    raw.persist("acl:a")  # as 0.1.0 may have left it: the write must fit a TTL
    acl_user(*WRITER, "+hello", "+command", "+info", "+pexpire", f"-{missing.lower()}")
    mm = make("acl", username="mmuser", password="pw")
    before = exact_state(make.backend)
    refused = None
    try:
        write(mm)
    except make.backend.exceptions.ResponseError as error:
        refused = str(error)
    after = exact_state(make.backend)
    if refused is not None:  # else the path needed no such command: done
        assert missing in refused, refused
        assert after[b"acl:a"] == before[b"acl:a"]
        # On a cluster, "b" (another hash slot) goes in a call of its own.
        assert after.keys() <= {b"acl:a", b"acl:b"}
    for key, (members, expires) in after.items():  # each key whole: a value, a TTL
        if key in before and after[key] == before[key]:
            continue
        assert members, key
        assert expires > 0, f"{key} was left without a TTL"
