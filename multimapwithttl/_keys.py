"""Key names: ``{prefix}:{name}``, the SCAN pattern for a prefix, cluster slots, key globs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from redis.crc import key_slot

from ._encode import UTF8, Codec

_GLOB_SPECIALS = "\\*?[]"


def scan_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for every key under ``prefix`` (glob characters escaped)."""
    escaped = "".join("\\" + c if c in _GLOB_SPECIALS else c for c in prefix)
    return escaped + ":*"


def name_of(prefix: str, key: str) -> str:
    """The name a key (decoded) stands for: what follows ``f"{prefix}:"``."""
    return key[len(prefix) + 1 :]


def slot_of(key: bytes | str) -> int:
    """The Redis Cluster hash slot of a key (honours ``{hash tags}``)."""
    return key_slot(key.encode("utf-8") if isinstance(key, str) else key)


def _shown(pattern: bytes) -> str:
    """A pattern in a message as the user typed it: text in quotes, not a bytes repr."""
    text = pattern.decode("utf-8", "backslashreplace")
    return "'" + "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text) + "'"


def _class_regex(pattern: bytes, start: int) -> tuple[bytes, int]:
    """The ``[...]`` of a glob starting at ``start`` as a regex class, and where it ends."""
    i = start + 1
    negate = pattern[i : i + 1] == b"^"
    if negate:
        i += 1
    parts: list[bytes] = []
    while i < len(pattern) and pattern[i : i + 1] != b"]":
        if pattern[i : i + 1] == b"\\" and i + 1 < len(pattern):
            parts.append(re.escape(pattern[i + 1 : i + 2]))
            i += 2
        elif pattern[i + 1 : i + 2] == b"-" and i + 2 < len(pattern) and pattern[i + 2] != 93:
            low, high = sorted((pattern[i], pattern[i + 2]))  # Redis takes z-a as a-z
            parts.append(re.escape(bytes([low])) + b"-" + re.escape(bytes([high])))
            i += 3
        else:
            parts.append(re.escape(pattern[i : i + 1]))
            i += 1
    if i >= len(pattern):
        raise ValueError(f"exclude pattern {_shown(pattern)}: '[' without a closing ']'")
    if not parts:  # "[]" matches nothing, "[^]" any one character
        return (b"." if negate else b"(?!)"), i
    return b"[" + (b"^" if negate else b"") + b"".join(parts) + b"]", i


def glob_regex(pattern: bytes) -> re.Pattern[bytes]:
    """A Redis glob (SCAN MATCH's: ``* ? [abc] [^a-z]``, backslash escapes) as a regex."""
    out: list[bytes] = []
    i = 0
    while i < len(pattern):
        char = pattern[i : i + 1]
        if char == b"*":
            out.append(b".*")
        elif char == b"?":
            out.append(b".")
        elif char == b"\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i : i + 1]))
        elif char == b"[":
            regex, i = _class_regex(pattern, i)
            out.append(regex)
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile(b"".join(out), re.DOTALL)


def key_filter(
    patterns: str | bytes | Iterable[str | bytes], codec: Codec = UTF8
) -> Callable[[bytes | str], bool] | None:
    """A test "is this key excluded?" for glob ``patterns`` on the full key; None for none.

    A single ``str`` (or ``bytes``) is one pattern, not a sequence of
    one-character patterns. A str pattern is encoded with ``codec`` (the
    client's encoding, as the keys it names were) and matched against the
    key's bytes (a key given as text is encoded back the same way). Raises
    TypeError/ValueError for bad patterns, before anything is read or written.
    """
    if isinstance(patterns, (str, bytes)):
        patterns = [patterns]
    compiled = []
    for pattern in patterns:
        if isinstance(pattern, str):
            pattern = codec.pattern(pattern, "exclude pattern")
        elif not isinstance(pattern, bytes):
            raise TypeError(f"exclude patterns must be str or bytes, got {pattern!r}")
        compiled.append(glob_regex(pattern))
    if not compiled:
        return None

    def excluded(key: bytes | str) -> bool:
        raw = codec.raw(key)
        return any(regex.fullmatch(raw) for regex in compiled)

    return excluded
