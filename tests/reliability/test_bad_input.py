"""Hostile and unusual input: the documented exception with the database unchanged,
or a correct round trip. Runs on every backend and flavour."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from typing import Any

import fakeredis
import numpy as np
import pytest
import redis
import redis.asyncio

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from ..conftest import Factory
from ..errors import response_error


class Color(enum.IntEnum):
    RED = 1


class Ratio(float):
    pass


HUGE_INT = 10**5000  # past Python's 4,300-digit limit on int -> str

# Enough names that a batch streams as many calls: a value that fails late
# must still fail before the first of them is sent.
BIG_BATCH = [(f"n{i}", [i]) for i in range(6000)]

NOW = time.time()

# (id, exception, call(mm)) — every call must raise before writing anything.
RAISING: list[tuple[str, type[Exception], Callable[[Any], Any]]] = [
    ("add ttl=0", ValueError, lambda mm: mm.add("a", 1, ttl=0)),
    ("add ttl<0", ValueError, lambda mm: mm.add("a", 1, ttl=-5)),
    ("add ttl=nan", ValueError, lambda mm: mm.add("a", 1, ttl=math.nan)),
    ("add ttl=inf", ValueError, lambda mm: mm.add("a", 1, ttl=math.inf)),
    ("add ttl=-inf", ValueError, lambda mm: mm.add("a", 1, ttl=-math.inf)),
    ("add ttl huge", ValueError, lambda mm: mm.add("a", 1, ttl=1e300)),
    ("add ttl=True", TypeError, lambda mm: mm.add("a", 1, ttl=True)),
    ("add ttl='60'", TypeError, lambda mm: mm.add("a", 1, ttl="60")),
    ("add ttl=[60]", TypeError, lambda mm: mm.add("a", 1, ttl=[60])),
    ("add value None", TypeError, lambda mm: mm.add("a", 1, None)),
    ("add value True", TypeError, lambda mm: mm.add("a", True)),
    ("add value False", TypeError, lambda mm: mm.add("a", 1, False)),
    ("add value list", TypeError, lambda mm: mm.add("a", [1, 2])),
    ("add value dict", TypeError, lambda mm: mm.add("a", {"x": 1})),
    ("add value object", TypeError, lambda mm: mm.add("a", object())),
    ("add name None", TypeError, lambda mm: mm.add(None, 1)),
    ("add name bytes", TypeError, lambda mm: mm.add(b"a", 1)),
    ("add name float", TypeError, lambda mm: mm.add(1.5, 1)),
    ("add name bool", TypeError, lambda mm: mm.add(True, 1)),
    ("add_many values str", TypeError, lambda mm: mm.add_many([("ok", [1]), ("a", "abc")])),
    ("add_many values bytes", TypeError, lambda mm: mm.add_many([("ok", [1]), ("a", b"ab")])),
    ("add_many values int", TypeError, lambda mm: mm.add_many([("ok", [1]), ("a", 5)])),
    ("add_many item not pair", TypeError, lambda mm: mm.add_many([("ok", [1]), ("a",)])),
    ("add_many item triple", TypeError, lambda mm: mm.add_many([("a", [1], 3)])),
    ("add_many item str", TypeError, lambda mm: mm.add_many(["ab"])),
    ("add_many item None", TypeError, lambda mm: mm.add_many([("ok", [1]), None])),
    ("add_many data None", TypeError, lambda mm: mm.add_many(None)),
    ("add_many bad value late", TypeError, lambda mm: mm.add_many([("ok", [1]), ("b", [2, None])])),
    ("add_many ttl=0", ValueError, lambda mm: mm.add_many([("ok", [1])], ttl=0)),
    (
        "with_ttl expire_at nan",
        ValueError,
        lambda mm: mm.add_many_with_ttl([("a", [(math.nan, 1)])]),
    ),
    (
        "with_ttl expire_at inf",
        ValueError,
        lambda mm: mm.add_many_with_ttl([("a", [(math.inf, 1)])]),
    ),
    (
        "with_ttl expire_at year 10000",
        ValueError,
        lambda mm: mm.add_many_with_ttl([("a", [(1e12, 1)])]),
    ),
    ("with_ttl expire_at str", TypeError, lambda mm: mm.add_many_with_ttl([("a", [("9", 1)])])),
    (
        "with_ttl pair of ints reversed",
        ValueError,
        lambda mm: mm.add_many_with_ttl([("ok", [(NOW + 9, 1)]), ("a", [(7, int(NOW) + 9)])]),
    ),
    ("with_ttl expire_at 0", ValueError, lambda mm: mm.add_many_with_ttl([("a", [(0, 1)])])),
    ("with_ttl expire_at None", TypeError, lambda mm: mm.add_many_with_ttl([("a", [(None, 1)])])),
    ("with_ttl expire_at bool", TypeError, lambda mm: mm.add_many_with_ttl([("a", [(True, 1)])])),
    (
        "with_ttl pair reversed",
        TypeError,
        lambda mm: mm.add_many_with_ttl([("a", [("v", NOW + 9)])]),
    ),
    ("with_ttl pairs str", TypeError, lambda mm: mm.add_many_with_ttl([("a", "xy")])),
    ("with_ttl pair not pair", TypeError, lambda mm: mm.add_many_with_ttl([("a", [(NOW + 9,)])])),
    (
        "with_ttl value None",
        TypeError,
        lambda mm: mm.add_many_with_ttl([("ok", [(NOW + 9, None)])]),
    ),
    ("remove value None", TypeError, lambda mm: mm.remove("a", 1, None)),
    ("remove name bytes", TypeError, lambda mm: mm.remove(b"a", 1)),
    ("delete name None", TypeError, lambda mm: mm.delete("a", None)),
    ("get name None", TypeError, lambda mm: mm.get(None)),
    ("get_many name bytes", TypeError, lambda mm: mm.get_many("a", b"b")),
    ("contains value bool", TypeError, lambda mm: mm.contains("a", True)),
    ("count name list", TypeError, lambda mm: mm.count(["a"])),
    # Found by trying 0.2.0 as users would (issue 9): each failed mid-batch or
    # stored garbage.
    ("add value lone surrogate", ValueError, lambda mm: mm.add("a", 1, "\ud800")),
    ("add name lone surrogate", ValueError, lambda mm: mm.add("\udfff", 1)),
    (
        "add_many lone surrogate late in a big batch",
        ValueError,
        lambda mm: mm.add_many([*BIG_BATCH, ("z", ["ok", "\ud800"])]),
    ),
    (
        "add_many lone surrogate name late in a big batch",
        ValueError,
        lambda mm: mm.add_many([*BIG_BATCH, ("\ud800", [1])]),
    ),
    ("add int of 5000 digits", ValueError, lambda mm: mm.add("a", HUGE_INT)),
    (
        "add_many int of 5000 digits late in a big batch",
        ValueError,
        lambda mm: mm.add_many([*BIG_BATCH, ("z", [HUGE_INT])]),
    ),
    ("add numpy bool", TypeError, lambda mm: mm.add("a", np.bool_(True))),
    ("add numpy float32", TypeError, lambda mm: mm.add("a", np.float32(1.5))),
    ("add bytearray", TypeError, lambda mm: mm.add("a", bytearray(b"x"))),
    ("add ttl 10**400", ValueError, lambda mm: mm.add("a", 1, ttl=10**400)),
    ("add_many ttl 10**400", ValueError, lambda mm: mm.add_many([("a", [1])], ttl=10**400)),
    (
        "with_ttl expire_at 10**400",
        ValueError,
        lambda mm: mm.add_many_with_ttl([("a", [(10**400, 1)])]),
    ),
    ("add nx with xx", ValueError, lambda mm: mm.add("a", 1, nx=True, xx=True)),
    ("add_many nx with gt", ValueError, lambda mm: mm.add_many([("a", [1])], nx=True, gt=True)),
    (
        "with_ttl nx with xx",
        ValueError,
        lambda mm: mm.add_many_with_ttl([("a", [(NOW + 9, 1)])], nx=True, xx=True),
    ),
    ("remove lone surrogate", ValueError, lambda mm: mm.remove("a", "\ud800")),
    ("contains lone surrogate", ValueError, lambda mm: mm.contains("a", "\ud800")),
    ("delete lone surrogate", ValueError, lambda mm: mm.delete("a", "\ud800")),
]


@pytest.mark.parametrize(("case", "error", "call"), RAISING, ids=[c[0] for c in RAISING])
def test_bad_input_raises_and_changes_nothing(
    make: Factory, case: str, error: type[Exception], call: Callable[[Any], Any]
) -> None:
    backend = make.backend  # type: ignore[attr-defined]
    mm = make("bad")
    mm.add_many([("a", [1, 2]), ("ok", [7])], ttl=600)
    before = backend.snapshot()
    with pytest.raises(error):
        call(mm)
    assert backend.snapshot() == before


CONSTRUCTOR: list[tuple[str, type[Exception], dict[str, Any]]] = [
    ("ttl 0", ValueError, {"ttl": 0}),
    ("ttl nan", ValueError, {"ttl": math.nan}),
    ("ttl bool", TypeError, {"ttl": True}),
    ("ttl None", TypeError, {"ttl": None}),
    ("ttl str", TypeError, {"ttl": "3600"}),
    ("resolution 0", ValueError, {"resolution": 0}),
    ("resolution negative", ValueError, {"resolution": -0.001}),
    ("resolution inf", ValueError, {"resolution": math.inf}),
    ("resolution bool", TypeError, {"resolution": True}),
    ("resolution 10**400", ValueError, {"resolution": 10**400}),
    ("resolution 1e-300", ValueError, {"resolution": 1e-300}),
    ("resolution below a microsecond", ValueError, {"resolution": 1e-7}),
    ("ttl 10**400", ValueError, {"ttl": 10**400}),
    ("prefix lone surrogate", ValueError, {"key_prefix": "p\ud800"}),
    ("clock other", ValueError, {"clock": "ntp"}),
    ("prefix bytes", TypeError, {"key_prefix": b"p"}),
    ("prefix None", TypeError, {"key_prefix": None}),
    ("cast_fn not callable", TypeError, {"cast_fn": 5}),
]


@pytest.mark.parametrize("cls", [MultiMapWithTTL, AsyncMultiMapWithTTL])
@pytest.mark.parametrize(("case", "error", "kwargs"), CONSTRUCTOR, ids=[c[0] for c in CONSTRUCTOR])
def test_bad_constructor_arguments(
    cls: type, case: str, error: type[Exception], kwargs: dict[str, Any]
) -> None:
    # A client of the right kind: the prefix is encoded as that client encodes.
    client = fakeredis.FakeRedis() if cls is MultiMapWithTTL else fakeredis.FakeAsyncRedis()
    args = {"redis_client": client, "key_prefix": "p", **kwargs}
    with pytest.raises(error):
        cls(**args)


@pytest.mark.parametrize(
    ("cls", "client", "wanted"),
    [
        (MultiMapWithTTL, redis.asyncio.Redis(), "AsyncMultiMapWithTTL"),
        (MultiMapWithTTL, fakeredis.FakeAsyncRedis(), "AsyncMultiMapWithTTL"),
        (AsyncMultiMapWithTTL, redis.Redis(), "use MultiMapWithTTL"),
        (AsyncMultiMapWithTTL, fakeredis.FakeRedis(), "use MultiMapWithTTL"),
    ],
    ids=["sync-got-async", "sync-got-fake-async", "async-got-sync", "async-got-fake-sync"],
)
def test_a_client_of_the_other_kind_is_refused_at_construction(
    cls: type, client: Any, wanted: str
) -> None:
    with pytest.raises(TypeError, match=wanted):
        cls(client, "p")


def test_a_bad_ttl_attribute_is_caught_at_call_time(make: Factory) -> None:
    backend = make.backend  # type: ignore[attr-defined]
    mm = make("attr")
    mm.ttl = -1
    with pytest.raises(ValueError, match="ttl"):
        mm.add("a", 1)
    mm.key_prefix = b"bytes"
    with pytest.raises(TypeError, match="key_prefix"):
        mm.get("a")
    assert backend.snapshot() == {}


ROUND_TRIPS: list[tuple[str, Any, Any]] = [
    ("empty string value", "", str),
    ("empty bytes value", b"", bytes),
    ("unicode value", "żółć ☃ 日本", str),
    ("binary value", bytes(range(256)), bytes),
    ("one megabyte value", b"x" * (1 << 20), bytes),
    ("negative int", -(2**62), int),
    ("big int", 2**100, int),
    ("float", 0.1 + 0.2, float),
    ("newline and glob chars", "a\nb*[?]\\", str),
    ("int of 4000 digits", 10**3999, int),
]

# Subclasses and number-likes are stored as the plain number they stand for,
# so they read back (and match) as that number.
AS_NUMBERS: list[tuple[str, Any, Any, bytes]] = [
    ("IntEnum", Color.RED, 1, b"1"),
    ("numpy int64", np.int64(42), 42, b"42"),
    ("numpy uint8", np.uint8(7), 7, b"7"),
    ("numpy float64", np.float64(1.5), 1.5, b"1.5"),
    ("float subclass", Ratio(0.25), 0.25, b"0.25"),
]


@pytest.mark.parametrize(
    ("case", "value", "plain", "stored"), AS_NUMBERS, ids=[c[0] for c in AS_NUMBERS]
)
def test_number_likes_are_stored_as_their_number(
    make: Factory, raw: Any, case: str, value: Any, plain: Any, stored: bytes
) -> None:
    mm = make("num", cast_fn=type(plain))
    assert mm.add("n", value) == 1
    assert raw.zrange("num:n", 0, -1) == [stored]
    assert list(mm.get("n")) == [plain]
    assert mm.contains("n", plain)
    assert mm.contains("n", value)
    assert mm.add_many([(Color.RED, [value])]) == 1  # an IntEnum name is its int
    assert sorted(mm.names()) == ["1", "n"]


@pytest.mark.parametrize(("case", "value", "cast"), ROUND_TRIPS, ids=[c[0] for c in ROUND_TRIPS])
def test_unusual_values_round_trip(make: Factory, case: str, value: Any, cast: Any) -> None:
    mm = make("rt", cast_fn=cast)
    mm.add("n", value)
    assert list(mm.get("n")) == [value]
    assert mm.contains("n", value)
    assert mm.remove("n", value) == 1


NAMES = ["", "with:colon", "*", "[a-z]?", "\\", "日本", "x" * 1000, 0, -7, 2**70]


@pytest.mark.parametrize("name", NAMES, ids=[repr(n)[:20] for n in NAMES])
def test_unusual_names_round_trip(make: Factory, name: Any) -> None:
    mm = make("nm:*[?")
    mm.add(name, 1)
    assert list(mm.get(name)) == [1]
    assert list(mm.names()) == [str(name)]
    mm.delete(name)
    assert list(mm.names()) == []


def test_wrongtype_key_left_untouched_value_and_ttl(make: Factory, raw: Any) -> None:
    backend = make.backend  # type: ignore[attr-defined]
    mm = make("fk")
    raw.rpush("fk:list", "theirs")
    raw.expire("fk:list", 777)
    raw.hset("fk:hash", "f", "v")
    before = backend.snapshot()
    ends_before = raw.pexpiretime("fk:list")  # absolute: the same however long the calls take
    error = response_error(mm)
    for name in ("list", "hash"):
        with pytest.raises(error, match="WRONGTYPE"):
            mm.add(name, 1, ttl=10**6)
        with pytest.raises(error, match="WRONGTYPE"):
            mm.add_many_with_ttl([(name, [(NOW + 10**6, 1)])])
        with pytest.raises(error, match="WRONGTYPE"):
            mm.remove(name, 1)
        with pytest.raises(error, match="WRONGTYPE"):
            mm.delete(name)
    assert backend.snapshot() == before
    assert raw.pexpiretime("fk:list") == ends_before
    assert raw.pttl("fk:hash") == -1
