"""``AsyncMultiMapWithTTL``: the multimap over an asyncio Redis or Valkey client (or cluster).

``sync.py`` is generated from this file by ``.ci/unasync.py``: edit here, then
run ``python .ci/unasync.py`` (tests/test_generated.py fails until you do).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from ._clients import client_from_url
from ._core import Clock, MultiMapCore, T, ValuePages
from ._io import close_client_async
from ._maintenance import (
    SCAN_COUNT,
    Job,
    KeyListener,
    Maintenance,
    Patterns,
    Progress,
    scan_refused,
)
from ._observability import execute_async, round_trip_async
from ._protocol import Load, Operation, Request, SendToNodes, Transaction
from ._reports import Stats, SweepReport
from ._validate import ManyTimedValues, ManyValues, Name, Value
from ._wire_aio import routed, stream, transaction

#: What ``from_url`` makes the values read: the ``cast_fn`` given.
_V = TypeVar("_V")
#: The multimap ``async with`` gives: the instance itself.
_Self = TypeVar("_Self", bound="AsyncMultiMapWithTTL[Any]")


class AsyncMultiMapWithTTL(Maintenance, MultiMapCore[T]):
    """A multimap kept in Redis in which every value expires on its own, over an asyncio client.

    The asyncio twin of [MultiMapWithTTL][multimapwithttl.MultiMapWithTTL]:
    the same constructor, storage and errors. The methods are coroutines
    that return lists where the blocking class returns iterators;
    [names][multimapwithttl.AsyncMultiMapWithTTL.names] and
    [iter_values][multimapwithttl.AsyncMultiMapWithTTL.iter_values] give
    async iterators. A sync and an async instance on one prefix share their
    data.

    Each name maps to a set of values; each value carries its own expiry
    time. Stored as one sorted set per name at ``f"{key_prefix}:{name}"``,
    scored by expiry time in UNIX seconds: the format of 0.1.0, so both
    versions can share keys during an upgrade.

    The class is generic in what reads return: ``AsyncMultiMapWithTTL(r, "p")``
    is an ``AsyncMultiMapWithTTL[int]``; with ``cast_fn=str`` it is an
    ``AsyncMultiMapWithTTL[str]``.

    Args:
        redis_client: An asyncio client: ``redis.asyncio.Redis``,
            ``redis.asyncio.cluster.RedisCluster``, ``valkey.asyncio.Valkey``
            or ``valkey.asyncio.cluster.ValkeyCluster``. It is used, never
            closed.
        key_prefix: Prefix of every key this multimap writes.
        ttl: Default time to live of added values, in seconds: a positive
            finite int or float.
        cast_fn: Applied to every value read back, which arrives as bytes
            (str with ``decode_responses=True``). ``None`` means ``int``, as in
            0.1.0; ``str`` decodes with the client's encoding (UTF-8 by
            default, as the client would with ``decode_responses=True``);
            ``bytes`` keeps the raw bytes.
        resolution: Grain of stored expiry times, in seconds (from 1e-6).
            1.0 stores whole seconds like 0.1.0; 0.001 gives milliseconds.
            Expiry rounds up: a value lives at least ``ttl`` and at most
            ``ttl + resolution``.
        clock: Where "now" comes from. ``"client"`` (the default, as in
            0.1.0) uses this machine's clock; ``"server"`` uses the Redis
            server's ``TIME`` for every expiry score, collection and read, so
            clients whose clocks disagree agree on what is live.
        max_values: At most this many live values per name after every
            write: those that expire last (among equal expiries, the values
            whose stored bytes sort last) are kept, the others removed in the
            same atomic step, a bounded number per call (a bigger surplus
            goes over later writes). Reads never give more: only the values
            the cap keeps. At the default ``resolution`` of one second,
            values written in the same second with the same ttl tie (kept by
            their bytes); a finer one keeps the latest written. ``None``
            (the default): no cap.
        wait_replicas: After each write call (add, touch, remove, delete...),
            ``WAIT`` for this many replicas to acknowledge it, on the
            connection the write went out on (each node's on a cluster);
            fewer within ``wait_timeout`` raise
            [DurabilityError][multimapwithttl.DurabilityError], which carries
            what the write returned (it ran on the primary). 0 (the
            default): no ``WAIT``. It narrows the window in which a
            failover loses a write; it is not consensus (see the
            guarantees page).
        wait_timeout: How long each ``WAIT`` may block, in seconds (above 0,
            at most a day; 1.0 by default). Keep the client's
            ``socket_timeout`` above it.
        wait_aof: ``WAITAOF`` instead: the primary's append-only file and
            ``wait_replicas`` replicas' fsynced (Redis 7.2+ or Valkey, with
            ``appendonly yes``; otherwise the first write raises before
            writing anything).

    Raises:
        TypeError: ``key_prefix`` is not a str, ``ttl``/``resolution`` is
            not a number, ``cast_fn`` is not callable, or ``redis_client`` is
            a blocking client (use
            [MultiMapWithTTL][multimapwithttl.MultiMapWithTTL]).
        ValueError: ``ttl`` or ``resolution`` is not positive and finite (or
            out of range), ``clock`` is neither ``"client"`` nor ``"server"``,
            or ``max_values`` is not positive (TypeError if not an int),
            ``wait_replicas`` is negative or ``wait_timeout`` not above 0
            (TypeError if not an int, a number, a bool for ``wait_aof``).

    Attributes:
        redis (Any): The client given; every call reads it, so it may be
            replaced by another of the same kind.
        key_prefix (str): The prefix given; read by every call.
        ttl (float): The default time to live given; read by every write.
        cast_fn (Callable[[Any], T] | None): The ``cast_fn`` given; read by
            every read.

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
        if isinstance(request, Transaction):
            return await transaction(self.redis, request, self._client.error)
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
                    lambda: routed(client, calls, self._client, resend=request.resend),
                )
            if len(calls) == 1:
                try:
                    return [await client.execute_command(*calls[0].args)]
                except errors as error:
                    return [error]
            pipe = client.pipeline(transaction=False)
            for call in calls:
                pipe.execute_command(*call.args)
            return await execute_async(pipe)
        if len(calls) == 1 and request.resend:
            # One command: skip the pipeline's bookkeeping.
            try:
                return [await client.execute_command(*calls[0].args)]
            except errors as error:
                return [error]
        # A pool connection even for a single_connection_client (as its own
        # pipeline() does): its execute_command would resend a write.
        return await round_trip_async(
            client, calls, lambda: stream(client.connection_pool, calls, errors, request.resend)
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
        """Add ``values`` under ``name``, each living ``ttl`` seconds from now.

        By default the latest write wins: re-adding a live value sets its
        expiry to the new one. With no values nothing is written.

        Args:
            name: A str, or an int (stored as its decimal form).
            *values: str, bytes, int or float values.
            ttl: Seconds to live; defaults to the instance's ``ttl``.
            nx: Only add values that are not live; a live value keeps its
                expiry (first seen wins).
            xx: Only give live values the new expiry; add nothing new.
            gt: Only ever lengthen a live value's expiry; values that are not
                live are added. Combines with ``xx``, not with ``nx``.
            lt: Only ever shorten a live value's expiry; values that are not
                live are added. Combines with ``xx``, not with ``nx``/``gt``.
            ch: Also count the live values whose expiry changed (ZADD's CH):
                with ``xx=True``, how many were refreshed.

        Returns:
            How many of ``values`` were not live before and are live now
            (a value given twice counts once; 0 with ``xx``), plus with
            ``ch`` the live values whose expiry changed. With ``max_values``,
            a value beyond the cap (evicted at once or not yet) counts as neither.

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl, a name or value the client's encoding
                cannot encode (a lone surrogate; "€" on a latin-1 client), or
                ``nx`` with ``xx``/``gt`` (``lt`` with ``gt``/``nx``); nothing
                is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                with ``nx=True`` counts only the values still missing).
            redis.ResponseError: the key holds another Redis type; it is left
                untouched (valkey clients raise their own ResponseError).

        """
        return int(await self._run(self._op_add_many([(name, values)], ttl, nx, xx, gt, lt, ch)))

    async def touch(self, name: Name, *values: Value, ttl: float | None = None) -> int:
        """Give each of ``values`` that is live under ``name`` a new expiry, ``ttl`` from now.

        Nothing is added: a value that is not live stays away. Unlike
        ``add(..., xx=True, ch=True)``, which counts only the expiries that
        changed (none when two touches fall in the same
        [resolution][multimapwithttl.AsyncMultiMapWithTTL.resolution] step), the
        count says which values were live, every time: "is the session still
        there?".

        Args:
            name: A str, or an int (stored as its decimal form).
            *values: str, bytes, int or float values. With none, nothing is
                written and 0 is returned.
            ttl: Seconds to live from now; defaults to the instance's ``ttl``.

        Returns:
            How many of ``values`` were live (a value given twice counts
            once); each of them now expires ``ttl`` from now. With
            ``max_values``, a value evicted at once does not count.

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl or a value that cannot be encoded; nothing
                is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (touching
                again is harmless, and says what is live then).
            redis.ResponseError: the key holds another Redis type, or a
                sorted set whose scores are not expiry times; it is left
                untouched (valkey clients raise their own ResponseError).

        """
        return int(await self._run(self._op_touch(name, values, ttl)))

    async def add_new(self, name: Name, *values: Value, ttl: float | None = None) -> list[bool]:
        """Add those of ``values`` that are not live under ``name``, and say which they were.

        As ``add(name, *values, ttl=ttl, nx=True)`` (first seen wins: a live
        value keeps its expiry), but answering per value: de-duplicating a
        batch of ids is one call. The check and the add are one atomic step
        on the server, so of many processes adding the same value at once,
        exactly one is told it was new.

        Args:
            name: A str, or an int (stored as its decimal form).
            *values: str, bytes, int or float values. With none, nothing is
                written and ``[]`` is returned.
            ttl: Seconds to live for the values added; defaults to the
                instance's ``ttl``.

        Returns:
            One bool per value given, in order: True if it was not live
            before this call (it has been added), False if it was. A value
            given twice (or two values stored alike, ``1`` and ``"1"``) is
            True at most once, at its first place. With ``max_values``, a
            new value the cap evicts at once is still True (it was new).

        Raises:
            TypeError: a bad name, value or ttl, before anything is written.
            ValueError: a bad ttl or a value that cannot be encoded; nothing
                is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen, and the
                answer is lost (see "De-duplication" in the recipes for what
                to do then).
            redis.ResponseError: the key holds another Redis type, or a
                sorted set whose scores are not expiry times; it is left
                untouched (valkey clients raise their own ResponseError).

        """
        return list(await self._run(self._op_add_new(name, values, ttl)))

    # One overload per kind of mapping key: a Mapping's key type is invariant
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
        """Add many names' values at once, in one round trip (one per node on a cluster).

        Args:
            data: ``(name, values)`` pairs, or a mapping of name to values;
                ``values`` must be a collection, not a lone str or bytes.
            ttl: Seconds to live for every value; defaults to the instance's.
            nx: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            xx: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            gt: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            lt: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            ch: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].

        Returns:
            How many of the given values were not live under their name
            before and are live now.

        Raises:
            TypeError: a malformed item, name or value, before anything is
                written.
            ValueError: a bad ttl, a value that cannot be encoded, or ``nx``
                with ``xx``/``gt``; nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                with ``nx=True`` counts only the values still missing).
            redis.ResponseError: a key holds another Redis type; that key is
                left untouched, the other names are written.
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
        """Add values with their own absolute expiry times.

        Args:
            data: ``(name, [(expire_at, value), ...])`` pairs (or a mapping),
                ``expire_at`` in UNIX seconds (finite int or float, from
                2001-09-09 to year 9999: an earlier one is taken for a pair
                the wrong way round and raises), rounded up to the
                resolution. An ``expire_at`` already past stores nothing, and
                ends a live value where the mode lets the new expiry apply.
            nx: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            xx: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            gt: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            lt: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].
            ch: As in [add][multimapwithttl.AsyncMultiMapWithTTL.add].

        Returns:
            How many of the given values were not live before and are live now.

        Raises:
            TypeError: a malformed item, before anything is written.
            ValueError: an ``expire_at`` out of range, a value that cannot be
                encoded, or ``nx`` with ``xx``/``gt`` (``lt`` with ``gt``/``nx``);
                nothing is written.
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
        """The live values under ``name``, soonest-expiring first.

        With ``max_values``, only the values the cap keeps (at most
        ``max_values``, those that expire last), whatever the name holds.

        Returns:
            A list of the values, each passed through ``cast_fn``.

        Raises:
            TypeError: ``name`` is not a str or int.
            redis.ResponseError: the key holds another Redis type.

        """
        (values,) = await self._run(self._op_get_many([name]))
        return list(values)

    async def get_many(self, *names: Name) -> list[list[T]]:
        """The live values of several names, in one round trip.

        Returns:
            One list of values per name, in the order asked.

        Raises:
            TypeError: a name is not a str or int.
            redis.ResponseError: a key holds another Redis type.

        """
        return [list(values) for values in await self._run(self._op_get_many(names))]

    async def delete(self, *names: Name) -> int:
        """Delete whole names with all their values. No names: nothing happens.

        Returns:
            How many of the names existed (as redis-py's ``delete``); a name
            given twice counts once.

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
        """Remove some values from ``name``.

        Returns:
            How many of ``values`` were live.

        Raises:
            TypeError: a bad name or value, before anything is written.
            ValueError: a value that cannot be encoded; nothing is written.
            redis.ConnectionError: the connection broke after the write was
                sent, so it may have run: it is never resent unseen (a resend
                counts only the values still live).
            redis.ResponseError: the key holds another Redis type (left untouched).

        """
        return int(await self._run(self._op_remove(name, values)))

    async def contains(self, name: Name, value: Value) -> bool:
        """Whether ``value`` is live under ``name``.

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
        """How many live values ``name`` holds.

        Returns:
            The number of values under ``name`` that have not expired (with
            ``max_values``: at most that).

        Raises:
            TypeError: ``name`` is not a str or int.
            redis.ResponseError: the key holds another Redis type.

        """
        return int(await self._run(self._op_count(name)))

    async def get_with_expiry(self, name: Name) -> list[tuple[T, float]]:
        """The live values under ``name`` with their expiry times.

        Returns:
            ``(value, expire_at)`` pairs ordered by expiry, ``expire_at`` a
            float of UNIX seconds.

        Raises:
            TypeError: ``name`` is not a str or int.
            redis.ResponseError: the key holds another Redis type.

        """
        return list(await self._run(self._op_get_with_expiry(name)))

    async def get_many_with_expiry(self, *names: Name) -> list[list[tuple[T, float]]]:
        """The live values of several names with their expiry times, in one round trip.

        One round trip (one per node on a cluster), with one plain read per
        name; on ``clock="server"``, the server's ``TIME`` goes in the same
        round trip (on a cluster, one read-only script call per name reads
        its node's clock).

        Returns:
            Per name, in the order asked, its ``(value, expire_at)`` pairs as
            [get_with_expiry][multimapwithttl.AsyncMultiMapWithTTL.get_with_expiry]
            gives them.

        Raises:
            TypeError: a name is not a str or int.
            redis.ResponseError: a key holds another Redis type.

        """
        return list(await self._run(self._op_get_many_with_expiry(names)))

    async def _drive(self, job: Job, progress: Progress | None) -> None:
        """Run ``job`` (stats or sweep) over every key under the prefix, a batch at a time."""
        batcher = job.batcher()
        done = 0
        keys = self.redis.scan_iter(match=self._scan_pattern(), count=SCAN_COUNT)
        while True:
            try:
                key = await anext(keys)
            except StopAsyncIteration:
                break
            except Exception as error:
                better = scan_refused(error)
                if better is None:
                    raise
                raise better from error
            raw = job.wanted(key)
            if raw is None:
                continue
            for batch in batcher.add(raw):
                await self._run(job.batch(batch))
                done += len(batch)
                if progress is not None:
                    progress(done)
        last = batcher.flush()
        for batch in last:
            await self._run(job.batch(batch))
            done += len(batch)
            if progress is not None:
                progress(done)
        if progress is not None and not last:
            progress(done)  # once at least, if only to say 0

    async def stats(self, *, progress: Progress | None = None) -> Stats:
        """Count what the prefix holds: names, live and expired values, keys to repair.

        Scans every key under the prefix (every primary of a cluster) in
        batches and never writes: it runs on read-only replicas too. A value
        counts as expired once it is expired by both the client's clock and
        the server's (on ``clock="server"``, by the server's alone).

        Args:
            progress: Called after each batch with how many keys have been
                looked at so far (for a progress display).

        Returns:
            The counts for the whole prefix.

        Raises:
            redis.RedisError: a server or connection error (the client's own
                exception type), raised as soon as it happens.

        """
        job = self._job("stats")
        await self._drive(job, progress)
        return job.stats()

    async def sweep(
        self,
        *,
        dry_run: bool = False,
        exclude: Patterns = (),
        progress: Progress | None = None,
        on_key: KeyListener | None = None,
    ) -> SweepReport:
        """Repair the prefix: collect expired values, fix missing or short TTLs, drop dead keys.

        Meant for keys that 0.1.0 left behind: keys without a TTL (which
        never go away), keys whose TTL ends before their newest value, keys
        holding only expired values. Every sorted set under the prefix is
        looked at and, where needed, repaired atomically with the same rule
        as every write: expired values (by both clocks) are removed, and
        the key's TTL is set to end when its newest live value expires.
        TTLs running more than 2 s past the newest value are trimmed too
        (not counted). Safe while writers run; no server call lasts more
        than a few milliseconds, however big the prefix.

        What is not a multimap key is counted as foreign and left untouched
        (members or value, and TTL): keys of another type, and sorted sets
        holding any score that cannot be an expiry time (not finite, below
        1,000,000,000, or from year 10000 on: a leaderboard, millisecond
        timestamps). A sorted set of past UNIX seconds (a "last seen" set)
        looks exactly like a key 0.1.0 leaked and would be deleted: keep it
        under another prefix, or pass ``exclude``.

        Args:
            dry_run: Only count what a sweep would do; write nothing (the
                script runs read-only).
            exclude: Glob patterns (Redis's syntax, as SCAN MATCH: ``*``,
                ``?``, ``[a-z]``, backslash escapes) on the **full key**, e.g.
                ``"app:lastseen"`` or ``"app:cache:*"``; a single string is
                one pattern. Matching keys are neither read nor changed;
                ``SweepReport.excluded`` counts them.
            progress: Called after each batch with how many keys have been
                looked at so far.
            on_key: Called with ``(key, action)`` for **every** key the
                sweep changes (with ``dry_run``, would change), as each batch
                is done, so that nothing but the current batch is held
                however many keys there are; the key as text (undecodable
                bytes as backslash escapes). A key may come under two
                actions: ``"collected"`` (loses expired values and stays),
                ``"ttl_fixed"``, ``"deleted"`` and ``"ttl_trimmed"`` (a TTL
                running more than 2 s past its newest value, which is trimmed
                and counted nowhere). Foreign keys are never changed, so never
                given. An exception it raises stops the sweep there.

        Returns:
            What was done (or would be done, with ``dry_run``), with up to
            10 example keys per action.

        Raises:
            TypeError: an exclude pattern that is not str or bytes, or an
                ``on_key`` that cannot be called.
            ValueError: an exclude pattern with an unclosed ``[``.
            redis.RedisError: a server or connection error (the client's own
                exception type). What was swept before it stays swept.

        """
        job = self._job("dry-run" if dry_run else "sweep", exclude, on_key)
        await self._drive(job, progress)
        return job.report()

    def iter_values(self, name: Name, *, count: int = 1000) -> AsyncIterator[T]:
        """Iterate over the live values of a big name, ``count`` at a time.

        Where [get][multimapwithttl.AsyncMultiMapWithTTL.get] reads a name in one
        command (one that grows with the name, during which the server
        serves no one else: the recipes page gives measured times), this
        reads it a page of about ``count``
        members per command (ZSCAN), so no command is long however big the
        name. It never writes, and runs on read-only replicas.

        A plain method, not a coroutine, that returns an async iterator
        (``async for value in mm.iter_values(name)``).

        Each value live from the start to the end of the iteration comes
        exactly once, whatever is written meanwhile; a value added, removed
        or expiring meanwhile comes at most once. That holds while the
        name stays on one server: a page read after a failover, a restart
        or a move of its slot continues another server's ZSCAN cursor, and
        may skip values or repeat them (start again to be sure). Values come in no
        particular order, and only those live when their page is read.
        With ``max_values``, only those the cap keeps when their page is
        read, and at most ``max_values`` in all; with ``count`` at least
        ``max_values``, all in one bounded read, as ``get`` gives them.

        Args:
            name: A str or an int.
            count: About how many members each command reads: an int from 1
                to 2**63 - 1 (the largest COUNT the server accepts).

        Returns:
            An async iterator of values, each passed through ``cast_fn``; it reads
            the next page when the current one is used up.

        Raises:
            TypeError: ``name`` is not a str or int, or ``count`` is not an
                int; raised by the call, before anything is sent.
            ValueError: ``count`` is not positive, or above 2**63 - 1
                (raised by the call).
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

        ``redis://``, ``rediss://`` and ``unix://`` URLs give a
        ``redis.asyncio.Redis``, ``valkey://`` and ``valkeys://`` a
        ``valkey.asyncio.Valkey``; ``redis+cluster://host:port`` (or
        ``cluster=True``) gives the cluster client
        (``redis.asyncio.cluster.RedisCluster``). A plain method, not a
        coroutine: the client connects on first use. The multimap owns that
        client: [aclose][multimapwithttl.AsyncMultiMapWithTTL.aclose] (or
        ``async with``) closes it.

        Args:
            url: Where the server is, e.g. ``"redis://:password@host:6379/0"``.
            key_prefix: As in the constructor.
            ttl: As in the constructor.
            cast_fn: As in the constructor.
            resolution: As in the constructor.
            clock: As in the constructor.
            max_values: As in the constructor.
            wait_replicas: As in the constructor.
            wait_timeout: As in the constructor.
            wait_aof: As in the constructor.
            cluster: Build the cluster client whatever the scheme.
            **options: Passed to the client class's ``from_url``
                (``decode_responses``, ``socket_timeout``, ...).

        Returns:
            An ``AsyncMultiMapWithTTL[int]``, or of what ``cast_fn`` returns.

        Raises:
            TypeError: ``url`` is not a str, or a setting is wrong, as in the
                constructor; checked before the client is built.
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
        client = client_from_url(url, asyncio=cls._asyncio, cluster=cluster, options=options)
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

        A client given to the constructor is the caller's: it is left open
        and usable. Calling ``aclose()`` again does no harm.
        """
        client = self._release()
        if client is not None:
            await close_client_async(client)

    async def __aenter__(self: _Self) -> _Self:
        """``async with AsyncMultiMapWithTTL.from_url(...) as mm:`` closes it at the end."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Run [aclose][multimapwithttl.AsyncMultiMapWithTTL.aclose]."""
        await self.aclose()

    async def names(self) -> AsyncIterator[str]:
        r"""Every name that has a key under this prefix (SCAN; every primary on a cluster).

        A key goes away with its last live value, so a name is listed while
        it holds one (keys an 0.1.0 writer left without a TTL excepted: see
        [sweep][multimapwithttl.AsyncMultiMapWithTTL.sweep]). Only sorted sets are
        listed (SCAN TYPE zset): keys of other types under the prefix are not
        names. The keys are not read, so a sorted set another application
        keeps under the prefix is listed too (``stats()`` counts such a set
        as foreign, not in ``names``). Keys are decoded as the client decodes
        (its ``encoding``), so a name listed names the same key again; bytes
        it cannot decode are escaped (as ``\xff``).

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
            if name not in seen:  # SCAN may repeat a key while the keyspace rehashes
                seen.add(name)
                yield name
