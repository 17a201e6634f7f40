"""What kind of client the caller gave us: learnt once, from the client itself.

redis-py and valkey-py (and fakeredis, a redis-py subclass) have the same
shape but their own exception classes; nothing else in the package needs to
know which library a client came from.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType

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
    #: What it raises when a connection fails or times out (its library's
    #: ConnectionError and TimeoutError, and the OS's).
    broken: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError)


def _exceptions(cls: type) -> ModuleType | None:
    """The ``exceptions`` module of the library ``cls`` (or a base class of it) comes from."""
    for klass in cls.__mro__:
        library = klass.__module__.partition(".")[0]
        try:
            module = importlib.import_module(f"{library}.exceptions")
        except ImportError:
            continue
        if isinstance(getattr(module, "ResponseError", None), type):
            return module
    return None


def _classes(module: ModuleType | None, *names: str) -> tuple[type[BaseException], ...]:
    found = (getattr(module, name, None) for name in names)
    return tuple(c for c in found if isinstance(c, type) and issubclass(c, BaseException))


def client_kind(client: object) -> ClientKind:
    """Describe ``client``: asyncio or not, cluster or not, and its error class."""
    cls = type(client)
    exceptions = _exceptions(cls)
    error = getattr(exceptions, "ResponseError", None)
    if not (isinstance(error, type) and issubclass(error, Exception)):
        error = ResponseError
    broken = _classes(exceptions, "ConnectionError", "TimeoutError")
    return ClientKind(
        asyncio=inspect.iscoroutinefunction(getattr(cls, "execute_command", None)),
        cluster=callable(getattr(cls, "get_primaries", None)),
        error=error,
        broken=(*broken, ConnectionError, TimeoutError, asyncio.TimeoutError, OSError),
    )
