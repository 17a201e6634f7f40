"""The error class a multimap raises for an error reply: its client library's own."""

from __future__ import annotations

from typing import Any

import redis


def response_error(mm: Any) -> type[Exception]:
    """``valkey.ResponseError`` for a valkey-py client, ``redis.ResponseError`` otherwise."""
    if type(mm.redis).__module__.startswith("valkey"):
        import valkey

        return valkey.ResponseError  # type: ignore[no-any-return]
    return redis.ResponseError
