"""``MultiMapWithTTL``: the multimap over a blocking ``redis.Redis`` or ``RedisCluster``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from ._commands import Call
from ._core import MultiMapCore
from ._protocol import Load, Operation, Request
from ._validate import Name


class MultiMapWithTTL(MultiMapCore[redis.Redis | RedisCluster]):
    """A multimap kept in Redis in which every value expires on its own.

    Each name maps to a set of values; each value carries its own expiry
    time. Stored as one sorted set per name at ``f"{key_prefix}:{name}"``,
    scored by expiry time in UNIX seconds: the format of 0.1.0, so both
    versions can share keys during an upgrade.

    Args:
        redis_client: A ``redis.Redis`` or ``redis.cluster.RedisCluster``.
            It is used, never closed.
        key_prefix: Prefix of every key this multimap writes.
        ttl: Default time to live of added values, in seconds: a positive
            finite int or float.
        cast_fn: Applied to every value read back, which arrives as bytes
            (str with ``decode_responses=True``). ``None`` means ``int``, as in
            0.1.0; ``str`` decodes UTF-8.
        resolution: Grain of stored expiry times, in seconds. 1.0 stores whole
            seconds like 0.1.0; 0.001 gives milliseconds. Expiry rounds up:
            a value lives at least ``ttl`` and at most ``ttl + resolution``.

    Raises:
        TypeError: ``key_prefix`` is not a str, ``ttl``/``resolution`` is
            not a number, or ``cast_fn`` is not callable.
        ValueError: ``ttl`` or ``resolution`` is not positive and finite.

    """

    _cluster_types = (RedisCluster,)

    def _run(self, operation: Operation[Any]) -> Any:
        reply: Any = None
        try:
            while True:
                reply = self._perform(operation.send(reply))
        except StopIteration as done:
            return done.value

    def _perform(self, request: Request) -> Any:
        if isinstance(request, Load):
            return self.redis.script_load(request.script.source)
        calls = request.calls
        client: Any = self.redis
        if len(calls) == 1:  # one command: skip the pipeline's bookkeeping
            try:
                return [client.execute_command(*calls[0].args)]
            except ResponseError as error:
                return [error]
        if self._cluster or getattr(client, "connection", None) is not None:
            pipe = client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command(*call.args)
            return pipe.execute(raise_on_error=False)
        return _stream(client.connection_pool, calls)

    def add(self, name: Name, *values: Any, ttl: float | None = None) -> None:
        """Add ``values`` under ``name``, each living ``ttl`` seconds from now.

        Re-adding a value that is already there sets its expiry to the new
        one. With no values nothing is written.

        Args:
            name: A str, or an int (stored as its decimal form).
            *values: str, bytes, int or float values.
            ttl: Seconds to live; defaults to the instance's ``ttl``.

        Raises:
            TypeError, ValueError: on a bad name, value or ttl, before any write.
            redis.ResponseError: the key holds another Redis type (left untouched).

        """
        self._run(self._op_add(name, values, ttl))

    def add_many(
        self, data: Iterable[tuple[Name, Iterable[Any]]], ttl: float | None = None
    ) -> None:
        """Add many names' values at once, in one round trip (one per node on a cluster).

        Args:
            data: ``(name, values)`` pairs (or a mapping of name to values);
                ``values`` must be a collection, not a lone str or bytes.
            ttl: Seconds to live for every value; defaults to the instance's.

        Raises:
            TypeError, ValueError: on any malformed item, before any write.
            redis.ResponseError: a key holds another Redis type; that key is
                left untouched, the other names are written.

        """
        self._run(self._op_add_many(data, ttl))

    def add_many_with_ttl(self, data: Iterable[tuple[Name, Iterable[tuple[float, Any]]]]) -> None:
        """Add values with their own absolute expiry times.

        Args:
            data: ``(name, [(expire_at, value), ...])`` pairs, ``expire_at``
                in UNIX seconds (finite int or float), rounded up to the
                resolution. An ``expire_at`` already past stores nothing.

        Raises:
            TypeError, ValueError: on any malformed item, before any write.
            redis.ResponseError: a key holds another Redis type (left untouched).

        """
        self._run(self._op_add_many_with_ttl(data))

    def get(self, name: Name) -> Iterator[Any]:
        """The live values under ``name``, cast by ``cast_fn``, soonest-expiring first."""
        (values,) = self._run(self._op_get_many([name]))
        return iter(values)

    def get_many(self, *names: Name) -> Iterator[Iterator[Any]]:
        """One iterator of live values per name, in the order asked, in one round trip."""
        return iter([iter(values) for values in self._run(self._op_get_many(names))])

    def delete(self, *names: Name) -> None:
        """Delete whole names with all their values. No names: nothing happens."""
        self._run(self._op_delete(names))

    def remove(self, name: Name, *values: Any) -> int:
        """Remove some values from ``name``; return how many of them were live."""
        return int(self._run(self._op_remove(name, values)))

    def contains(self, name: Name, value: Any) -> bool:
        """Whether ``value`` is live under ``name``."""
        return bool(self._run(self._op_contains(name, value)))

    def count(self, name: Name) -> int:
        """How many live values ``name`` holds."""
        return int(self._run(self._op_count(name)))

    def get_with_expiry(self, name: Name) -> list[tuple[Any, float]]:
        """The live values under ``name`` with their expiry times, as ``(value, expire_at)``.

        ``expire_at`` is a float of UNIX seconds; the list is ordered by it.
        """
        return list(self._run(self._op_get_with_expiry(name)))

    def names(self) -> Iterator[str]:
        """Every name that has a key under this prefix (SCAN; every master on a cluster).

        A name is listed while its key exists, which can be up to about a
        second after its last value expired.
        """
        seen: set[str] = set()
        for key in self.redis.scan_iter(match=self._scan_pattern(), count=1000):
            name = self._name_of(key)
            if name not in seen:  # SCAN may repeat a key while the keyspace rehashes
                seen.add(name)
                yield name


def _stream(pool: Any, calls: Sequence[Call]) -> list[Any]:
    """Send ``calls`` on one connection, each as soon as it is packed, then read the replies.

    A pipeline as redis-py runs it, except that the server starts on the
    first call while the client still packs the next ones.
    """
    try:
        connection = pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        connection = pool.get_connection("EVALSHA")
    try:
        return list(
            connection.retry.call_with_retry(
                lambda: _exchange(connection, calls), lambda _error: connection.disconnect()
            )
        )
    except BaseException:
        # Replies may be left unread on the socket: never hand it back dirty.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _exchange(connection: Any, calls: Sequence[Call]) -> list[Any]:
    for call in calls:
        connection.send_command(*call.args)
    replies: list[Any] = []
    for _ in calls:
        try:
            replies.append(connection.read_response())
        except ResponseError as error:
            replies.append(error)
    return replies
