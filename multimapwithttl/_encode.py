r"""Encoding: every name and value becomes the exact bytes sent to Redis, before anything is sent.

redis-py would encode values itself, while the batch is already streaming:
a value it cannot encode (a lone surrogate, an int too long to print) then
fails half-way through a write, and a type it does not know is stored as its
``repr``. Encoding everything here, up front, means a bad value fails the
call before its first byte goes out, and an int or float subclass (``IntEnum``,
``numpy.float64``) is stored exactly as the plain number it stands for.

Text is encoded as the client itself would encode it: with its
``encoding`` and ``encoding_errors`` (a ``Codec``). 0.1.0 handed names and
values to redis-py, so a latin-1 client's key for "café" is
``b"prefix:caf\xe9"``, and this must be the same key.
"""

from __future__ import annotations

import functools
import numbers
import operator


class Codec:
    """How one client turns text into bytes and back (redis-py's ``Encoder`` settings)."""

    __slots__ = ("encoding", "errors", "joins", "lenient")

    def __init__(self, encoding: str = "utf-8", errors: str = "strict") -> None:
        #: The client's ``encoding``.
        self.encoding = encoding
        #: The client's ``encoding_errors``.
        self.errors = errors
        #: What ``shown()`` decodes with: never fails where the client's own would.
        self.lenient = "backslashreplace" if errors == "strict" else errors
        #: Whether ``prefix:name`` may be encoded piece by piece (the prefix once
        #: for all names): true of every ASCII-compatible encoding, not of UTF-16
        #: (a byte order mark per piece).
        self.joins = self._joins()

    def _joins(self) -> bool:
        try:
            return "a:b".encode(self.encoding) == b"a:b" and "a".encode(self.encoding) == b"a"
        except (LookupError, UnicodeError):
            return False

    def __repr__(self) -> str:
        return f"Codec({self.encoding!r}, {self.errors!r})"

    def text(self, text: str, what: str) -> bytes:
        """``text`` as the client encodes it; ``what`` names it in the error.

        Raises:
            ValueError: the client's encoding cannot encode it (``"€"`` in
                latin-1, a lone surrogate in UTF-8, with strict errors), or the
                client names an encoding Python does not know.

        """
        try:
            return str.encode(text, self.encoding, self.errors)
        except UnicodeEncodeError as error:
            raise ValueError(
                f"{what} {text!r} cannot be encoded as {self.encoding} "
                f"({error.reason} at {error.start}), the client's encoding"
            ) from None
        except LookupError as error:  # an unknown encoding or error handler
            raise ValueError(f"{what} cannot be encoded: the client's {error}") from None

    def pattern(self, text: str, what: str) -> bytes:
        """A user's glob (an exclude pattern) as bytes: ``text()``, lone surrogates kept.

        A command line holding bytes that are not UTF-8 reaches Python as
        lone surrogates ("surrogateescape"): with a strict client, they stand
        for those bytes again.
        """
        if self.errors != "strict":
            return self.text(text, what)
        try:
            return str.encode(text, self.encoding, "surrogateescape")
        except (UnicodeError, LookupError):
            return self.text(text, what)  # raises the ValueError that says why

    def value(self, value: object) -> bytes:
        """The bytes stored for ``value``: str encoded, bytes as is, numbers as decimal text.

        An int subclass or integer-like number (``IntEnum``, ``numpy.int64``) is
        stored as its int, a float subclass (``numpy.float64``) as its float.

        Raises:
            TypeError: ``value`` is not a str, bytes, int or float (bool and None
                included).
            ValueError: a str the client's encoding cannot encode, or an int
                too long to print.

        """
        kind = type(value)
        if kind is str:
            return self.text(value, "value")  # type: ignore[arg-type]
        if kind is bytes:
            return value  # type: ignore[return-value]
        if kind is int:
            return _decimal(value, "value")  # type: ignore[arg-type]
        if kind is float:
            return float.__repr__(value).encode()
        if isinstance(value, str):
            return self.text(value, "value")
        if isinstance(value, bytes):
            return bytes(value)
        if isinstance(value, float):
            return float.__repr__(value).encode()
        whole = _integral(value)
        if whole is not None:
            return _decimal(whole, "value")
        raise TypeError(f"value must be str, bytes, int or float (not bool or None), got {value!r}")

    def key(self, prefix: str, encoded_prefix: bytes, name: object) -> bytes:
        """The key of ``name``: ``f"{prefix}:{name}"`` encoded, as 0.1.0 formed it.

        ``encoded_prefix`` is ``prefix(prefix)``, computed once for many names.
        A subclass of str or int (an ``Enum`` mixing one in) is formatted as
        0.1.0's f-string formats it, so both versions name the same key.

        Raises:
            TypeError: ``name`` is not a str or an int (bytes, bool and None included).
            ValueError: a str the client's encoding cannot encode, or an int
                too long to print.

        """
        if type(name) is str:
            text: str = name
        elif isinstance(name, bool) or not isinstance(name, (str, int, numbers.Integral)):
            raise TypeError(f"name must be a str or an int, got {name!r}")
        else:
            try:
                text = f"{name}"
            except ValueError as error:  # an int longer than sys.get_int_max_str_digits()
                raise ValueError(f"name is an int too long to print ({error})") from None
        if self.joins:
            return encoded_prefix + b":" + self.text(text, "name")
        try:
            return str.encode(f"{prefix}:{text}", self.encoding, self.errors)
        except (UnicodeError, LookupError):
            self.text(text, "name")  # says which part cannot be encoded
            raise

    def prefix(self, prefix: object) -> bytes:
        """The key prefix encoded (a str the client's encoding can encode).

        Raises:
            TypeError: ``prefix`` is not a str.
            ValueError: the client's encoding cannot encode it.

        """
        return self.text(check_prefix(prefix), "key_prefix")

    def decode(self, member: bytes | str) -> str:
        """A member as text, decoded as the client decodes (``cast_fn=str``).

        Already text (``decode_responses=True``): as it is.
        """
        if isinstance(member, bytes):
            return member.decode(self.encoding, self.errors)
        return member

    def shown(self, raw: bytes | str) -> str:
        """A key (or value) as text to show or list: bytes the client could not decode escaped."""
        if isinstance(raw, bytes):
            return raw.decode(self.encoding, self.lenient)
        return raw

    def raw(self, text: bytes | str) -> bytes:
        """A key as bytes: one the client decoded (``decode_responses=True``) encoded back."""
        if isinstance(text, str):
            return text.encode(self.encoding, self.errors)
        return text


@functools.lru_cache(maxsize=64)
def codec(encoding: str = "utf-8", errors: str = "strict") -> Codec:
    """The ``Codec`` of an ``encoding`` and ``encoding_errors`` (one object per pair)."""
    return Codec(encoding, errors)


#: redis-py's default: UTF-8, strict.
UTF8 = codec()


def check_prefix(prefix: object) -> str:
    """``prefix`` if it is a str (whether the client can encode it is the ``Codec``'s to say).

    Raises:
        TypeError: ``prefix`` is not a str.

    """
    if not isinstance(prefix, str):
        raise TypeError(f"key_prefix must be a str, got {prefix!r}")
    return prefix


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
