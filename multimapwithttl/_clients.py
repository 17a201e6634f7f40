"""What kind of client the caller gave us: learnt once, from the client itself.

redis-py and valkey-py (and fakeredis, a redis-py subclass) have the same
shape but their own exception classes; nothing else in the package needs to
know which library a client came from.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from redis.exceptions import ResponseError

from ._encode import UTF8, Codec, codec


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
    #: How it encodes text (its ``encoding`` and ``encoding_errors``).
    codec: Codec = UTF8
    #: A cluster client that finds the keys of a read-only script call
    #: (EVALSHA_RO) in its arguments, as it does EVALSHA's; see ``routes_read_scripts``.
    routes_read_scripts: bool = True


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
        codec=client_codec(client),
        routes_read_scripts=routes_read_scripts(cls),
    )


def routes_read_scripts(cls: type) -> bool:
    """Whether a cluster client of class ``cls`` routes EVALSHA_RO by the keys it names.

    redis-py does (its ``_EVAL_COMMANDS``). valkey-py asks the server
    ``COMMAND GETKEYS`` and decodes the keys as UTF-8 before it encodes them
    again with the client's encoding: a key that is not UTF-8 (any latin-1
    name but ASCII) then fails to encode, or lands on another slot. Its
    read-only script calls go through the library's own routing instead.
    """
    for klass in cls.__mro__:
        commands = getattr(sys.modules.get(klass.__module__), "_EVAL_COMMANDS", None)
        if isinstance(commands, (tuple, list, set, frozenset)):
            return "EVALSHA_RO" in commands
    return False


def client_codec(client: object) -> Codec:
    """How ``client`` encodes a str argument, and decodes replies: its ``encoding`` settings.

    A plain client keeps them in its connection pool's ``connection_kwargs``
    (every connection it makes gets them); a cluster client in its own
    ``encoder``, built from the same keywords. Either way redis-py's
    defaults are UTF-8, strict.
    """
    settings: Any = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if isinstance(settings, dict):
        encoding, errors = settings.get("encoding"), settings.get("encoding_errors")
    else:
        encoder = getattr(client, "encoder", None)
        encoding = getattr(encoder, "encoding", None)
        errors = getattr(encoder, "encoding_errors", None)
    return codec(
        encoding if isinstance(encoding, str) else "utf-8",
        errors if isinstance(errors, str) else "strict",
    )


def reachable(client: Any, host: str, port: int) -> tuple[str, int]:
    """Where ``client`` reaches the cluster node announced as ``host:port``.

    MOVED and ASK name a node by the address it announces; a client given
    ``address_remap`` (nodes behind NAT, port forwarding or a proxy) knows
    its nodes by what that function returns, and must reach them there.
    """
    remap = getattr(getattr(client, "nodes_manager", None), "remap_host_port", None)
    if callable(remap):
        mapped_host, mapped_port = remap(host, port)
        return str(mapped_host), int(mapped_port)
    return host, port


# -- API additions: the constructor's check, and clients built from a URL ------

#: What the constructors accept, as their TypeError says it.
ACCEPTED = (
    "a redis-py or valkey-py client: redis.Redis, redis.cluster.RedisCluster, "
    "valkey.Valkey, valkey.cluster.ValkeyCluster or their asyncio twins (fakeredis too)"
)


def require_client(client: object, owner: str) -> None:
    """Refuse what cannot be a client: a URL, None, a number, a connection pool...

    By shape, not by class, so subclasses and fakeredis pass: a client runs
    commands (``execute_command``) over a connection pool (``connection_pool``)
    or, on a cluster, over nodes (``nodes_manager``).

    Raises:
        TypeError: ``client`` is not one; for a str, it points to ``from_url``.
            The value itself is never shown: a URL may hold a password.

    """
    cls = type(client)
    if callable(getattr(cls, "execute_command", None)) and (
        hasattr(client, "connection_pool") or hasattr(client, "nodes_manager")
    ):
        return
    hint = ""
    if isinstance(client, str):
        hint = f"; to connect to a URL, use {owner}.from_url(url, key_prefix, ...)"
    raise TypeError(f"redis_client must be {ACCEPTED}, got a {cls.__name__}{hint}")


# URL scheme -> (library, is a cluster, the scheme the library takes).
# "+cluster" is the convention of `limits` and others for a cluster's URL.
_SCHEMES = {
    "redis": ("redis", False, "redis"),
    "rediss": ("redis", False, "rediss"),
    "unix": ("redis", False, "unix"),
    "redis+cluster": ("redis", True, "redis"),
    "rediss+cluster": ("redis", True, "rediss"),
    "valkey": ("valkey", False, "valkey"),
    "valkeys": ("valkey", False, "valkeys"),
    "valkey+cluster": ("valkey", True, "valkey"),
    "valkeys+cluster": ("valkey", True, "valkeys"),
}
# (library, asyncio, cluster) -> (module, class)
_CLASSES = {
    ("redis", False, False): ("redis", "Redis"),
    ("redis", False, True): ("redis.cluster", "RedisCluster"),
    ("redis", True, False): ("redis.asyncio", "Redis"),
    ("redis", True, True): ("redis.asyncio.cluster", "RedisCluster"),
    ("valkey", False, False): ("valkey", "Valkey"),
    ("valkey", False, True): ("valkey.cluster", "ValkeyCluster"),
    ("valkey", True, False): ("valkey.asyncio", "Valkey"),
    ("valkey", True, True): ("valkey.asyncio.cluster", "ValkeyCluster"),
}


def client_from_url(url: object, *, asyncio: bool, cluster: bool, options: dict[str, Any]) -> Any:
    """A client for ``url``: the class's own ``from_url``, given ``options``.

    ``redis://``, ``rediss://``, ``unix://`` give redis-py's client,
    ``valkey://``, ``valkeys://`` valkey-py's; ``+cluster`` after the scheme
    (``redis+cluster://host:port``), or ``cluster``, gives the cluster client.

    Raises:
        TypeError: ``url`` is not a str.
        ValueError: its scheme is none of those (the URL itself is not shown:
            it may hold a password).

    """
    if not isinstance(url, str):
        raise TypeError(
            f"url must be a str such as 'redis://localhost:6379/0', got a {type(url).__name__}"
        )
    scheme, sep, rest = url.partition("://")
    found = _SCHEMES.get(scheme.lower()) if sep else None
    if found is None:
        shown = f"scheme {scheme!r}" if sep else "no scheme"
        raise ValueError(
            f"url must start with one of {', '.join(s + '://' for s in _SCHEMES)}; got {shown}"
        )
    library, in_url, plain = found
    module, name = _CLASSES[(library, asyncio, cluster or in_url)]
    cls = getattr(importlib.import_module(module), name)
    return cls.from_url(f"{plain}://{rest}", **options)
