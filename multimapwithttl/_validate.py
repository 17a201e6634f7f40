"""Input checks: every argument is checked here before anything is sent to Redis."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

#: What can be stored as a member: redis-py encodes these unambiguously.
Value = str | bytes | int | float
#: What can name an entry of the multimap (ints are formatted as decimal, as 0.1.0 did).
Name = str | int

# PEXPIRE rejects durations that overflow when added to the server's clock, and
# a half-applied write would follow; 10**10 s (~317 years) is far from that.
MAX_TTL = 10.0**10
# The last second of year 9999: later expiry times are typos, not intents.
MAX_EXPIRE_AT = 253402300799.0

_NOT_A_COLLECTION = (str, bytes, bytearray, memoryview)
_SEQUENCES = (list, tuple)
#: Exact types that need no further check to be stored as a value.
VALUE_TYPES = frozenset({str, bytes, int, float})


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_ttl(ttl: object, what: str = "ttl") -> float:
    """Return ``ttl`` as a float if it is a positive, finite number of seconds."""
    if not _is_number(ttl):
        raise TypeError(f"{what} must be a number of seconds (int or float), got {ttl!r}")
    seconds = float(ttl)  # type: ignore[arg-type]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive finite number of seconds, got {ttl!r}")
    if seconds > MAX_TTL:
        raise ValueError(f"{what} must be at most {MAX_TTL:.0f} seconds, got {ttl!r}")
    return seconds


def check_resolution(resolution: object) -> float:
    """Return ``resolution`` as a float if it is a positive, finite number of seconds."""
    return check_ttl(resolution, "resolution")


def check_prefix(key_prefix: object) -> str:
    """Return the key prefix if it is a str (bytes would be formatted as ``b'...'``)."""
    if not isinstance(key_prefix, str):
        raise TypeError(f"key_prefix must be a str, got {key_prefix!r}")
    return key_prefix


def check_cast_fn(cast_fn: object) -> None:
    """Reject a ``cast_fn`` that cannot be called."""
    if cast_fn is not None and not callable(cast_fn):
        raise TypeError(f"cast_fn must be callable or None, got {cast_fn!r}")


def check_name(name: object) -> str:
    """Return the name's text form: a str as is, an int in decimal."""
    if isinstance(name, str):
        return name
    if isinstance(name, int) and not isinstance(name, bool):
        return str(name)
    raise TypeError(f"name must be a str or an int, got {name!r}")


def check_value(value: object) -> Value:
    """Return ``value`` if Redis can store it and give it back unchanged."""
    if isinstance(value, (str, bytes)) or _is_number(value):
        return value  # type: ignore[return-value]
    raise TypeError(f"value must be str, bytes, int or float (not bool or None), got {value!r}")


def check_values(values: object, where: str, *, plain: bool = True) -> list[Any]:
    """Return the items of a collection, refusing a lone str or bytes.

    With ``plain`` (the default) every item must be a value (see
    :func:`check_value`).
    """
    if type(values) not in _SEQUENCES:  # lists and tuples need no further look
        if isinstance(values, _NOT_A_COLLECTION):
            raise TypeError(
                f"{where}: values must be a collection such as a list or tuple, "
                f"not a {type(values).__name__} ({values!r}); wrap a single value in a list"
            )
        if not isinstance(values, Iterable):
            raise TypeError(f"{where}: values must be an iterable collection, got {values!r}")
    items: list[Any] = list(values)  # type: ignore[call-overload]
    # Exact-type check first: one C-level pass for the usual int/str/bytes/float.
    if plain and not VALUE_TYPES.issuperset(map(type, items)):
        for item in items:
            check_value(item)
    return items


def check_expire_at(expire_at: object, where: str) -> float:
    """Return an absolute expiry time (UNIX seconds) if it is a finite number."""
    if not _is_number(expire_at):
        raise TypeError(f"{where}: expire_at must be a number of UNIX seconds, got {expire_at!r}")
    when = float(expire_at)  # type: ignore[arg-type]
    if not math.isfinite(when):
        raise ValueError(f"{where}: expire_at must be finite, got {expire_at!r}")
    if when > MAX_EXPIRE_AT:
        raise ValueError(f"{where}: expire_at must be before year 10000, got {expire_at!r}")
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
