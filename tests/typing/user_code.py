"""Well-typed user code: checked by ``mypy --strict`` and by pyright (strict), never run.

Every public method of both classes appears here with ``assert_type``, for
each kind of ``cast_fn`` (none, ``int``, ``str``, ``bytes``, a lambda, a
function of the user's), given positionally and by keyword. The lines that
end in ``# type: ignore[code]  # pyright: ignore[rule]`` must be type errors:
mypy's ``warn_unused_ignores`` (part of ``--strict``) and pyright's
``reportUnnecessaryTypeIgnoreComment`` fail the check when they are not, so a
regression in the public types either way (too loose or too strict) fails
tests/test_typing.py. pyrightconfig.json beside this file holds pyright's settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import redis
import redis.asyncio

from multimapwithttl import (
    AsyncMultiMapWithTTL,
    DurabilityError,
    MultiMapWithTTL,
    Stats,
    SweepReport,
)

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def parse_point(raw: bytes) -> Point:
    x, y = raw.split(b",")
    return Point(int(x), int(y))


def as_text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


# -- construction: what each cast_fn makes of the class ------------------------


def construction(r: redis.Redis) -> None:
    # No cast_fn: int, as in 0.1.0.
    assert_type(MultiMapWithTTL(r, "p"), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", 60), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", 1.5, None), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", cast_fn=None), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(redis_client=r, key_prefix="p", ttl=60), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", resolution=0.001, clock="server"), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", max_values=10), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", 60, str, max_values=None), MultiMapWithTTL[str])
    cap: int | None = MultiMapWithTTL(r, "p").max_values
    durable = MultiMapWithTTL(r, "p", 60, str, wait_replicas=1, wait_timeout=0.5, wait_aof=True)
    assert_type(durable, MultiMapWithTTL[str])
    assert_type(durable.wait_replicas, int)
    assert_type(durable.wait_timeout, float)
    assert_type(durable.wait_aof, bool)
    try:
        durable.add("a", "b")
    except DurabilityError as error:
        assert_type(error.result, Any)
        assert_type(error.acknowledged, int | None)
        assert_type(error.required, int)
        assert_type(error.local, bool | None)
        base: redis.RedisError = error
        del base
    del durable
    del cap

    # Positional cast_fn.
    assert_type(MultiMapWithTTL(r, "p", 60, int), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", 60, str), MultiMapWithTTL[str])
    assert_type(MultiMapWithTTL(r, "p", 60, bytes), MultiMapWithTTL[bytes])
    assert_type(MultiMapWithTTL(r, "p", 60, float), MultiMapWithTTL[float])
    assert_type(MultiMapWithTTL(r, "p", 60, parse_point), MultiMapWithTTL[Point])
    assert_type(MultiMapWithTTL(r, "p", 60, lambda raw: Point(0, 0)), MultiMapWithTTL[Point])

    # Keyword cast_fn, with or without ttl.
    assert_type(MultiMapWithTTL(r, "p", cast_fn=int), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL(r, "p", cast_fn=str), MultiMapWithTTL[str])
    assert_type(MultiMapWithTTL(r, "p", cast_fn=bytes), MultiMapWithTTL[bytes])
    assert_type(MultiMapWithTTL(r, "p", cast_fn=Decimal), MultiMapWithTTL[Decimal])
    assert_type(MultiMapWithTTL(r, "p", cast_fn=parse_point), MultiMapWithTTL[Point])
    assert_type(MultiMapWithTTL(r, "p", cast_fn=as_text), MultiMapWithTTL[str])
    assert_type(MultiMapWithTTL(r, "p", 60, cast_fn=str), MultiMapWithTTL[str])
    assert_type(MultiMapWithTTL(r, "p", ttl=60, cast_fn=bytes), MultiMapWithTTL[bytes])
    assert_type(
        MultiMapWithTTL(r, "p", cast_fn=str, resolution=0.01, clock="client"),
        MultiMapWithTTL[str],
    )
    assert_type(MultiMapWithTTL(r, "p", cast_fn=lambda raw: float(raw)), MultiMapWithTTL[float])
    # A cast_fn returning Any (json.loads) gives Any values.
    assert_type(MultiMapWithTTL(r, "p", cast_fn=json.loads), MultiMapWithTTL[Any])

    # Declared types agree with what is inferred.
    plain: MultiMapWithTTL[int] = MultiMapWithTTL(r, "p")
    texts: MultiMapWithTTL[str] = MultiMapWithTTL(r, "p", cast_fn=str)
    points: MultiMapWithTTL[Point] = MultiMapWithTTL(r, "p", 60, parse_point)
    del plain, texts, points


def construction_async(r: redis.asyncio.Redis) -> None:
    assert_type(AsyncMultiMapWithTTL(r, "p"), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL(r, "p", 60), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL(r, "p", 60, None), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=None), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL(r, "p", 60, int), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL(r, "p", 60, str), AsyncMultiMapWithTTL[str])
    assert_type(AsyncMultiMapWithTTL(r, "p", 60, bytes), AsyncMultiMapWithTTL[bytes])
    assert_type(AsyncMultiMapWithTTL(r, "p", 60, parse_point), AsyncMultiMapWithTTL[Point])
    assert_type(
        AsyncMultiMapWithTTL(r, "p", 60, lambda raw: Point(0, 0)), AsyncMultiMapWithTTL[Point]
    )
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=int), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=str), AsyncMultiMapWithTTL[str])
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=bytes), AsyncMultiMapWithTTL[bytes])
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=parse_point), AsyncMultiMapWithTTL[Point])
    assert_type(
        AsyncMultiMapWithTTL(r, "p", ttl=5, cast_fn=lambda raw: float(raw), clock="server"),
        AsyncMultiMapWithTTL[float],
    )
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=json.loads), AsyncMultiMapWithTTL[Any])
    assert_type(AsyncMultiMapWithTTL(r, "p", cast_fn=str, max_values=5), AsyncMultiMapWithTTL[str])
    texts: AsyncMultiMapWithTTL[str] = AsyncMultiMapWithTTL(r, "p", cast_fn=str)
    del texts


def construction_from_url() -> None:
    url = "redis://localhost:6379/0"
    assert_type(MultiMapWithTTL.from_url(url, "p"), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL.from_url(url, "p", 60), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL.from_url(url, "p", 60, None), MultiMapWithTTL[int])
    assert_type(MultiMapWithTTL.from_url(url, "p", cast_fn=str), MultiMapWithTTL[str])
    assert_type(MultiMapWithTTL.from_url(url, "p", 60, bytes), MultiMapWithTTL[bytes])
    assert_type(MultiMapWithTTL.from_url(url, "p", 60, parse_point), MultiMapWithTTL[Point])
    assert_type(
        MultiMapWithTTL.from_url(url, "p", ttl=5, cast_fn=as_text, clock="server"),
        MultiMapWithTTL[str],
    )
    assert_type(
        MultiMapWithTTL.from_url(url, "p", cluster=True, decode_responses=True),
        MultiMapWithTTL[int],
    )
    assert_type(
        MultiMapWithTTL.from_url(url, "p", cast_fn=json.loads, socket_timeout=1.5),
        MultiMapWithTTL[Any],
    )
    assert_type(AsyncMultiMapWithTTL.from_url(url, "p"), AsyncMultiMapWithTTL[int])
    assert_type(AsyncMultiMapWithTTL.from_url(url, "p", cast_fn=str), AsyncMultiMapWithTTL[str])
    assert_type(
        AsyncMultiMapWithTTL.from_url(url, "p", 60, parse_point, resolution=0.001),
        AsyncMultiMapWithTTL[Point],
    )
    assert_type(
        AsyncMultiMapWithTTL.from_url("redis+cluster://h:7000", "p", cast_fn=bytes),
        AsyncMultiMapWithTTL[bytes],
    )
    assert_type(MultiMapWithTTL.from_url(url, "p", max_values=3), MultiMapWithTTL[int])
    assert_type(
        AsyncMultiMapWithTTL.from_url(url, "p", cast_fn=str, wait_replicas=1, wait_timeout=2),
        AsyncMultiMapWithTTL[str],
    )
    assert_type(
        AsyncMultiMapWithTTL.from_url(url, "p", cast_fn=str, max_values=3),
        AsyncMultiMapWithTTL[str],
    )
    texts: MultiMapWithTTL[str] = MultiMapWithTTL.from_url(url, "p", cast_fn=str)
    del texts


# -- the sync class's methods ---------------------------------------------------


def writes(mm: MultiMapWithTTL[Any]) -> None:
    # Values: str, bytes, int, float; names: str or int.
    assert_type(mm.add("a", "x"), int)
    assert_type(mm.add("a", b"x", 1, 2.5), int)
    assert_type(mm.add(7, "x"), int)
    assert_type(mm.add("a"), int)
    assert_type(mm.add("a", "x", ttl=60), int)
    assert_type(mm.add("a", "x", ttl=0.5, nx=True), int)
    assert_type(mm.add("a", "x", xx=True, gt=True), int)
    assert_type(mm.add("a", "x", lt=True), int)
    assert_type(mm.add("a", "x", ttl=30, xx=True, lt=True, ch=True), int)
    words = ["x", "y"]
    assert_type(mm.add("a", *words), int)

    # add_many: pairs (any iterable of them), or a mapping, of any value collection.
    assert_type(mm.add_many([("a", ["x", "y"]), ("b", [1, 2])]), int)
    assert_type(mm.add_many([("a", {"x", "y"})], 60), int)
    assert_type(mm.add_many((("a", (b"x",)),), ttl=1.5, nx=True), int)
    assert_type(mm.add_many({"a": ["x"], "b": [1]}), int)
    assert_type(mm.add_many({1: [1.5], 2: [b"y"]}, xx=True), int)
    by_name: dict[str, list[str]] = {"a": ["x"], "b": ["y", "z"]}
    assert_type(mm.add_many(by_name), int)
    by_id: dict[int, set[int]] = {1: {1, 2}}
    assert_type(mm.add_many(by_id, gt=True), int)
    assert_type(mm.add_many(by_id, 60, lt=True, ch=True), int)
    assert_type(mm.add_many([("a", ["x"])], xx=True, ch=True), int)
    mixed: dict[str | int, tuple[str, ...]] = {"a": ("x",), 1: ("y",)}
    assert_type(mm.add_many(mixed), int)
    pairs: list[tuple[str, list[bytes]]] = [("a", [b"x"])]
    assert_type(mm.add_many(pairs), int)
    assert_type(mm.add_many((name, [name.upper()]) for name in ["a", "b"]), int)
    assert_type(mm.add_many(by_name.items()), int)

    # add_many_with_ttl: (name, [(expire_at, value), ...]) pairs or a mapping.
    assert_type(mm.add_many_with_ttl([("a", [(1700000000, "x"), (1.7e9, b"y")])]), int)
    assert_type(mm.add_many_with_ttl({"a": [(1.7e9, 1)]}, nx=True), int)
    timed: dict[str, list[tuple[float, str]]] = {"a": [(1.7e9, "x")]}
    assert_type(mm.add_many_with_ttl(timed, xx=True, gt=True), int)
    assert_type(mm.add_many_with_ttl(timed, lt=True, ch=True), int)
    timed_pairs: list[tuple[int, list[tuple[int, int]]]] = [(1, [(1700000000, 5)])]
    assert_type(mm.add_many_with_ttl(timed_pairs), int)

    assert_type(mm.remove("a", "x", b"y", 3, 4.5), int)
    assert_type(mm.remove(1), int)
    assert_type(mm.delete("a", 1), int)
    assert_type(mm.delete(), int)
    existed: int = mm.delete("a")
    del existed

    # touch: how many were live; add_new: per value, whether it was new.
    assert_type(mm.touch("a", "x", b"y", 1, 2.5), int)
    assert_type(mm.touch(7, "x", ttl=60), int)
    assert_type(mm.touch("a", *words, ttl=0.5), int)
    assert_type(mm.add_new("a", "x", b"y", 1, 2.5), list[bool])
    assert_type(mm.add_new(7, *words, ttl=60), list[bool])
    fresh: list[str] = [w for w, new in zip(words, mm.add_new("a", *words), strict=True) if new]
    del fresh


def closing(r: redis.Redis) -> None:
    # from_url's client is the multimap's: close() / with close it.
    with MultiMapWithTTL.from_url("redis://localhost", "p", cast_fn=str) as mm:
        assert_type(mm, MultiMapWithTTL[str])
        assert_type(mm.add_new("a", "x"), list[bool])
    with MultiMapWithTTL(r, "p") as ints:
        assert_type(ints, MultiMapWithTTL[int])
    assert_type(mm.close(), None)


async def closing_async(r: redis.asyncio.Redis) -> None:
    async with AsyncMultiMapWithTTL.from_url("redis://localhost", "p", cast_fn=bytes) as mm:
        assert_type(mm, AsyncMultiMapWithTTL[bytes])
        assert_type(await mm.touch("a", "x"), int)
    async with AsyncMultiMapWithTTL(r, "p") as ints:
        assert_type(ints, AsyncMultiMapWithTTL[int])
    assert_type(await mm.aclose(), None)


def reads(
    ints: MultiMapWithTTL[int],
    texts: MultiMapWithTTL[str],
    raw: MultiMapWithTTL[bytes],
    points: MultiMapWithTTL[Point],
) -> None:
    assert_type(ints.get("a"), Iterator[int])
    assert_type(texts.get(1), Iterator[str])
    assert_type(raw.get("a"), Iterator[bytes])
    assert_type(points.get("a"), Iterator[Point])
    assert_type(ints.get_many("a", 1), Iterator[Iterator[int]])
    assert_type(texts.get_many(), Iterator[Iterator[str]])
    assert_type(points.get_many("a", "b"), Iterator[Iterator[Point]])
    assert_type(ints.get_with_expiry("a"), list[tuple[int, float]])
    assert_type(raw.get_with_expiry("a"), list[tuple[bytes, float]])
    assert_type(points.get_with_expiry(2), list[tuple[Point, float]])
    assert_type(ints.contains("a", 1), bool)
    assert_type(texts.contains(1, "x"), bool)
    assert_type(ints.count("a"), int)
    assert_type(ints.names(), Iterator[str])
    assert_type(ints.get_many_with_expiry("a", 1), list[list[tuple[int, float]]])
    assert_type(texts.get_many_with_expiry(), list[list[tuple[str, float]]])
    assert_type(points.get_many_with_expiry("a"), list[list[tuple[Point, float]]])
    assert_type(ints.iter_values("a"), Iterator[int])
    assert_type(texts.iter_values(1, count=10), Iterator[str])
    assert_type(points.iter_values("a", count=500), Iterator[Point])

    # What a user does with them.
    total: int = sum(ints.get("a"))
    joined: str = ",".join(texts.get("a"))
    xs: list[int] = [p.x for p in points.get("a")]
    per_name: list[list[str]] = [list(values) for values in texts.get_many("a", "b")]
    for value, expire_at in texts.get_with_expiry("a"):
        assert_type(value, str)
        assert_type(expire_at, float)
    soonest: str | None = next(texts.get("a"), None)
    for pairs in texts.get_many_with_expiry("a", "b"):
        for value, expire_at in pairs:
            assert_type(value, str)
            assert_type(expire_at, float)
    for point in points.iter_values("a", count=100):
        assert_type(point, Point)
    big_total: int = sum(ints.iter_values("a"))
    del total, joined, xs, per_name, soonest, big_total


def settings(mm: MultiMapWithTTL[str]) -> None:
    assert_type(mm.resolution, float)
    assert_type(mm.clock, Literal["client", "server"])
    assert_type(mm.ttl, float)
    assert_type(mm.key_prefix, str)
    assert_type(mm.cast_fn, Callable[[Any], str] | None)
    mm.ttl = 30
    mm.key_prefix = "other"
    shown: str = repr(mm)
    del shown


def maintenance(mm: MultiMapWithTTL[int]) -> None:
    assert_type(mm.stats(), Stats)
    assert_type(mm.stats(progress=print), Stats)
    assert_type(mm.sweep(), SweepReport)
    assert_type(mm.sweep(dry_run=True, progress=lambda scanned: None), SweepReport)
    plan: list[tuple[str, str]] = []
    assert_type(mm.sweep(dry_run=True, on_key=lambda key, action: plan.append((key, action))),
                SweepReport)  # fmt: skip
    stats = mm.stats()
    live: int = stats.live_values
    memory: int | None = stats.memory_bytes
    soonest: float | None = stats.soonest_expiry
    deleted: int = mm.sweep().deleted
    del live, memory, soonest, deleted


def generic_helper(mm: MultiMapWithTTL[Any]) -> None:
    # Code generic in the value type works on any instance.
    def first(m: MultiMapWithTTL[Point], name: str) -> Point | None:
        return next(m.get(name), None)

    p = first(MultiMapWithTTL(redis.Redis(), "p", cast_fn=parse_point), "a")
    assert_type(p, Point | None)


# -- the async class's methods --------------------------------------------------


async def async_methods(
    ints: AsyncMultiMapWithTTL[int],
    texts: AsyncMultiMapWithTTL[str],
    points: AsyncMultiMapWithTTL[Point],
) -> None:
    assert_type(await ints.add("a", "x", b"y", 1, 2.5), int)
    assert_type(await ints.add("a", "x", ttl=60, nx=True), int)
    assert_type(await ints.add(1, "x", xx=True, gt=True), int)
    assert_type(await ints.add_many([("a", ["x"])], 60), int)
    assert_type(await ints.add_many({"a": ["x"], "b": [1]}, ttl=1.5, nx=True), int)
    by_name: dict[str, list[str]] = {"a": ["x"]}
    assert_type(await texts.add_many(by_name, xx=True), int)
    assert_type(await ints.add_many_with_ttl([("a", [(1.7e9, "x")])]), int)
    assert_type(await ints.add_many_with_ttl({"a": [(1700000000, b"x")]}, gt=True), int)
    assert_type(await ints.add("a", "x", lt=True, ch=True), int)
    assert_type(await texts.add_many(by_name, xx=True, lt=True, ch=True), int)
    assert_type(await ints.add_many_with_ttl({"a": [(1.7e9, "x")]}, xx=True, ch=True), int)
    assert_type(await ints.remove("a", "x", 1), int)
    assert_type(await ints.delete("a", 2), int)
    assert_type(await ints.touch("a", "x", 1, ttl=60), int)
    assert_type(await texts.add_new("a", "x", b"y", 2.5, ttl=1.5), list[bool])

    assert_type(await ints.get("a"), list[int])
    assert_type(await texts.get(1), list[str])
    assert_type(await points.get("a"), list[Point])
    assert_type(await ints.get_many("a", "b"), list[list[int]])
    assert_type(await points.get_many("a"), list[list[Point]])
    assert_type(await texts.get_with_expiry("a"), list[tuple[str, float]])
    assert_type(await points.get_with_expiry("a"), list[tuple[Point, float]])
    assert_type(await ints.contains("a", 1), bool)
    assert_type(await ints.count("a"), int)
    assert_type(ints.names(), AsyncIterator[str])
    assert_type(await texts.get_many_with_expiry("a", 1), list[list[tuple[str, float]]])
    assert_type(await points.get_many_with_expiry(), list[list[tuple[Point, float]]])
    assert_type(ints.iter_values("a"), AsyncIterator[int])
    assert_type(points.iter_values("a", count=10), AsyncIterator[Point])
    async for point in points.iter_values("a", count=100):
        assert_type(point, Point)
    async for name in texts.names():
        assert_type(name, str)
    assert_type(await ints.stats(), Stats)
    assert_type(await ints.sweep(dry_run=True), SweepReport)
    assert_type(await ints.sweep(dry_run=True, on_key=print), SweepReport)
    assert_type(ints.resolution, float)
    assert_type(ints.clock, Literal["client", "server"])

    first: Point = (await points.get("a"))[0]
    del first


# -- what must NOT type-check -----------------------------------------------------
# Each line is a type error; the ignore comments name the error. An ignore that
# stops being needed is itself an error, in both checkers.


def not_values(mm: MultiMapWithTTL[int]) -> None:
    mm.add("a", None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add("a", ["x", "y"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add("a", object())  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add(None, "x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add(b"a", "x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add("a", "x", ttl="60")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add("a", "x", lt="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add_many([("a", [None])])  # type: ignore[list-item]  # pyright: ignore[reportCallIssue, reportArgumentType]
    mm.add_many({"a": [None]})  # type: ignore[list-item]  # pyright: ignore[reportCallIssue, reportArgumentType]
    mm.add_many("ab")  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    mm.add_many([("a", ["x"])], 60, True)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    bad: dict[str, list[None]] = {"a": [None]}
    mm.add_many(bad)  # type: ignore[arg-type]  # pyright: ignore[reportCallIssue, reportArgumentType]
    mm.add_many_with_ttl([("a", [("x", 1.7e9)])])  # type: ignore[list-item]  # pyright: ignore[reportCallIssue, reportArgumentType]
    mm.add_many_with_ttl([("a", ["x"])])  # type: ignore[list-item]  # pyright: ignore[reportCallIssue, reportArgumentType]
    mm.remove("a", None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.contains("a", None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.get(None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.get_many(b"a")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.delete(None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.count(1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.sweep(True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    mm.iter_values("a", 100)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    mm.iter_values("a", count="100")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.get_many_with_expiry(None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.touch("a", None)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.touch("a", "x", ttl="60")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add_new("a", ["x", "y"])  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    mm.add_new("a", "x", nx=True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    new: list[int] = mm.add_new("a", "x")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    del new


def wrong_value_types(r: redis.Redis, ar: redis.asyncio.Redis) -> None:
    ints = MultiMapWithTTL(r, "p")
    texts = MultiMapWithTTL(r, "p", cast_fn=str)
    s: str = next(ints.get("a"))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    i: int = next(texts.get("a"))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    b: list[tuple[bytes, float]] = texts.get_with_expiry("a")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    wrong: MultiMapWithTTL[str] = MultiMapWithTTL(r, "p")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    awrong: AsyncMultiMapWithTTL[bytes] = AsyncMultiMapWithTTL(ar, "p", cast_fn=str)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]
    # Async reads must be awaited: a coroutine is not a list.
    n: list[int] = AsyncMultiMapWithTTL(ar, "p").get("a")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    del s, i, b, wrong, awrong, n


def bad_settings(r: redis.Redis) -> None:
    MultiMapWithTTL(r, "p", clock="local")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    MultiMapWithTTL(r, "p", cast_fn=3)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    MultiMapWithTTL(r, "p", 60, str, 0.5)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    MultiMapWithTTL(r, 1)  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    MultiMapWithTTL(r, "p", ttl="1h")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    MultiMapWithTTL(r, "p", wait_replicas="1")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    MultiMapWithTTL(r, "p", wait_timeout="1s")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    mm = MultiMapWithTTL(r, "p")
    mm.resolution = 2.0  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    mm.clock = "server"  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    mm.wait_replicas = 2  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    MultiMapWithTTL.from_url(r, "p")  # type: ignore[call-overload]  # pyright: ignore[reportArgumentType]
    MultiMapWithTTL.from_url("redis://h", "p", cast_fn=3)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    wrong: MultiMapWithTTL[str] = MultiMapWithTTL.from_url("redis://h", "p")  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    del wrong
