"""Input checks: every argument is checked here before anything is sent to Redis.

Names and values are checked by encoding them (see ``._encode``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

#: What can be stored as a member: redis-py encodes these unambiguously.
Value = str | bytes | int | float
#: What can name an entry of the multimap (ints are formatted as decimal, as 0.1.0 did).
Name = str | int
#: What ``add_many`` takes: ``(name, values)`` pairs, or a mapping of name to
#: values (the overloads say which names: a mapping's key type is invariant).
ManyValues = Iterable[tuple[Name, Iterable[Value]]] | Mapping[Any, Iterable[Value]]
#: What ``add_many_with_ttl`` takes: ``(name, [(expire_at, value), ...])`` pairs.
ManyTimedValues = (
    Iterable[tuple[Name, Iterable[tuple[float, Value]]]]
    | Mapping[Any, Iterable[tuple[float, Value]]]
)

# PEXPIRE rejects durations that overflow when added to the server's clock, and
# a half-applied write would follow; 10**10 s (~317 years) is far from that.
MAX_TTL = 10.0**10
# The last second of year 9999: later expiry times are typos, not intents.
MAX_EXPIRE_AT = 253402300799.0
# 2001-09-09: the scripts and the sweep take a sorted set holding an earlier
# score for another application's (a leaderboard's points), so no write may
# store one. An earlier expire_at is almost always a (value, expire_at) pair
# given the wrong way round: get_with_expiry returns that order.
MIN_EXPIRE_AT = 1_000_000_000.0

# ZSCAN reads its COUNT as a C long (signed 64 bits on every server build this
# library runs on: Redis, Valkey, fakeredis): a larger count is refused with
# "value is not an integer or out of range", only once iteration has begun.
MAX_SCAN_COUNT = 2**63 - 1

# Finer than a microsecond, a double of today's UNIX seconds cannot tell
# two scores apart.
MIN_RESOLUTION = 1e-6

_NOT_A_COLLECTION = (str, bytes, bytearray, memoryview)
_SEQUENCES = (list, tuple)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _seconds(x: object, what: str) -> float:
    """``x`` as a float of seconds, or a ``TypeError``/``ValueError`` saying why not."""
    if not _is_number(x):
        raise TypeError(f"{what} must be a number of seconds (int or float), got {x!r}")
    try:
        seconds = float(x)  # type: ignore[arg-type]
    except OverflowError:  # an int beyond the float range, such as 10**400
        raise ValueError(f"{what} is out of range, got an int of {len(str(x))} digits") from None
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, got {x!r}")
    return seconds


def check_ttl(ttl: object, what: str = "ttl") -> float:
    """Return ``ttl`` as a float if it is a positive, finite number of seconds."""
    seconds = _seconds(ttl, what)
    if seconds <= 0:
        raise ValueError(f"{what} must be a positive finite number of seconds, got {ttl!r}")
    if seconds > MAX_TTL:
        raise ValueError(f"{what} must be at most {MAX_TTL:.0f} seconds, got {ttl!r}")
    return seconds


def check_resolution(resolution: object) -> float:
    """Return ``resolution`` as a float if it is a usable grain of expiry times.

    A score is a double holding UNIX seconds, precise to about a microsecond
    today: a finer grain could not be stored, so it is refused here rather
    than at the first write.
    """
    seconds = check_ttl(resolution, "resolution")
    if seconds < MIN_RESOLUTION:
        raise ValueError(
            f"resolution must be at least {MIN_RESOLUTION} s (a microsecond), got {resolution!r}"
        )
    return seconds


def check_count(count: object) -> int:
    """Return ``count`` if it is a page size ZSCAN accepts: an int from 1 to ``MAX_SCAN_COUNT``."""
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be a positive int, got {count!r}")
    if count <= 0:
        raise ValueError(f"count must be a positive int, got {count!r}")
    if count > MAX_SCAN_COUNT:
        raise ValueError(
            f"count must be at most 2**63 - 1 (the largest COUNT the server accepts), got {count!r}"
        )
    return count


def check_cast_fn(cast_fn: object) -> None:
    """Reject a ``cast_fn`` that cannot be called."""
    if cast_fn is not None and not callable(cast_fn):
        raise TypeError(f"cast_fn must be callable or None, got {cast_fn!r}")


def check_values(values: object, where: str) -> list[Any]:
    """Return the items of a collection, refusing a lone str or bytes."""
    if type(values) in _SEQUENCES:  # lists and tuples need no further look
        return list(values)  # type: ignore[call-overload, no-any-return]
    if isinstance(values, _NOT_A_COLLECTION):
        raise TypeError(
            f"{where}: values must be a collection such as a list or tuple, "
            f"not a {type(values).__name__} ({values!r}); wrap a single value in a list"
        )
    if not isinstance(values, Iterable):
        raise TypeError(f"{where}: values must be an iterable collection, got {values!r}")
    return list(values)


def check_expire_at(expire_at: object, where: str) -> float:
    """Return an absolute expiry time (UNIX seconds) if it is a finite number."""
    if not _is_number(expire_at):
        raise TypeError(f"{where}: expire_at must be a number of UNIX seconds, got {expire_at!r}")
    when = _seconds(expire_at, f"{where}: expire_at")
    if when > MAX_EXPIRE_AT:
        raise ValueError(f"{where}: expire_at must be before year 10000, got {expire_at!r}")
    if when < MIN_EXPIRE_AT:
        raise ValueError(
            f"{where}: expire_at must be UNIX seconds from 2001-09-09 on, got {expire_at!r}; "
            "pairs are (expire_at, value), the reverse of get_with_expiry's (value, expire_at)"
        )
    return when


def check_pair(item: object, where: str, first: str, second: str) -> tuple[Any, Any]:
    """Return ``item`` as a 2-tuple, or say which pair was malformed."""
    if type(item) in (tuple, list) and len(item) == 2:  # type: ignore[arg-type]
        return item[0], item[1]  # type: ignore[index]
    if isinstance(item, _NOT_A_COLLECTION) or not isinstance(item, Iterable):
        raise TypeError(f"{where} must be a ({first}, {second}) pair, got {item!r}")
    pair = tuple(item)
    if len(pair) != 2:
        raise TypeError(f"{where} must be a ({first}, {second}) pair, got {item!r}")
    return pair[0], pair[1]
