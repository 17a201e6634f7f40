"""Encoding: every name and value becomes the exact bytes sent to Redis, before anything is sent.

redis-py would encode values itself, while the batch is already streaming:
a value it cannot encode (a lone surrogate, an int too long to print) then
fails half-way through a write, and a type it does not know is stored as its
``repr``. Encoding everything here, up front, means a bad value fails the
call before its first byte goes out, and an int or float subclass (``IntEnum``,
``numpy.float64``) is stored exactly as the plain number it stands for.
"""

from __future__ import annotations

import numbers
import operator


def _text(text: str, what: str) -> bytes:
    try:
        return str.encode(text, "utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{what} {text!r} cannot be encoded as UTF-8 ({error.reason} at {error.start})"
        ) from None


def _decimal(number: int, what: str) -> bytes:
    try:
        return int.__repr__(number).encode()
    except ValueError as error:  # longer than sys.get_int_max_str_digits()
        raise ValueError(f"{what} is an int too long to store ({error})") from None


def _integral(value: object) -> int | None:
    """The int an integer-like value stands for (int subclasses, numpy ints), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, numbers.Integral):
        return operator.index(value)
    return None


def encode_value(value: object) -> bytes:
    """The bytes stored for ``value``: str as UTF-8, bytes as is, numbers as decimal text.

    An int subclass or integer-like number (``IntEnum``, ``numpy.int64``) is
    stored as its int, a float subclass (``numpy.float64``) as its float.

    Raises:
        TypeError: ``value`` is not a str, bytes, int or float (bool and None
            included).
        ValueError: a str that is not valid Unicode (a lone surrogate), or an
            int too long to print.

    """
    kind = type(value)
    if kind is str:
        return _text(value, "value")  # type: ignore[arg-type]
    if kind is bytes:
        return value  # type: ignore[return-value]
    if kind is int:
        return _decimal(value, "value")  # type: ignore[arg-type]
    if kind is float:
        return float.__repr__(value).encode()
    if isinstance(value, str):
        return _text(value, "value")
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, float):
        return float.__repr__(value).encode()
    whole = _integral(value)
    if whole is not None:
        return _decimal(whole, "value")
    raise TypeError(f"value must be str, bytes, int or float (not bool or None), got {value!r}")


def encode_name(name: object) -> bytes:
    """The bytes a name stands for in its key: its text, as 0.1.0 formed it, in UTF-8.

    0.1.0 formed keys as ``f"{prefix}:{name}"``; a subclass (an ``Enum``
    mixing in str or int) is formatted the same way here, so both versions
    name the same key on the same Python.

    Raises:
        TypeError: ``name`` is not a str or an int (bytes, bool and None included).
        ValueError: a str that is not valid Unicode, or an int too long to print.

    """
    if type(name) is str:
        return _text(name, "name")
    if isinstance(name, bool) or not isinstance(name, (str, int, numbers.Integral)):
        raise TypeError(f"name must be a str or an int, got {name!r}")
    try:
        text = f"{name}"
    except ValueError as error:  # an int longer than sys.get_int_max_str_digits()
        raise ValueError(f"name is an int too long to print ({error})") from None
    return _text(text, "name")


def encode_prefix(prefix: object) -> bytes:
    """The key prefix as bytes (a str, valid Unicode).

    Raises:
        TypeError: ``prefix`` is not a str.
        ValueError: ``prefix`` is not valid Unicode.

    """
    if not isinstance(prefix, str):
        raise TypeError(f"key_prefix must be a str, got {prefix!r}")
    return _text(prefix, "key_prefix")
