"""The workload: client processes running a random mix of operations, every one recorded.

Each client is one OS process (a sync client, an asyncio client running a few
tasks, or a writer that sends 0.1.0's exact commands). A client's clock can be
skewed: its process replaces ``time.time`` with ``real + skew`` *before* it
imports the library, so every clock reading the library (and 0.1.0's code)
makes is skewed, while the recorder keeps the real time for the checker.

Operations are a table, :data:`OPS`: how to draw arguments, how to call the
sync and async methods. An operation that needs a feature the library under
test does not have yet (``lt``, ``ch``, ``iter_values``,
``get_many_with_expiry``, ...) is switched off by a probe at start, so the
same workload switches it on once the feature is merged. How the model applies
each operation is the checker's table (``checker.EFFECTS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from .recorder import OK, Recorder, classify

NAMES = ["a", "b", "c", "d"]
#: Two values of ~2 KB (ints of 2,100 digits): a plain write of a name holding
#: one goes without the write script (WATCH, a check, MULTI/EXEC: issue 27).
BIG_VALUES = [10**2100 + 1, 10**2100 + 2]
VALUES = list(range(8)) + BIG_VALUES
TTLS = [0.2, 0.5, 1.0, 2.0, 3.0]
#: ``add_many_with_ttl`` offsets from the writer's own clock (negative: already expired).
OFFSETS = [-0.5, 0.3, 1.0, 2.5]
RESOLUTION = 0.01
#: 0.1.0 sets the key's EXPIREAT to ``int(now) + ttl + 1`` on every write, which would cut
#: the life of values the library wrote with a later expiry. With a ttl longer than any
#: expiry the library writes (3 s plus the largest skew), the two coexist as in an upgrade.
OLD_TTL = 6
MAX_SKEW = 1.5
PREFIX = "hist"
#: A name that receives big batches (hundreds of values): past one ZSCAN page, so
#: ``iter_values`` really pages, and past the small encoding of a sorted set.
BIG = "big"
BIG_VALUES = list(range(1000, 1300))
#: A name no one writes: ``delete`` asks for it too, and must find it absent.
GHOST = "ghost"


@dataclass
class ClientSpec:
    """One client process (or, for ``kind="async"``, ``tasks`` logical clients in one)."""

    label: str
    kind: str = "sync"  # "sync" | "async" | "old010" | "quiet"
    clock: Literal["client", "server"] = "client"
    skew: float = 0.0
    retries: bool = True  # redis-py's default Retry, or none at all
    tasks: int = 1
    sabotage: str | None = None  # "client-clock-gc" | "persist" | "rerun": a broken build
    ops: list[str] | None = None  # restrict to these operations (None: all that exist)
    pause: float = 0.02  # seconds between operations: keeps the history checkable
    max_values: int | None = None  # a capped client (needs the max_values feature)
    names: list[str] | None = None  # its own names (a cap holds only if every writer has it)
    cluster: bool = False  # a cluster client, given one node's port
    wait_replicas: int = 0  # the library's WAIT after each write (needs wait_replicas)


@dataclass
class Op:
    """One row of the operation table."""

    weight: float
    draw: Callable[[random.Random], dict[str, Any]]
    sync: Callable[[Any, dict[str, Any]], Any]
    aio: Callable[[Any, dict[str, Any]], Awaitable[Any]]
    writes: bool = False
    needs: str | None = None  # feature name probed at start
    big: bool = False  # on the big name: not for a client with names of its own


def _values(rng: random.Random, most: int = 3) -> list[int]:
    return rng.sample(VALUES, rng.randint(1, min(most, len(VALUES))))


def _names(rng: random.Random, most: int = 3) -> list[str]:
    return rng.sample(NAMES, rng.randint(1, min(most, len(NAMES))))


# Modes are drawn from what the probe found; "lt" and "ch" switch on when they exist.
MODES: list[dict[str, bool]] = [
    {},
    {},
    {"nx": True},
    {"xx": True},
    {"gt": True},
    {"xx": True, "gt": True},
    {"lt": True},
    {"xx": True, "lt": True},
    {"ch": True},
    {"xx": True, "ch": True},
]
FEATURES: set[str] = set()


def _mode(rng: random.Random) -> dict[str, bool]:
    usable = [m for m in MODES if all(f in ("nx", "xx", "gt") or f in FEATURES for f in m)]
    return dict(rng.choice(usable))


def _draw_add(rng: random.Random) -> dict[str, Any]:
    return {
        "name": rng.choice(NAMES),
        "values": _values(rng),
        "ttl": rng.choice(TTLS),
        "mode": _mode(rng),
    }


def _draw_add_many(rng: random.Random) -> dict[str, Any]:
    return {
        "data": [[n, _values(rng, 2)] for n in _names(rng)],
        "ttl": rng.choice(TTLS),
        "mode": _mode(rng),
    }


def _draw_add_many_with_ttl(rng: random.Random) -> dict[str, Any]:
    # expire_at from this process's (possibly skewed) clock, as a user's code would.
    now = time.time()
    return {
        "data": [
            [n, [[round(now + rng.choice(OFFSETS), 3), v] for v in _values(rng, 2)]]
            for n in _names(rng, 2)
        ],
        "mode": _mode(rng),
    }


def _draw_name(rng: random.Random) -> dict[str, Any]:
    return {"name": rng.choice(NAMES)}


def _draw_remove(rng: random.Random) -> dict[str, Any]:
    return {"name": rng.choice(NAMES), "values": _values(rng)}


def _draw_contains(rng: random.Random) -> dict[str, Any]:
    return {"name": rng.choice(NAMES), "value": rng.choice(VALUES)}


def _draw_names(rng: random.Random) -> dict[str, Any]:
    return {"names": _names(rng)}


def _draw_delete(rng: random.Random) -> dict[str, Any]:
    # Half the time with a name never written: a count of names that existed is then
    # checked against one that certainly did not.
    return {"names": _names(rng, 1) + ([GHOST] if rng.random() < 0.5 else [])}


def _draw_add_big(rng: random.Random) -> dict[str, Any]:
    return {
        "name": BIG,
        "values": rng.sample(BIG_VALUES, rng.randint(140, 260)),
        "ttl": rng.choice(TTLS),
        "mode": _mode(rng),
    }


def _draw_big(rng: random.Random) -> dict[str, Any]:
    return {"name": BIG}


def _draw_nothing(rng: random.Random) -> dict[str, Any]:
    return {}


def _draw_sweep(rng: random.Random) -> dict[str, Any]:
    return {"dry_run": rng.random() < 0.3}


def _pairs(data: list[list[Any]]) -> list[tuple[str, list[Any]]]:
    return [(name, list(values)) for name, values in data]


def _timed(data: list[list[Any]]) -> list[tuple[str, list[tuple[float, int]]]]:
    return [(name, [(at, v) for at, v in pairs]) for name, pairs in data]


def _with_expiry(pairs: list[tuple[Any, float]]) -> list[list[Any]]:
    return sorted([int(v), float(e)] for v, e in pairs)


def _report(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


async def _alist(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


async def _await_sorted(coro: Awaitable[Any]) -> list[Any]:
    return sorted(await coro)


async def _await_many(coro: Awaitable[Any]) -> list[list[Any]]:
    return [sorted(group) for group in await coro]


async def _await_expiry(coro: Awaitable[Any]) -> list[list[Any]]:
    return _with_expiry(await coro)


async def _await_many_expiry(coro: Awaitable[Any]) -> list[list[list[Any]]]:
    return [_with_expiry(group) for group in await coro]


async def _await_report(coro: Awaitable[Any]) -> dict[str, Any]:
    return _report(await coro)


async def _await_int(coro: Awaitable[Any]) -> Any:
    return await coro


OPS: dict[str, Op] = {
    "add": Op(
        6,
        _draw_add,
        lambda mm, a: mm.add(a["name"], *a["values"], ttl=a["ttl"], **a["mode"]),
        lambda mm, a: _await_int(mm.add(a["name"], *a["values"], ttl=a["ttl"], **a["mode"])),
        writes=True,
    ),
    "add_many": Op(
        3,
        _draw_add_many,
        lambda mm, a: mm.add_many(_pairs(a["data"]), ttl=a["ttl"], **a["mode"]),
        lambda mm, a: _await_int(mm.add_many(_pairs(a["data"]), ttl=a["ttl"], **a["mode"])),
        writes=True,
    ),
    "add_many_with_ttl": Op(
        2,
        _draw_add_many_with_ttl,
        lambda mm, a: mm.add_many_with_ttl(_timed(a["data"]), **a["mode"]),
        lambda mm, a: _await_int(mm.add_many_with_ttl(_timed(a["data"]), **a["mode"])),
        writes=True,
    ),
    "remove": Op(
        2,
        _draw_remove,
        lambda mm, a: mm.remove(a["name"], *a["values"]),
        lambda mm, a: _await_int(mm.remove(a["name"], *a["values"])),
        writes=True,
    ),
    "delete": Op(
        0.3,
        _draw_delete,
        lambda mm, a: mm.delete(*a["names"]),
        lambda mm, a: _await_int(mm.delete(*a["names"])),
        writes=True,
    ),
    "get": Op(
        4,
        _draw_name,
        lambda mm, a: sorted(mm.get(a["name"])),
        lambda mm, a: _await_sorted(mm.get(a["name"])),
    ),
    "get_many": Op(
        2,
        _draw_names,
        lambda mm, a: [sorted(g) for g in mm.get_many(*a["names"])],
        lambda mm, a: _await_many(mm.get_many(*a["names"])),
    ),
    "count": Op(
        2,
        _draw_name,
        lambda mm, a: mm.count(a["name"]),
        lambda mm, a: _await_int(mm.count(a["name"])),
    ),
    "contains": Op(
        2,
        _draw_contains,
        lambda mm, a: mm.contains(a["name"], a["value"]),
        lambda mm, a: _await_int(mm.contains(a["name"], a["value"])),
    ),
    "get_with_expiry": Op(
        2,
        _draw_name,
        lambda mm, a: _with_expiry(mm.get_with_expiry(a["name"])),
        lambda mm, a: _await_expiry(mm.get_with_expiry(a["name"])),
    ),
    "get_many_with_expiry": Op(
        1,
        _draw_names,
        lambda mm, a: [_with_expiry(g) for g in mm.get_many_with_expiry(*a["names"])],
        lambda mm, a: _await_many_expiry(mm.get_many_with_expiry(*a["names"])),
        needs="get_many_with_expiry",
    ),
    "iter_values": Op(
        1,
        _draw_name,
        lambda mm, a: sorted(mm.iter_values(a["name"], count=2)),
        lambda mm, a: _await_sorted(_alist(mm.iter_values(a["name"], count=2))),
        needs="iter_values",
    ),
    "add_big": Op(
        0.3,
        _draw_add_big,
        lambda mm, a: mm.add(a["name"], *a["values"], ttl=a["ttl"], **a["mode"]),
        lambda mm, a: _await_int(mm.add(a["name"], *a["values"], ttl=a["ttl"], **a["mode"])),
        writes=True,
        big=True,
    ),
    "iter_big": Op(
        0.3,
        _draw_big,
        # A page of about 50 members: the name's hundreds of values take several.
        lambda mm, a: sorted(mm.iter_values(a["name"], count=50)),
        lambda mm, a: _await_sorted(_alist(mm.iter_values(a["name"], count=50))),
        needs="iter_values",
        big=True,
    ),
    "get_big": Op(
        0.1,
        _draw_big,
        lambda mm, a: sorted(mm.get(a["name"])),
        lambda mm, a: _await_sorted(mm.get(a["name"])),
        big=True,
    ),
    "names": Op(
        0.5,
        _draw_nothing,
        lambda mm, a: sorted(mm.names()),
        lambda mm, a: _await_sorted(_alist(mm.names())),
    ),
    "stats": Op(
        0.3,
        _draw_nothing,
        lambda mm, a: _report(mm.stats()),
        lambda mm, a: _await_report(mm.stats()),
    ),
    "sweep": Op(
        0.1,
        _draw_sweep,
        lambda mm, a: _report(mm.sweep(dry_run=a["dry_run"])),
        lambda mm, a: _await_report(mm.sweep(dry_run=a["dry_run"])),
        writes=True,
    ),
}
#: What the 0.1.0 writer does: its ``add_many`` (EXPIREAT, ZADD, ZREMRANGEBYSCORE).
OLD_OPS = ["old_add"]


def _skew_clock(skew: float) -> Callable[[], float]:
    """Make this process's clock run ``skew`` seconds off; return the real clock."""
    real = time.time
    if skew:
        time.time = lambda: real() + skew
    return real


