"""The wire of ``AsyncMultiMapWithTTL``: calls sent on the library's own connections.

What the asyncio shell does with a request the core gives it, below the
client's own command methods: stream calls on one pooled connection, a
WATCH/MULTI/EXEC transaction, calls routed to each slot's primary on a
cluster, each node's on its own connection. Nothing here decides what to send
or how to read a reply (the core does); a call is never sent twice unless the
core said it may be.

``_wire_sync.py`` is generated from this file by ``.ci/unasync.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from ._clients import ClientKind, reachable
from ._commands import SEND_GROUP, UNKNOWN, Call, answered, note_progress, pack, pack_calls
from ._connections import (
    Exchange,
    Failed,
    Refresh,
    SlotOwner,
    Target,
    route,
    with_trailer,
)
from ._io import (
    connect_async,
    node_connection_async,
    pool_connection_async,
    ready_async,
    release_async,
    reopen_async,
)
from ._observability import round_trip_async
from ._protocol import Transaction


async def stream(
    pool: Any, calls: Sequence[Call], errors: type[Exception], resend: bool
) -> list[Any]:
    """Send ``calls`` on one connection, each as soon as it is packed, then read the replies.

    A pipeline as redis-py runs it, except that the server starts on the
    first call while the client still packs the next ones. The client's
    retry policy resends them after a connection error only when
    ``resend``: a write's lost reply must surface, not run the write twice.
    """
    try:
        connection = await pool_connection_async(pool)
    except Exception as error:
        note_progress(error, [], sent=False)
        raise
    try:
        if not resend:
            await reopen_async(connection)
            return await _exchange(connection, calls, errors)
        return list(
            await connection.retry.call_with_retry(
                lambda: _exchange(connection, calls, errors),
                lambda _error: connection.disconnect(),
            )
        )
    except BaseException:
        # Failed or cancelled mid-way, replies may be left unread on the
        # socket: never hand it back dirty.
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)


async def transaction(client: Any, request: Transaction, errors: type[Exception]) -> None:
    """Run ``request`` on one connection (its slot's primary on a cluster); never resent."""
    try:
        if request.slot is None:
            owner: Any = None
            connection = await pool_connection_async(client.connection_pool)
        else:
            node = client.nodes_manager.get_node_from_slot(request.slot)
            owner, connection = node_connection_async(client, node)
    except Exception as error:
        note_progress(error, [], sent=False)
        raise
    try:
        try:
            if owner is None:
                await reopen_async(connection)
            else:
                await connect_async(connection)
            replies = await _traced(client, connection, request.watch, errors, request.meanwhile)
        except Exception as error:
            note_progress(error, [], sent=False)  # before MULTI: nothing written
            raise
        while (calls := request.then(replies)) is not None:
            replies = await _traced(client, connection, calls, errors, request.meanwhile)
        if request.dirty:
            await connection.disconnect()
    except BaseException:
        # Failed or cancelled mid-way: unread replies, a WATCH still set.
        await connection.disconnect()
        raise
    finally:
        if owner is None:
            await client.connection_pool.release(connection)
        else:
            release_async(owner, connection)


async def _traced(
    client: Any,
    connection: Any,
    calls: Sequence[Call],
    errors: type[Exception],
    meanwhile: Callable[[], None] | None,
) -> list[Any]:
    """An exchange of a transaction, in the span the client's tracer makes for such a batch.

    Its few commands go out at once, packed by ``pack_calls``, which sends
    each big member as it is (hiredis's packer would copy it); then
    ``meanwhile`` runs while the server works, then the replies are read.
    """

    async def exchange() -> list[Any]:
        await connection.send_packed_command(pack_calls(calls))
        if meanwhile is not None:
            meanwhile()
        return await _read(connection, len(calls), errors)

    return await round_trip_async(client, calls, exchange)


async def _exchange(connection: Any, calls: Sequence[Call], errors: type[Exception]) -> list[Any]:
    await _send(connection, calls)
    return await _read(connection, len(calls), errors)


async def _send(connection: Any, calls: Sequence[Call]) -> None:
    batch: list[tuple[Any, ...]] = []
    for call in calls:
        batch.append(call.args)
        # A script call goes out as soon as it is packed, so that the server
        # works on it while the client packs the next; plain commands are
        # small, and a send each would cost the client more than they do.
        if call.script is not None or len(batch) >= SEND_GROUP:
            await connection.send_packed_command(pack(batch))
            batch = []
    if batch:
        await connection.send_packed_command(pack(batch))


async def _read(connection: Any, count: int, errors: type[Exception]) -> list[Any]:
    replies: list[Any] = []
    try:
        for _ in range(count):
            try:
                replies.append(await connection.read_response())
            except errors as error:
                replies.append(error)
    except Exception as error:
        # The connection failed: the calls answered so far are known.
        note_progress(error, replies)
        raise
    return replies


async def routed(
    client: Any, calls: Sequence[Call], kind: ClientKind, *, resend: bool
) -> list[Any]:
    """Run ``calls`` on a cluster, each once at most unless ``resend`` (see ``route``)."""
    await ready_async(client)
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


async def _on_nodes(
    client: Any,
    calls: Sequence[tuple[Target, Call]],
    kind: ClientKind,
    trailer: Call | None = None,
) -> Any:
    """Send each node its calls on one of its connections, then read every node's replies.

    Every node is found and connected to before anything is sent (a failure
    there is ``Failed(sent=False)``); all are sent to before any is read, so
    the nodes work at the same time. No resend: a connection error after
    that is ``Failed(sent=True)``, the outcome unknown.
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
            owner, connection = node_connection_async(client, node)
            opened.append((owner, connection, positions))
            await connect_async(connection)
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
        # Failed or cancelled mid-way, replies (or a half-made connection) may
        # be left on the sockets: never hand them back dirty.
        for _owner, connection, _positions in opened:
            await connection.disconnect()
        raise
    finally:
        for owner, connection, _positions in opened:
            release_async(owner, connection)
