"""The sans-I/O core: settings, validation and every operation, as data in and out.

:class:`MultiMapCore` holds what both shells share; each operation is a
generator (see :mod:`._protocol`) that the sync and async shells drive.
Nothing here touches a socket.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from ._commands import Call, KeyWrite, delete_calls, members_per_key, read_calls, write_calls
from ._expiry import Grain, lifetime_ms, live_bound
from ._keys import key_of, name_of, scan_pattern
from ._protocol import Conversation, Operation, raise_first_error
from ._validate import (
    Name,
    Value,
    check_cast_fn,
    check_expire_at,
    check_name,
    check_pair,
    check_prefix,
    check_resolution,
    check_ttl,
    check_value,
    check_values,
)

_SEQUENCES = (list, tuple)

#: ``cast_fn`` receives each member as the client returns it (bytes, or str
#: with ``decode_responses=True``) and returns what the caller gets.
CastFn = Callable[[Any], Any]


def _items(data: object) -> Iterable[Any]:
    if type(data) in _SEQUENCES:
        return data  # type: ignore[return-value]
    if isinstance(data, Mapping):
        return data.items()
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return data
    raise TypeError(f"data must be an iterable of (name, values) pairs, got {data!r}")


def _text(member: bytes | str) -> str:
    return member.decode("utf-8") if isinstance(member, bytes) else member


def _encoded(value: Value) -> bytes:
    # The bytes redis-py would send, to spot the same member given twice.
    if isinstance(value, bytes):
        return value
    if isinstance(value, float):
        return repr(value).encode()
    return str(value).encode("utf-8")


#: The Redis client type a shell works with.
ClientT = TypeVar("ClientT")


class MultiMapCore(Generic[ClientT]):
    """Settings and operations shared by :class:`MultiMapWithTTL` and its async twin."""

    def __init__(
        self,
        redis_client: ClientT,
        key_prefix: str,
        ttl: float = 3600,
        cast_fn: CastFn | None = None,
        *,
        resolution: float = 1.0,
    ) -> None:
        check_ttl(ttl)
        check_cast_fn(cast_fn)
        #: The client every call goes through (read at call time; never closed here).
        self.redis: ClientT = redis_client
        #: Every key is ``f"{key_prefix}:{name}"``.
        self.key_prefix: str = check_prefix(key_prefix)
        #: Default time to live of added values, in seconds.
        self.ttl: float = ttl
        #: Applied to each member read back; ``None`` means ``int``, as in 0.1.0.
        self.cast_fn: CastFn | None = cast_fn
        self._grain = Grain(check_resolution(resolution))
        self._conversation = Conversation()

    @property
    def resolution(self) -> float:
        """The grain of stored expiry times, in seconds (read-only)."""
        return self._grain.seconds

    # -- helpers -----------------------------------------------------------

    #: Client classes that are clusters (set by each shell).
    _cluster_types: tuple[type, ...] = ()
    _seen_client: object = None
    _seen_cluster = False

    @property
    def _cluster(self) -> bool:
        """True when talking to a Redis Cluster: keys are then grouped by hash slot."""
        # ``redis`` is public and may be swapped; isinstance on redis-py's
        # protocol-based cluster classes is slow, so remember the last answer.
        if self.redis is not self._seen_client:
            self._seen_cluster = isinstance(self.redis, self._cluster_types)
            self._seen_client = self.redis
        return self._seen_cluster

    @staticmethod
    def _now() -> float:
        return time.time()

    def _key(self, name: object) -> str:
        return key_of(check_prefix(self.key_prefix), check_name(name))

    def _caster(self) -> CastFn:
        """The function applied to each member read back (picked once per call)."""
        cast = self.cast_fn if self.cast_fn is not None else int
        if cast is str:
            # str(b"abc") is "b'abc'": give the text back, as it was stored.
            return _text
        return cast

    def _ttl(self, ttl: object) -> float:
        return check_ttl(self.ttl if ttl is None else ttl)

    def _writes_with_ttl(self, data: object, ttl: object, now: float) -> list[KeyWrite]:
        seconds = self._ttl(ttl)
        score = self._grain.round_up(now + seconds)
        score_arg = self._grain.score_arg(score)
        life = lifetime_ms(score, now)
        prefix = check_prefix(self.key_prefix)
        writes = []
        for n, item in enumerate(_items(data)):
            where = f"data[{n}]"
            name, values = check_pair(item, where, "name", "values")
            key = key_of(prefix, check_name(name))
            members = check_values(values, where)
            if members:
                writes.append(KeyWrite(key, members, score=score_arg, lifetime_ms=life))
        return writes

    def _writes_at(self, data: object, now: float) -> list[KeyWrite]:
        writes = []
        for n, item in enumerate(_items(data)):
            name, pairs = check_pair(item, f"data[{n}]", "name", "values")
            key = self._key(name)
            # The same member twice in one call: the last expiry wins, as in ZADD.
            latest: dict[bytes, tuple[float, Value]] = {}
            for m, pair in enumerate(check_values(pairs, f"data[{n}]", plain=False)):
                where = f"data[{n}][1][{m}]"
                expire_at, value = check_pair(pair, where, "expire_at", "value")
                when = self._grain.round_up(check_expire_at(expire_at, where))
                latest[_encoded(check_value(value))] = (when, value)
            if latest:
                flat: list[Any] = []
                for when, value in latest.values():
                    flat += (self._grain.score_arg(when), value)
                newest = max(when for when, _ in latest.values())
                writes.append(KeyWrite(key, flat, lifetime_ms=lifetime_ms(newest, now)))
        return writes

    def _write(self, writes: list[KeyWrite], now: float) -> Operation[int]:
        if not writes:
            return 0
        calls = write_calls(writes, now, self._cluster)
        replies = yield from self._conversation.send(calls)
        raise_first_error(replies)
        return sum(int(reply) for reply in replies)

    def _read_one(self, call: Call) -> Operation[Any]:
        (reply,) = yield from self._conversation.send([call])
        raise_first_error([reply])
        return reply

    # -- operations ----------------------------------------------------------

    def _op_add(self, name: Name, values: Sequence[Any], ttl: float | None) -> Operation[None]:
        now = self._now()
        yield from self._write(self._writes_with_ttl([(name, values)], ttl, now), now)

    def _op_add_many(self, data: Any, ttl: float | None) -> Operation[None]:
        now = self._now()
        yield from self._write(self._writes_with_ttl(data, ttl, now), now)

    def _op_add_many_with_ttl(self, data: Any) -> Operation[None]:
        now = self._now()
        yield from self._write(self._writes_at(data, now), now)

    def _op_remove(self, name: Name, values: Sequence[Any]) -> Operation[int]:
        key = self._key(name)
        members = list({_encoded(v): v for v in check_values(values, "values")}.values())
        if not members:
            return 0
        return (yield from self._write([KeyWrite(key, removals=members)], self._now()))

    def _op_get_many(self, names: Sequence[Any]) -> Operation[list[list[Any]]]:
        keys = [self._key(name) for name in names]
        cast = self._caster()  # picked once: cast_fn may change while we wait
        bound = live_bound(self._now())
        plan = read_calls(keys, bound, self._cluster, self._conversation.read_scripts)
        replies = yield from self._conversation.send([call for call, _ in plan])
        raise_first_error(replies)
        found: list[list[Any]] = [[] for _ in keys]
        for (call, positions), reply in zip(plan, replies, strict=True):
            for i, members in zip(positions, members_per_key(call, reply), strict=True):
                found[i] = list(map(cast, members))
        return found

    def _op_delete(self, names: Sequence[Any]) -> Operation[None]:
        keys = [self._key(name) for name in names]
        if keys:
            replies = yield from self._conversation.send(delete_calls(keys, self._cluster))
            raise_first_error(replies)

    def _op_contains(self, name: Name, value: Any) -> Operation[bool]:
        call = Call(("ZSCORE", self._key(name), check_value(value)))
        score = yield from self._read_one(call)
        return score is not None and float(score) > self._now()

    def _op_count(self, name: Name) -> Operation[int]:
        call = Call(("ZCOUNT", self._key(name), live_bound(self._now()), "+inf"))
        return int((yield from self._read_one(call)))

    def _op_get_with_expiry(self, name: Name) -> Operation[list[tuple[Any, float]]]:
        bound = live_bound(self._now())
        call = Call(("ZRANGEBYSCORE", self._key(name), bound, "+inf", "WITHSCORES"))
        cast = self._caster()
        reply = yield from self._read_one(call)
        if reply and not isinstance(reply[0], (list, tuple)):
            # RESP2 without redis-py's withscores option: member, score, member, ...
            reply = list(zip(reply[::2], reply[1::2], strict=True))
        return [(cast(member), float(score)) for member, score in reply]

    def _scan_pattern(self) -> str:
        return scan_pattern(check_prefix(self.key_prefix))

    def _name_of(self, key: bytes | str) -> str:
        return name_of(self.key_prefix, key)