def _probe(mm: Any) -> set[str]:
    """Which optional features the library has: a write with no values sends nothing."""
    found = {name for name in ("iter_values", "get_many_with_expiry") if hasattr(mm, name)}
    for flag in ("lt", "ch"):
        try:
            mm.add("probe", ttl=1, **{flag: True})
        except TypeError:
            continue
        found.add(flag)
    return found


def _waiting(spec: ClientSpec) -> dict[str, Any]:
    """The multimap's durability settings: a write is acknowledged once WAIT confirmed it.

    A write whose WAIT fell short raises DurabilityError, recorded as an
    unknown outcome (it ran on the primary, but may be lost), never as
    acknowledged. The wait is shorter than the socket timeout (2 s).
    """
    if not spec.wait_replicas:
        return {}
    return {"wait_replicas": spec.wait_replicas, "wait_timeout": 1.0}


def _client_options(spec: ClientSpec, asyncio: bool = False) -> dict[str, Any]:
    options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    if not spec.retries:
        import redis.asyncio.retry
        import redis.retry
        from redis.backoff import NoBackoff

        # An asyncio client given the blocking Retry converts it, with a warning.
        retry = redis.asyncio.retry.Retry if asyncio else redis.retry.Retry
        options["retry"] = retry(NoBackoff(), 0)
    return options


