"""What kind of client the caller gave us: learnt once, from the client itself.

redis-py and valkey-py (and fakeredis, a redis-py subclass) have the same
shape but their own exception classes; nothing else in the package needs to
know which library a client came from.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from redis.exceptions import ResponseError


@dataclass(frozen=True, slots=True)
class ClientKind:
    """How to talk to one client."""

    #: Its commands are coroutines (``redis.asyncio``, ``valkey.asyncio``).
    asyncio: bool
    #: It is a cluster client: a call's keys must share a hash slot.
    cluster: bool
    #: The class it raises for an error reply (its library's ResponseError).
    error: type[Exception]


def _response_error(cls: type) -> type[Exception]:
    for klass in cls.__mro__:
        library = klass.__module__.partition(".")[0]
        try:
            found = getattr(importlib.import_module(f"{library}.exceptions"), "ResponseError", None)
        except ImportError:
            continue
        if isinstance(found, type) and issubclass(found, Exception):
            return found
    return ResponseError


def client_kind(client: object) -> ClientKind:
    """Describe ``client``: asyncio or not, cluster or not, and its error class."""
    cls = type(client)
    return ClientKind(
        asyncio=inspect.iscoroutinefunction(getattr(cls, "execute_command", None)),
        cluster=callable(getattr(cls, "get_primaries", None)),
        error=_response_error(cls),
    )
