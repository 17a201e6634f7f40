"""Key names: ``{prefix}:{name}``, the SCAN pattern for a prefix, and cluster slots."""

from __future__ import annotations

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