def _key(name: str) -> str:
    return f"{PREFIX}:{name}"


def _written_names(op: str, args: dict[str, Any]) -> list[str]:
    if op in ("add", "remove"):
        return [args["name"]]
    if op in ("add_many", "add_many_with_ttl", "old_add"):
        return [name for name, _ in args["data"]]
    return []


def _sabotage(spec: ClientSpec, raw: Any, op: str, args: dict[str, Any]) -> None:
    """The deliberately broken builds the checker must catch."""
    for name in _written_names(op, args):
        if spec.sabotage == "client-clock-gc":
            # Collect by the client's clock only (this client's clock is skewed).
            raw.zremrangebyscore(_key(name), 0, time.time())
        elif spec.sabotage == "persist":
            raw.persist(_key(name))  # the write's TTL step dropped


def run_client(spec: ClientSpec, port: int, seconds: float, seed: int, path: str) -> None:
    """Entry point of a client process: run ops for ``seconds``, then save the records."""
    real_time = _skew_clock(spec.skew)  # before the library reads time.time anywhere
    if spec.kind == "async":
        asyncio.run(_run_async(spec, port, seconds, seed, path, real_time))
        return
    import redis

    raw: Any
    if spec.cluster:
        from redis.cluster import RedisCluster

        raw = _retrying(lambda: RedisCluster(host="127.0.0.1", port=port, **_client_options(spec)))
    else:
        raw = redis.Redis(host="127.0.0.1", port=port, **_client_options(spec))
    recorder = Recorder(spec, path, real_time)
    rng = random.Random(f"{seed}-{spec.label}")
    if spec.kind == "old010":
        from ..old010 import Old010

        old = Old010(raw, PREFIX, ttl=OLD_TTL)
        _loop_old(old, recorder, rng, seconds)
        recorder.save(_header(spec, set()))
        return
    from multimapwithttl import MultiMapWithTTL

    if spec.kind == "quiet":
        mm = MultiMapWithTTL(raw, PREFIX, ttl=1, resolution=RESOLUTION, clock="server")
        _loop_quiet(mm, recorder)
        recorder.save(_header(spec, set()))
        return
    if spec.names:
        NAMES[:] = spec.names  # this process's draws use its own names
    capped: dict[str, Any] = {"max_values": spec.max_values} if spec.max_values else {}
    try:
        mm = MultiMapWithTTL(
            raw,
            PREFIX,
            ttl=1,
            resolution=RESOLUTION,
            clock=spec.clock,
            **capped,
            **_waiting(spec),
        )
    except TypeError:  # no max_values in this build yet: this client sits the run out
        recorder.save(_header(spec, set()))
        return
    features = _probe_retrying(lambda: _probe(mm)) | ({"max_values"} if capped else set())
    FEATURES.update(features)
    table = _table(spec, features)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        name = _pick(rng, table)
        op = OPS[name]
        args = op.draw(rng)
        record = recorder.start(name, args)
        try:
            result = op.sync(mm, args)
            if spec.sabotage == "rerun" and op.writes:
                # A lost reply re-run unseen: the caller gets the second run's answer.
                result = op.sync(mm, args)
        except Exception as error:  # every failure is recorded, none stops the run
            recorder.finish(record, classify(error), repr(error)[:200], error)
            time.sleep(0.05)  # the server may be down: do not spin
            continue
        recorder.finish(record, OK, result)
        if spec.sabotage and op.writes:
            with contextlib.suppress(Exception):  # a sabotage step lost to a fault is fine
                _sabotage(spec, raw, name, args)
        time.sleep(spec.pause)
    recorder.save(_header(spec, features))


