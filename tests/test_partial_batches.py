"""A batch refused part-way says what it wrote (issue 24, item 1).

A batch is several server calls, each all or nothing per name. On 0.4.0 an
``add_many`` over ``maxmemory`` raised ``OutOfMemoryError`` after 960 of its
3,000 names were written, an ACL user's batch ``NoPermissionError`` after
3,601 of 4,001, with nothing saying which. Now the error keeps its class and
carries ``.written`` (the names whose writes completed) and ``.unknown``
(those whose outcome a lost reply hides); its message gives the count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from .conftest import Factory
from .reliability.proxy import ReplyDropper
from .servers import RedisServer

VALUE = "v" * 2048  # 2 KB: about 60 names per write call (128 KB)


def run(flavor: str, port: int, action: Callable[[Any], Any], **client_kwargs: Any) -> Any:
    """``action(multimap)`` on a fresh client of ``port``, sync or async; returns what it raised."""
    if flavor == "sync":
        client = redis.Redis(port=port, **client_kwargs)
        try:
            action(MultiMapWithTTL(client, "perm", 600, str))
        except Exception as error:
            return error
        finally:
            client.close()
        return None

    async def go() -> Any:
        aclient = redis.asyncio.Redis(port=port, **client_kwargs)
        try:
            await action(AsyncMultiMapWithTTL(aclient, "perm", 600, str))
        except Exception as error:
            return error
        finally:
            await aclient.aclose()
        return None

    return asyncio.run(go())


def stored(client: Any, prefix: str) -> set[str]:
    """The names that have a key under ``prefix``."""
    return {
        key.decode()[len(prefix) + 1 :] for key in client.scan_iter(match=f"{prefix}:*", count=1000)
    }


def said(error: BaseException, count: int, total: int, verb: str = "written") -> None:
    assert f"{count:,} of {total:,} names were {verb} before this error" in str(error)
    if count:  # the refused call's "nothing was written" is not the batch's
        assert "nothing was written" not in str(error)


# -- over maxmemory: the calls before memory ran out were written -------------------


@pytest.fixture
def small_server(tmp_path: Path, real_server: RedisServer) -> Iterator[RedisServer]:
    """A server of its own with ~1 MB of room left under maxmemory, noeviction."""
    server = RedisServer(tmp_path / "small", None, "--appendonly", "no").start()
    try:
        with server.client() as client:
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory-policy", "noeviction")
            client.config_set("maxmemory", str(used + 1024 * 1024))
        yield server
    finally:
        server.stop()


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_batch_over_maxmemory_says_which_names_it_wrote(
    small_server: RedisServer, flavor: str
) -> None:
    names = [f"n{i}" for i in range(3000)]
    batch = [(name, [VALUE]) for name in names]
    error = run(flavor, small_server.port, lambda mm: mm.add_many(batch))
    assert isinstance(error, redis.exceptions.OutOfMemoryError), error
    with small_server.client() as client:
        found = stored(client, "perm")
        assert all(client.pttl(f"perm:{name}") > 0 for name in found)
    assert 0 < len(found) < len(names)  # memory ran out part-way
    assert set(error.written) == found
    assert error.unknown == []
    said(error, len(found), 3000)


# -- an ACL user: the call holding a key it may not write wrote nothing ----------------


@pytest.fixture
def limited(real_server: RedisServer) -> Iterator[dict[str, Any]]:
    """Credentials of a user who may use every command on ``perm:a*`` only."""
    with real_server.client() as client:
        client.flushall()
        client.acl_setuser(
            "limited", enabled=True, passwords=["+secret"], keys=["perm:a*"], commands=["+@all"]
        )
        yield {"username": "limited", "password": "secret"}
        client.acl_deluser("limited")
        client.flushall()


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_batch_with_a_name_the_user_may_not_write_says_which_it_wrote(
    real_server: RedisServer, limited: dict[str, Any], flavor: str
) -> None:
    names = [f"a{i}" for i in range(4000)]
    names.insert(3600, "b1")
    batch = [(name, [1]) for name in names]
    error = run(flavor, real_server.port, lambda mm: mm.add_many(batch), **limited)
    assert isinstance(error, redis.exceptions.NoPermissionError), error
    with real_server.client() as client:
        found = stored(client, "perm")
    assert "b1" not in found
    assert 3000 < len(found) < 4000  # the calls before and after the refused one ran
    assert set(error.written) == found
    assert error.unknown == []
    said(error, len(found), 4001)


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_delete_with_a_name_the_user_may_not_delete_says_which_it_deleted(
    real_server: RedisServer, limited: dict[str, Any], flavor: str
) -> None:
    names = [f"a{i}" for i in range(2000)]
    with real_server.client() as client:
        MultiMapWithTTL(client, "perm").add_many([(name, [1]) for name in names])
    names.insert(1600, "b1")
    error = run(flavor, real_server.port, lambda mm: mm.delete(*names), **limited)
    assert isinstance(error, redis.exceptions.NoPermissionError), error
    with real_server.client() as client:
        left = stored(client, "perm")
    assert 0 < len(left) <= 500  # one delete call of 500 names was refused, the others ran
    assert set(error.written) == set(names) - left - {"b1"}
    said(error, len(error.written), 2001, "deleted")


@pytest.mark.real
def test_a_refused_first_call_leaves_the_message_and_writes_nothing(
    real_server: RedisServer, limited: dict[str, Any]
) -> None:
    error = run("sync", real_server.port, lambda mm: mm.add_many([("b1", [1])]), **limited)
    assert isinstance(error, redis.exceptions.NoPermissionError)
    assert error.written == []
    assert error.unknown == []
    assert "before this error" not in str(error)


# -- foreign keys among a batch's names: every other name was written -----------------


def test_a_batch_with_foreign_keys_writes_and_names_every_other(make: Factory, raw: Any) -> None:
    mm = make("fk", 600, str)
    names = [f"n{i}" for i in range(1000)]
    raw.set("fk:n10", "a string")
    raw.zadd("fk:n700", {"points": 42})  # a leaderboard: no expiry times
    with pytest.raises(make.backend.exceptions.ResponseError) as caught:
        mm.add_many([(name, ["x"]) for name in names])
    error = caught.value
    found = {name for name in names if name != "n10" and raw.zscore(f"fk:{name}", "x") is not None}
    assert found == set(names) - {"n10", "n700"}
    assert set(error.written) == found
    assert error.unknown == []
    said(error, 998, 1000)
    assert "not written" not in str(error)  # the scripts' list of positions is not shown
    # delete: the same
    with pytest.raises(make.backend.exceptions.ResponseError) as caught:
        mm.delete(*names)
    assert set(caught.value.written) == found
    assert {name for name in names if raw.exists(f"fk:{name}")} == {"n10", "n700"}
    said(caught.value, 998, 1000, "deleted")


def test_a_write_of_one_foreign_key_keeps_its_message(make: Factory, raw: Any) -> None:
    mm = make("fk1", 600, str)
    raw.set("fk1:s", "a string")
    with pytest.raises(make.backend.exceptions.ResponseError, match="WRONGTYPE") as caught:
        mm.add("s", "x")
    assert caught.value.written == []
    assert caught.value.unknown == []
    assert "before this error" not in str(caught.value)
    with pytest.raises(make.backend.exceptions.ResponseError, match="WRONGTYPE") as caught:
        mm.remove("s", "x")
    assert caught.value.written == []


# -- a lost reply: the names of the calls answered before it are written -------------


@pytest.fixture
def dropper(real_server: RedisServer) -> Iterator[ReplyDropper]:
    real_server.client().flushall()
    proxy = ReplyDropper(real_server.port)
    yield proxy
    proxy.close()


@pytest.mark.real
@pytest.mark.parametrize("flavor", ["sync", "async"])
def test_a_lost_reply_mid_batch_names_what_was_written_and_what_is_unknown(
    real_server: RedisServer, dropper: ReplyDropper, flavor: str
) -> None:
    names = [f"n{i}" for i in range(2000)]  # 400 names per write call: 5 calls
    dropper.arm(3)
    error = run(
        flavor,
        dropper.port,
        lambda mm: mm.add_many([(name, ["x"]) for name in names]),
    )
    assert isinstance(error, redis.exceptions.ConnectionError), error
    with real_server.client() as client:
        found = stored(client, "perm")
    written, unknown = set(error.written), set(error.unknown)
    assert written == set(names[:800])  # the two calls answered
    assert set(names[800:1200]) <= unknown  # the call whose reply was lost
    assert written <= found <= written | unknown
    said(error, 800, 2000)
    assert "may have been or not" in str(error)
    assert isinstance(error.__cause__, redis.exceptions.ConnectionError)
