"""Key names: ``{prefix}:{name}``, the SCAN pattern for a prefix, cluster slots, key globs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from redis.crc import key_slot

_GLOB_SPECIALS = "\\*?[]"


def key_of(prefix: bytes, name: bytes) -> bytes:
    """The Redis key of one name, exactly as 0.1.0 formed it (``prefix:name``, UTF-8)."""
    return prefix + b":" + name


def scan_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for every key under ``prefix`` (glob characters escaped)."""
    escaped = "".join("\\" + c if c in _GLOB_SPECIALS else c for c in prefix)
    return escaped + ":*"


def name_of(prefix: str, key: bytes | str) -> str:
    """The name a key stands for (the inverse of ``key_of()``)."""
    text = key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key
    return text[len(prefix) + 1 :]


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


def _as_bytes(text: bytes | str) -> bytes:
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text


def key_filter(
    patterns: str | bytes | Iterable[str | bytes],
) -> Callable[[bytes | str], bool] | None:
    """A test "is this key excluded?" for glob ``patterns`` on the full key; None for none.

    A single ``str`` (or ``bytes``) is one pattern, not a sequence of
    one-character patterns. Raises TypeError/ValueError for bad patterns,
    before anything is read or written.
    """
    if isinstance(patterns, (str, bytes)):
        patterns = [patterns]
    compiled = []
    for pattern in patterns:
        if not isinstance(pattern, (str, bytes)):
            raise TypeError(f"exclude patterns must be str or bytes, got {pattern!r}")
        compiled.append(glob_regex(_as_bytes(pattern)))
    if not compiled:
        return None

    def excluded(key: bytes | str) -> bool:
        raw = _as_bytes(key)
        return any(regex.fullmatch(raw) for regex in compiled)

    return excluded