def _retrying(connect: Callable[[], Any]) -> Any:
    """A cluster client reads the slot map when built: the node may be paused or stopped."""
    for _ in range(100):
        try:
            return connect()
        except Exception:
            time.sleep(0.2)
    return connect()


def _probe_retrying(probe: Callable[[], set[str]]) -> set[str]:
    for _ in range(50):  # the nemesis may have the server down at start
        try:
            return probe()
        except Exception:
            time.sleep(0.1)
    return set()


def _table(spec: ClientSpec, features: set[str]) -> list[tuple[str, float]]:
    return [
        (name, op.weight)
        for name, op in OPS.items()
        if (op.needs is None or op.needs in features)
        and (spec.ops is None or name in spec.ops)
        and not (op.big and spec.names)
    ]


def _pick(rng: random.Random, table: list[tuple[str, float]]) -> str:
    return rng.choices([n for n, _ in table], [w for _, w in table])[0]


def _header(spec: ClientSpec, features: set[str]) -> dict[str, Any]:
    return {**dataclasses.asdict(spec), "features": sorted(features)}


#: The quiet phase: rounds of every whole-prefix read, spaced so values expire between.
QUIET_ROUNDS = 8
QUIET_PAUSE = 0.5


def _loop_quiet(mm: Any, recorder: Recorder) -> None:
    """After every other client has stopped: reads whose answers are exact.

    Concurrency makes ``stats``, ``sweep`` and ``count`` answers uncertain by as
    many values as writes are in flight; with no writer left, the model knows
    every value's expiry and only a value expiring during the call itself is
    uncertain. The rounds run while the last values expire (ttls up to 3 s), so
    sweeps collect and delete, then one real sweep, and a last look.
    """
    # Uncapped names only: a capped name's reads are the capped client's.
    names = ["a", "b", "c", "d", BIG, GHOST]
    script: list[tuple[str, dict[str, Any]]] = []
    for _ in range(QUIET_ROUNDS):
        script += [("stats", {}), ("sweep", {"dry_run": True}), ("names", {})]
        script += [("count", {"name": n}) for n in names] + [("get_many", {"names": names})]
        script.append(("pause", {}))
    script += [("sweep", {"dry_run": False}), ("stats", {}), ("names", {})]
    for name, args in script:
        if name == "pause":
            time.sleep(QUIET_PAUSE)
            continue
        record = recorder.start(name, args)
        try:
            result = OPS[name].sync(mm, args)
        except Exception as error:
            recorder.finish(record, classify(error), repr(error)[:200], error)
            continue
        recorder.finish(record, OK, result)


