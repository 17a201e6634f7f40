"""``AsyncMultiMapWithTTL``: the multimap over ``redis.asyncio`` clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ._commands import Call
from ._core import MultiMapCore
from ._protocol import Load, Operation, Request
from ._validate import Name


class AsyncMultiMapWithTTL(MultiMapCore[redis.asyncio.Redis | RedisCluster]):
    """The asyncio twin of [MultiMapWithTTL][multimapwithttl.MultiMapWithTTL].

    Same constructor, same methods, same storage and errors, over a
    ``redis.asyncio.Redis`` or ``redis.asyncio.cluster.RedisCluster``. The
    methods are coroutines returning lists; :meth:`names` is an async
    iterator. A sync and an async instance on one prefix share their data.
    """

    _cluster_types = (RedisCluster,)

    async def _run(self, operation: Operation[Any]) -> Any:
        reply: Any = None
        try:
            while True:
                reply = await self._perform(operation.send(reply))
        except StopIteration as done:
            return done.value

    async def _perform(self, request: Request) -> Any:
        if isinstance(request, Load):
            return await self.redis.script_load(request.script.source)
        calls = request.calls
        if len(calls) == 1:
            try:
                return [await self.redis.execute_command(*calls[0].args)]
            except ResponseError as error:
                return [error]
        client: Any = self.redis
        if self._cluster or getattr(client, "connection", None) is not None:
            # One pipeline for the whole batch: the client opens at most one
            # connection per node for it, however many names there are.
            pipe = client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command(*call.args)
            return await pipe.execute(raise_on_error=False)
        return await _streamed(client.connection_pool, calls)

    async def add(self, name: Name, *values: Any, ttl: float | None = None) -> None:
        """Add ``values`` under ``name`` (see ``MultiMapWithTTL.add``)."""
        await self._run(self._op_add(name, values, ttl))

    async def add_many(
        self, data: Iterable[tuple[Name, Iterable[Any]]], ttl: float | None = None
    ) -> None:
        """Add many names' values in one round trip (see ``MultiMapWithTTL.add_many``)."""
        await self._run(self._op_add_many(data, ttl))

    async def add_many_with_ttl(
        self, data: Iterable[tuple[Name, Iterable[tuple[float, Any]]]]
    ) -> None:
        """Add values with absolute expiry times (see ``MultiMapWithTTL.add_many_with_ttl``)."""
        await self._run(self._op_add_many_with_ttl(data))

    async def get(self, name: Name) -> list[Any]:
        """The live values under ``name``, cast, soonest-expiring first."""
        (values,) = await self._run(self._op_get_many([name]))
        return list(values)

    async def get_many(self, *names: Name) -> list[list[Any]]:
        """One list of live values per name, in the order asked, in one round trip."""
        return list(await self._run(self._op_get_many(names)))

    async def delete(self, *names: Name) -> None:
        """Delete whole names with all their values. No names: nothing happens."""
        await self._run(self._op_delete(names))

    async def remove(self, name: Name, *values: Any) -> int:
        """Remove some values from ``name``; return how many of them were live."""
        return int(await self._run(self._op_remove(name, values)))

    async def contains(self, name: Name, value: Any) -> bool:
        """Whether ``value`` is live under ``name``."""
        return bool(await self._run(self._op_contains(name, value)))

    async def count(self, name: Name) -> int:
        """How many live values ``name`` holds."""
        return int(await self._run(self._op_count(name)))

    async def get_with_expiry(self, name: Name) -> list[tuple[Any, float]]:
        """The live values under ``name`` as ``(value, expire_at)``, ordered by expiry."""
        return list(await self._run(self._op_get_with_expiry(name)))

    async def names(self) -> AsyncIterator[str]:
        """Every name that has a key under this prefix (every master on a cluster)."""
        seen: set[str] = set()
        async for key in self.redis.scan_iter(match=self._scan_pattern(), count=1000):
            name = self._name_of(key)
            if name not in seen:
                seen.add(name)
                yield name


async def _streamed(pool: Any, calls: Sequence[Call]) -> list[Any]:
    """Write each call as soon as it is packed on one connection, then collect the replies.

    As the sync class does: one round trip, and the server works on the first
    calls while the later ones are still being packed.
    """
    try:
        connection = await pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        connection = await pool.get_connection("EVALSHA")

    async def send_then_read() -> list[Any]:
        for call in calls:
            await connection.send_command(*call.args)
        replies: list[Any] = []
        while len(replies) < len(calls):
            try:
                replies.append(await connection.read_response())
            except ResponseError as error:
                replies.append(error)
        return replies

    async def forget(_error: Exception) -> None:
        await connection.disconnect()

    try:
        return list(await connection.retry.call_with_retry(send_then_read, forget))
    except BaseException:
        # Cancelled or failed mid-way: unread replies must not reach the next user.
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
