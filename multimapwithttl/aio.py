"""``AsyncMultiMapWithTTL``: the multimap over asyncio Redis or Valkey clients (or clusters)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from ._clients import ClientKind, client_from_url, reachable
from ._commands import SEND_GROUP, UNKNOWN, Call, answered, note_progress, pack
from ._connections import (
    Exchange,
    Failed,
    Refresh,
    SlotOwner,
    Target,
    closed_while_idle,
    route,
    with_trailer,
)
from ._core import Clock, MultiMapCore, T, ValuePages
from ._maintenance import AsyncMaintenance
from ._observability import execute_async, round_trip_async
from ._protocol import Load, Operation, Request, SendToNodes
from ._validate import ManyTimedValues, ManyValues, Name, Value

#: What ``from_url`` makes the values read: the ``cast_fn`` given.
_V = TypeVar("_V")
#: The multimap ``async with`` gives: the instance itself.
_Self = TypeVar("_Self", bound="AsyncMultiMapWithTTL[Any]")


class AsyncMultiMapWithTTL(AsyncMaintenance, MultiMapCore[T]):
    """The asyncio twin of [MultiMapWithTTL][multimapwithttl.MultiMapWithTTL].

    Same constructor, same methods, same storage and errors, over an asyncio
    client: ``redis.asyncio.Redis``, ``redis.asyncio.cluster.RedisCluster``,
    ``valkey.asyncio.Valkey`` or ``valkey.asyncio.cluster.ValkeyCluster``.
    The methods are coroutines returning lists;
    [names][multimapwithttl.AsyncMultiMapWithTTL.names] is an async iterator.
    A sync and an async instance on one prefix share their data.

    Raises:
        TypeError: as the sync class, and when ``redis_client`` is a blocking
            client (use [MultiMapWithTTL][multimapwithttl.MultiMapWithTTL]).
        ValueError: as the sync class.

    Attributes:
        redis (Any): The client given (as in the sync class).
        key_prefix (str): The prefix given.
        ttl (float): The default time to live given.
        cast_fn (Callable[[Any], T] | None): The ``cast_fn`` given.

    """

    _asyncio = True

    @overload
    def __init__(
        self: AsyncMultiMapWithTTL[int],
        redis_client: Any,
        key_prefix: str,
        ttl: float = 3600,
        cast_fn: None = None,
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: AsyncMultiMapWithTTL[T],
        redis_client: Any,
        key_prefix: str,
        ttl: float,
        cast_fn: Callable[[Any], T],
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
    ) -> None: ...
    @overload
    def __init__(
        self: AsyncMultiMapWithTTL[T],
        redis_client: Any,
        key_prefix: str,
        ttl: float = 3600,
        *,
        cast_fn: Callable[[Any], T],
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
    ) -> None: ...
    def __init__(
        self,
        redis_client: Any,
        key_prefix: str,
        ttl: float = 3600,
        cast_fn: Callable[[Any], T] | None = None,
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
    ) -> None:
        super().__init__(
            redis_client,
            key_prefix,
            ttl,
            cast_fn,
            resolution=resolution,
            clock=clock,
            max_values=max_values,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
            wait_aof=wait_aof,
        )

    async def _run(self, operation: Operation[Any]) -> Any:
        reply: Any = None
        failed: Exception | None = None
        try:
            while True:
                # A failed exchange goes back into the operation, which tells
                # what a batch wrote before it (and raises it).
                request = operation.send(reply) if failed is None else operation.throw(failed)
                failed = None
                try:
                    reply = await self._perform(request)
                except Exception as error:
                    failed = error
        except StopIteration as done:
            return done.value

    async def _perform(self, request: Request) -> Any:
        if isinstance(request, Load):
            if self._cluster:
                # Every node, replicas too: reads may be served by a replica,
                # and SCRIPT LOAD is not replicated.
                every = getattr(self.redis, "ALL_NODES", "all")
                return await self.redis.execute_command(
                    "SCRIPT LOAD", request.script.source, target_nodes=every
                )
            return await self.redis.script_load(request.script.source)
        calls = request.calls
        client: Any = self.redis
        errors = self._client.error
        if self._cluster:
            if not request.resend or isinstance(request, SendToNodes):
                # Each call on its node's own connection: the client's
                # execute_command and pipeline resend after a lost reply,
                # and its pipeline costs more than a sweep's small calls.
                return await round_trip_async(
                    client,
                    calls,
                    lambda: _routed(client, calls, self._client, resend=request.resend),
                )
            if len(calls) == 1:
                try:
                    return [await client.execute_command(*calls[0].args)]
                except errors as error:
                    return [error]
            # One pipeline for the whole batch: the client opens at most one
            # connection per node for it, however many names there are.
            pipe = client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command(*call.args)
            return await execute_async(pipe)
        if len(calls) == 1 and request.resend:
            try:
                return [await client.execute_command(*calls[0].args)]
            except errors as error:
                return [error]
        # A pool connection even for a single_connection_client (as its own
        # pipeline() does): its execute_command would resend a write.
        return await round_trip_async(
            client, calls, lambda: _streamed(client.connection_pool, calls, errors, request.resend)
        )

    async def add(
        self,
        name: Name,
        *values: Value,
        ttl: float | None = None,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int:
        """Add ``values`` under ``name``.

        The asyncio twin of [MultiMapWithTTL.add()][multimapwithttl.MultiMapWithTTL.add].

        Returns:
            How many of ``values`` were not live before and are live now
            (with ``ch``, plus the live values whose expiry changed).

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl, a value that cannot be encoded, or ``nx``
                with ``xx``/``gt`` (``lt`` with ``gt``/``nx``); nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                with ``nx=True`` counts only the values still missing).
            redis.ResponseError: a key holds another Redis type (left untouched).

        """
        return int(await self._run(self._op_add_many([(name, values)], ttl, nx, xx, gt, lt, ch)))

    async def touch(self, name: Name, *values: Value, ttl: float | None = None) -> int:
        """Give each of ``values`` that is live a new expiry; nothing is added.

        The asyncio twin of [MultiMapWithTTL.touch()][multimapwithttl.MultiMapWithTTL.touch].

        Returns:
            How many of ``values`` were live (each now expires ``ttl`` from
            now), whether or not their expiry moved.

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl or a value that cannot be encoded; nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen.
            redis.ResponseError: the key holds another Redis type, or a
                sorted set whose scores are not expiry times (left untouched).

        """
        return int(await self._run(self._op_touch(name, values, ttl)))

    async def add_new(self, name: Name, *values: Value, ttl: float | None = None) -> list[bool]:
        """Add those of ``values`` that are not live, and say which they were.

        The asyncio twin of [MultiMapWithTTL.add_new()][multimapwithttl.MultiMapWithTTL.add_new].

        Returns:
            One bool per value given, in order: True if it was not live
            before this call (it has been added); a repeat is True at most once.

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl or a value that cannot be encoded; nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen, and the
                answer is lost.
            redis.ResponseError: the key holds another Redis type, or a
                sorted set whose scores are not expiry times (left untouched).

        """
        return list(await self._run(self._op_add_new(name, values, ttl)))

    # As in the sync class: one overload per kind of mapping key: a Mapping's key type is invariant
    # (dict[str, ...] is no Mapping[str | int, ...]), and mypy infers a dict
    # display well only against one Mapping, not against a union.
    @overload
    async def add_many(
        self,
        data: Mapping[str, Iterable[Value]],
        ttl: float | None = None,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    @overload
    async def add_many(
        self,
        data: Mapping[int, Iterable[Value]],
        ttl: float | None = None,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    @overload
    async def add_many(
        self,
        data: Mapping[Name, Iterable[Value]],
        ttl: float | None = None,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    @overload
    async def add_many(
        self,
        data: Iterable[tuple[Name, Iterable[Value]]],
        ttl: float | None = None,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    async def add_many(
        self,
        data: ManyValues,
        ttl: float | None = None,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int:
        """Add many names' values.

        The asyncio twin of [MultiMapWithTTL.add_many()][multimapwithttl.MultiMapWithTTL.add_many].

        Returns:
            How many of the given values were not live before and are live now.

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl, a value that cannot be encoded, or ``nx``
                with ``xx``/``gt`` (``lt`` with ``gt``/``nx``); nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                with ``nx=True`` counts only the values still missing).
            redis.ResponseError: a key holds another Redis type (left untouched).
            redis.RedisError: any error raised once the batch reached the
                server (``OutOfMemoryError``, ``NoPermissionError``, those
                above) keeps its class and carries ``.written``, the names
                written all the same, and ``.unknown``, those a lost reply
                hides (see "A batch refused part-way" in the docs).

        """
        return int(await self._run(self._op_add_many(data, ttl, nx, xx, gt, lt, ch)))

    @overload
    async def add_many_with_ttl(
        self,
        data: Mapping[str, Iterable[tuple[float, Value]]],
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    @overload
    async def add_many_with_ttl(
        self,
        data: Mapping[int, Iterable[tuple[float, Value]]],
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    @overload
    async def add_many_with_ttl(
        self,
        data: Mapping[Name, Iterable[tuple[float, Value]]],
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    @overload
    async def add_many_with_ttl(
        self,
        data: Iterable[tuple[Name, Iterable[tuple[float, Value]]]],
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int: ...
    async def add_many_with_ttl(
        self,
        data: ManyTimedValues,
        *,
        nx: bool = False,
        xx: bool = False,
        gt: bool = False,
        lt: bool = False,
        ch: bool = False,
    ) -> int:
        """Add values with absolute expiry times.

        The asyncio twin of
        [MultiMapWithTTL.add_many_with_ttl()][multimapwithttl.MultiMapWithTTL.add_many_with_ttl].

        Returns:
            How many of the given values were not live before and are live now.

        Raises:
            TypeError: a malformed item, before anything is written.
            ValueError: an ``expire_at`` out of range, a value that cannot be encoded, or ``nx``
                with ``xx``/``gt``; nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                with ``nx=True`` counts only the values still missing).
            redis.ResponseError: a key holds another Redis type (left untouched).
            redis.RedisError: any error raised once the batch reached the
                server (``OutOfMemoryError``, ``NoPermissionError``, those
                above) keeps its class and carries ``.written``, the names
                written all the same, and ``.unknown``, those a lost reply
                hides (see "A batch refused part-way" in the docs).

        """
        return int(await self._run(self._op_add_many_with_ttl(data, nx, xx, gt, lt, ch)))

    async def get(self, name: Name) -> list[T]:
        """The live values under ``name``.

        The asyncio twin of [MultiMapWithTTL.get()][multimapwithttl.MultiMapWithTTL.get].

        Returns:
            A list of values, soonest-expiring first.

        Raises:
            TypeError: ``name`` is not a str or int.
            redis.ResponseError: the key holds another Redis type.

        """
        (values,) = await self._run(self._op_get_many([name]))
        return list(values)

    async def get_many(self, *names: Name) -> list[list[T]]:
        """The live values of several names.

        The asyncio twin of [MultiMapWithTTL.get_many()][multimapwithttl.MultiMapWithTTL.get_many].

        Returns:
            One list of values per name, in the order asked.

        Raises:
            TypeError: a name is not a str or int.
            redis.ResponseError: a key holds another Redis type.

        """
        return list(await self._run(self._op_get_many(names)))

    async def delete(self, *names: Name) -> int:
        """Delete whole names.

        The asyncio twin of [MultiMapWithTTL.delete()][multimapwithttl.MultiMapWithTTL.delete].

        Returns:
            How many of the names existed.

        Raises:
            TypeError: a name is not a str or int.
            redis.ResponseError: a key holds another Redis type: it is left
                untouched, the other names are deleted.
            redis.RedisError: any error raised once the batch reached the
                server (``NoPermissionError``, ``ConnectionError``, the one
                above) keeps its class and carries ``.written``, the names
                deleted all the same, and ``.unknown``, those a lost reply
                hides (see "A batch refused part-way" in the docs).

        """
        return int(await self._run(self._op_delete(names)))

    async def remove(self, name: Name, *values: Value) -> int:
        """Remove some values.

        The asyncio twin of [MultiMapWithTTL.remove()][multimapwithttl.MultiMapWithTTL.remove].

        Returns:
            How many of ``values`` were live.

        Raises:
            TypeError: a bad name or value, before anything is written.
            ValueError: a value that cannot be encoded.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                counts only the values still live).
            redis.ResponseError: the key holds another Redis type (left untouched).

        """
        return int(await self._run(self._op_remove(name, values)))

    async def contains(self, name: Name, value: Value) -> bool:
        """Whether ``value`` is live.

        The asyncio twin of [MultiMapWithTTL.contains()][multimapwithttl.MultiMapWithTTL.contains].

        Returns:
            True if the value is there and has not expired (with
            ``max_values``: and is among the values the cap keeps).

        Raises:
            TypeError: a bad name or value.
            ValueError: a value that cannot be encoded.
            redis.ResponseError: the key holds another Redis type.

        """
        return bool(await self._run(self._op_contains(name, value)))

    async def count(self, name: Name) -> int:
        """How many live values.

        The asyncio twin of [MultiMapWithTTL.count()][multimapwithttl.MultiMapWithTTL.count].

        Returns:
            The number of values under ``name`` that have not expired (with
            ``max_values``: at most that).

        Raises:
            TypeError: ``name`` is not a str or int.
            redis.ResponseError: the key holds another Redis type.

        """
        return int(await self._run(self._op_count(name)))

    async def get_with_expiry(self, name: Name) -> list[tuple[T, float]]:
        """Live values with expiry times.

        The asyncio twin of
        [MultiMapWithTTL.get_with_expiry()][multimapwithttl.MultiMapWithTTL.get_with_expiry].

        Returns:
            ``(value, expire_at)`` pairs ordered by expiry, ``expire_at`` a
            float of UNIX seconds.

        Raises:
            TypeError: ``name`` is not a str or int.
            redis.ResponseError: the key holds another Redis type.

        """
        return list(await self._run(self._op_get_with_expiry(name)))

    async def get_many_with_expiry(self, *names: Name) -> list[list[tuple[T, float]]]:
        """Live values of several names with expiry times.

        The asyncio twin of
        [MultiMapWithTTL.get_many_with_expiry()][multimapwithttl.MultiMapWithTTL.get_many_with_expiry].

        Returns:
            Per name, in the order asked, its ``(value, expire_at)`` pairs.

        Raises:
            TypeError: a name is not a str or int.
            redis.ResponseError: a key holds another Redis type.

        """
        return list(await self._run(self._op_get_many_with_expiry(names)))

    def iter_values(self, name: Name, *, count: int = 1000) -> AsyncIterator[T]:
        """Iterate over the live values of a big name, ``count`` at a time.

        The asyncio twin of
        [MultiMapWithTTL.iter_values()][multimapwithttl.MultiMapWithTTL.iter_values]:
        a plain method returning an async iterator (``async for value in
        mm.iter_values(name)``); its arguments are checked by the call.

        Returns:
            An async iterator of values, each passed through ``cast_fn``.

        Raises:
            TypeError: ``name`` is not a str or int, or ``count`` is not an int.
            ValueError: ``count`` is not positive, or above 2**63 - 1.
            redis.ResponseError: the key holds another Redis type (raised
                while iterating).

        """
        pages = self._pages(name, count)
        return self._iter_pages(pages)

    async def _iter_pages(self, pages: ValuePages) -> AsyncIterator[T]:
        while not pages.done:
            for value in await self._run(self._op_values_page(pages)):
                yield value

    @overload
    @classmethod
    def from_url(
        cls,
        url: str,
        key_prefix: str,
        ttl: float = 3600,
        cast_fn: None = None,
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
        cluster: bool = False,
        **options: Any,
    ) -> AsyncMultiMapWithTTL[int]: ...
    @overload
    @classmethod
    def from_url(
        cls,
        url: str,
        key_prefix: str,
        ttl: float,
        cast_fn: Callable[[Any], _V],
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
        cluster: bool = False,
        **options: Any,
    ) -> AsyncMultiMapWithTTL[_V]: ...
    @overload
    @classmethod
    def from_url(
        cls,
        url: str,
        key_prefix: str,
        ttl: float = 3600,
        *,
        cast_fn: Callable[[Any], _V],
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
        cluster: bool = False,
        **options: Any,
    ) -> AsyncMultiMapWithTTL[_V]: ...
    @classmethod
    def from_url(
        cls,
        url: str,
        key_prefix: str,
        ttl: float = 3600,
        cast_fn: Callable[[Any], Any] | None = None,
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
        cluster: bool = False,
        **options: Any,
    ) -> AsyncMultiMapWithTTL[Any]:
        """A multimap over a new asyncio client for ``url``.

        The asyncio twin of
        [MultiMapWithTTL.from_url()][multimapwithttl.MultiMapWithTTL.from_url]
        (``redis.asyncio.Redis.from_url``, ``redis.asyncio.cluster.RedisCluster.from_url``,
        or valkey-py's); a plain method, not a coroutine: the client connects
        on first use. The multimap owns that client:
        [aclose][multimapwithttl.AsyncMultiMapWithTTL.aclose] (or ``async
        with``) closes it.

        Returns:
            An ``AsyncMultiMapWithTTL[int]``, or of what ``cast_fn`` returns.

        Raises:
            TypeError: ``url`` is not a str, or a bad setting.
            ValueError: an unknown URL scheme, or a bad setting.

        """
        cls._check_settings(
            key_prefix,
            ttl,
            cast_fn,
            resolution,
            clock,
            max_values,
            wait_replicas,
            wait_timeout,
            wait_aof,
        )
        client = client_from_url(url, asyncio=True, cluster=cluster, options=options)
        made = cls(
            client,
            key_prefix,
            ttl,
            cast_fn,
            resolution=resolution,
            clock=clock,
            max_values=max_values,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
            wait_aof=wait_aof,
        )
        made._made_client = client
        return made

    async def aclose(self) -> None:
        """Release what the multimap holds; close its client if ``from_url`` made it.

        The asyncio twin of [MultiMapWithTTL.close()][multimapwithttl.MultiMapWithTTL.close].
        """
        client = self._release()
        if client is not None:
            await client.aclose()

    async def __aenter__(self: _Self) -> _Self:
        """``async with AsyncMultiMapWithTTL.from_url(...) as mm:`` closes it at the end."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Run [aclose][multimapwithttl.AsyncMultiMapWithTTL.aclose]."""
        await self.aclose()

    async def names(self) -> AsyncIterator[str]:
        """Every name under this prefix.

        The asyncio twin of [MultiMapWithTTL.names()][multimapwithttl.MultiMapWithTTL.names].

        Returns:
            An async iterator of names, each once, in no particular order.

        Raises:
            redis.RedisError: a server or connection error (the client's own
                exception type), raised while iterating.

        """
        seen: set[str] = set()
        # Sorted sets only (SCAN TYPE zset), as stats().names counts them.
        keys = self.redis.scan_iter(match=self._scan_pattern(), count=1000, _type="zset")
        async for key in keys:
            name = self._name_of(key)
            if name not in seen:
                seen.add(name)
                yield name


async def _streamed(
    pool: Any, calls: Sequence[Call], errors: type[Exception], resend: bool
) -> list[Any]:
    """Write each call as soon as it is packed on one connection, then collect the replies.

    As the sync class does: one round trip, the server working on the first
    calls while the later ones are still being packed, and resent by the
    client's retry policy only when ``resend``.
    """
    try:
        try:
            connection = await pool.get_connection()
        except TypeError:  # redis-py < 5.3 wants a command name
            connection = await pool.get_connection("EVALSHA")
    except Exception as error:
        note_progress(error, [], sent=False)
        raise

    async def send_then_read() -> list[Any]:
        await _send(connection, calls)
        return await _read(connection, len(calls), errors)

    async def forget(_error: Exception) -> None:
        await connection.disconnect()

    try:
        if not resend:
            if closed_while_idle(connection):  # see _reopen_if_closed
                await connection.disconnect()
                await connection.connect()
            return await send_then_read()
        return list(await connection.retry.call_with_retry(send_then_read, forget))
    except BaseException:
        # Cancelled or failed mid-way: unread replies must not reach the next user.
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


async def _send(connection: Any, calls: Sequence[Call]) -> None:
    batch: list[tuple[Any, ...]] = []
    for call in calls:
        batch.append(call.args)
        # As in the sync class: scripts as soon as packed, plain commands
        # in groups (one system call per group).
        if call.script is not None or len(batch) >= SEND_GROUP:
            await connection.send_packed_command(pack(batch))
            batch = []
    if batch:
        await connection.send_packed_command(pack(batch))


async def _read(connection: Any, count: int, errors: type[Exception]) -> list[Any]:
    replies: list[Any] = []
    try:
        while len(replies) < count:
            try:
                replies.append(await connection.read_response())
            except errors as error:
                replies.append(error)
    except Exception as error:
        # The connection failed: the calls answered so far are known.
        note_progress(error, replies)
        raise
    return replies


async def _reopen_if_closed(connection: Any) -> None:
    """Reconnect ``connection`` if the server closed it while it sat idle.

    redis-py's asyncio pools do not notice that (unlike the blocking ones):
    without this, the first write after an idle timeout fails with
    "Connection closed by server." although it never reached the server,
    and a write must not be resent once it may have.
    """
    if closed_while_idle(connection):
        await connection.disconnect()
        await connection.connect()


async def _routed(
    client: Any, calls: Sequence[Call], kind: ClientKind, *, resend: bool
) -> list[Any]:
    """Run ``calls`` on a cluster, each once at most unless ``resend`` (see ``route``)."""
    await client.initialize()  # a no-op once the client knows its nodes
    routing = route(calls, resend=resend)
    result: Any = None
    try:
        while True:
            step = routing.send(result)
            result = None
            if isinstance(step, Exchange):
                result = await _on_nodes(client, step.calls, kind, step.trailer)
            elif isinstance(step, Refresh):
                # Best effort, as the client's own: if the cluster cannot be
                # asked now, the next exchange says how things stand.
                with contextlib.suppress(Exception):
                    await client.nodes_manager.initialize()
            else:
                await asyncio.sleep(step.seconds)
    except StopIteration as done:
        return list(done.value)


async def _node(client: Any, target: Target, errors: type[Exception]) -> Any:
    if isinstance(target, SlotOwner):
        return client.nodes_manager.get_node_from_slot(target.slot)
    host, port = reachable(client, target.host, target.port)
    node = client.get_node(host=host, port=port)
    if node is None:  # a node the slot table has not seen yet
        await client.nodes_manager.initialize()
        node = client.get_node(host=host, port=port)
    if node is None:
        raise errors(f"redirected to {target.host}:{target.port}, a node not in the cluster")
    return node


def _release(node: Any, connection: Any) -> None:
    release = getattr(node, "release", None)
    if release is None:  # redis-py 5.0 puts it back itself
        node._free.append(connection)
    else:
        release(connection)


async def _on_nodes(
    client: Any,
    calls: Sequence[tuple[Target, Call]],
    kind: ClientKind,
    trailer: Call | None = None,
) -> Any:
    """Send each node its calls on one of its connections, then read every node's replies.

    As the sync class does: every node found and connected to before
    anything is sent (a failure there is ``Failed(sent=False)``), all sent to
    before any is read, and after a connection error ``Failed(sent=True)``.
    """
    nodes: dict[str, tuple[Any, list[int]]] = {}
    for position, (target, _call) in enumerate(calls):
        node = await _node(client, target, kind.error)
        nodes.setdefault(node.name, (node, []))[1].append(position)
    calls = with_trailer(calls, [positions for _node, positions in nodes.values()], trailer)
    opened: list[tuple[Any, Any, list[int]]] = []
    sent = False
    replies: list[Any] = [UNKNOWN] * len(calls)
    try:
        for node, positions in nodes.values():
            connection = node.acquire_connection()
            opened.append((node, connection, positions))
            await _reopen_if_closed(connection)
            if not connection.is_connected:
                await connection.connect()
        sent = True
        for _owner, connection, positions in opened:
            await _send(connection, [calls[p][1] for p in positions])
        for _owner, connection, positions in opened:
            read: list[Any] = []
            try:
                read = await _read(connection, len(positions), kind.error)
            except kind.broken as error:
                read = answered(error, len(positions))  # those read before it
                raise
            finally:
                for position, reply in zip(positions, read, strict=False):
                    replies[position] = reply
        return replies
    except kind.broken as error:
        for _owner, connection, _positions in opened:
            await connection.disconnect()
        return Failed(error, sent=sent, replies=replies)
    except BaseException:
        # Cancelled or failed mid-way: unread replies (or a half-made connection)
        # must not reach the next user.
        for _owner, connection, _positions in opened:
            await connection.disconnect()
        raise
    finally:
        for node, connection, _positions in opened:
            _release(node, connection)