def _loop_old(old: Any, recorder: Recorder, rng: random.Random, seconds: float) -> None:
    spec = recorder.spec
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        args: dict[str, Any] = {
            "data": [[n, _values(rng, 2)] for n in _names(rng, 2)],
            "ttl": OLD_TTL,
        }
        record = recorder.start("old_add", args)
        try:
            old.add_many([(n, list(vs)) for n, vs in args["data"]])
        except Exception as error:
            recorder.finish(record, classify(error), repr(error)[:200], error)
            time.sleep(0.05)
            continue
        recorder.finish(record, OK, None)
        time.sleep(spec.pause * 3)  # 0.1.0's writes are a minority, as in a rolling upgrade


async def _run_async(
    spec: ClientSpec,
    port: int,
    seconds: float,
    seed: int,
    path: str,
    real_time: Callable[[], float],
) -> None:
    import redis.asyncio

    from multimapwithttl import AsyncMultiMapWithTTL

    raw: Any
    if spec.cluster:
        from redis.asyncio.cluster import RedisCluster

        # The asyncio cluster client connects on first use: nothing to retry here.
        raw = RedisCluster(host="127.0.0.1", port=port, **_client_options(spec, asyncio=True))
    else:
        raw = redis.asyncio.Redis(
            host="127.0.0.1", port=port, **_client_options(spec, asyncio=True)
        )
    amm = AsyncMultiMapWithTTL(
        raw,
        PREFIX,
        ttl=1,
        resolution=RESOLUTION,
        clock=spec.clock,
        **_waiting(spec),
    )
    features = {n for n in ("iter_values", "get_many_with_expiry") if hasattr(amm, n)}
    for flag in ("lt", "ch"):
        for _ in range(50):
            try:
                await amm.add("probe", ttl=1, **{flag: True})
                features.add(flag)
                break
            except TypeError:
                break
            except Exception:
                await asyncio.sleep(0.1)
    FEATURES.update(features)
    table = _table(spec, features)
    recorders = [
        Recorder(dataclasses.replace(spec, label=f"{spec.label}.{i}"), f"{path}.{i}", real_time)
        for i in range(spec.tasks)
    ]

    async def task(recorder: Recorder) -> None:
        rng = random.Random(f"{seed}-{recorder.spec.label}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            name = _pick(rng, table)
            op = OPS[name]
            args = op.draw(rng)
            record = recorder.start(name, args)
            try:
                result = await op.aio(amm, args)
            except Exception as error:
                recorder.finish(record, classify(error), repr(error)[:200], error)
                await asyncio.sleep(0.05)
                continue
            recorder.finish(record, OK, result)
            await asyncio.sleep(recorder.spec.pause)

    await asyncio.gather(*(task(r) for r in recorders))
    await raw.aclose()
    for recorder in recorders:
        recorder.save(_header(recorder.spec, features))
