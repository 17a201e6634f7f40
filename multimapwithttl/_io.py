"""The client calls whose blocking and asyncio forms differ by more than ``await``.

``aio.py`` is written by hand and ``sync.py`` is generated from it
(``.ci/unasync.py``), which drops ``async``/``await`` and turns every name
ending in ``_async`` into the name without it. What that rewrite cannot say
stands here once per flavor: ``x_async`` for asyncio clients, ``x`` for
blocking ones (a no-op where blocking clients need nothing).
"""

from __future__ import annotations

from typing import Any

from ._connections import closed_while_idle


def pool_connection(pool: Any) -> Any:
    """A connection from ``pool``, checked by the pool: a closed one is reopened before use."""
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return pool.get_connection("EVALSHA")


async def pool_connection_async(pool: Any) -> Any:
    """A connection from an asyncio ``pool`` (which does not check it: see ``reopen_async``)."""
    try:
        return await pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return await pool.get_connection("EVALSHA")


def reopen(connection: Any) -> None:
    """Nothing: a blocking pool checks its connections as it hands them out."""


async def reopen_async(connection: Any) -> None:
    """Reconnect ``connection`` if the server closed it while it sat idle.

    redis-py's asyncio pools do not notice that (unlike the blocking ones):
    without this, the first write after an idle timeout fails with
    "Connection closed by server." although it never reached the server,
    and a write must not be resent once it may have.
    """
    if closed_while_idle(connection):
        await connection.disconnect()
        await connection.connect()


def node_connection(client: Any, node: Any) -> tuple[Any, Any]:
    """``(owner, connection)``: a connected connection of the cluster ``node``, and its pool."""
    make = getattr(client, "get_redis_connection", None)
    # The node's own client (its connection pool), made if the cluster client has not yet.
    node_client = client.get_valkey_connection(node) if make is None else make(node)
    pool = node_client.connection_pool
    return pool, pool_connection(pool)


def node_connection_async(client: Any, node: Any) -> tuple[Any, Any]:
    """``(owner, connection)``: a connection of the cluster ``node`` (see ``connect_async``)."""
    return node, node.acquire_connection()


def connect(connection: Any) -> None:
    """Nothing: ``node_connection`` gives a connected connection."""


async def connect_async(connection: Any) -> None:
    """Open a cluster node's ``connection`` (afresh if the server closed it while idle)."""
    await reopen_async(connection)
    if not connection.is_connected:
        await connection.connect()


def release(owner: Any, connection: Any) -> None:
    """Give ``connection`` back to the pool it came from."""
    owner.release(connection)


def release_async(owner: Any, connection: Any) -> None:
    """Give ``connection`` back to its cluster node."""
    give_back = getattr(owner, "release", None)
    if give_back is None:  # redis-py 5.0 puts it back itself
        owner._free.append(connection)
    else:
        give_back(connection)


def ready(client: Any) -> None:
    """Nothing: a blocking cluster client reads the cluster's layout when it is made."""


async def ready_async(client: Any) -> None:
    """Let an asyncio cluster client read the cluster's layout (a no-op once it has)."""
    await client.initialize()


def close_client(client: Any) -> None:
    """Close a client the multimap made: its connections, every node's on a cluster."""
    client.close()
    # redis-py 5.0's cluster client closes each node's client but leaves the
    # connections of the pool it gave that client open.
    manager = getattr(client, "nodes_manager", None)
    for node in list(getattr(manager, "nodes_cache", {}).values()):
        pool = getattr(getattr(node, "redis_connection", None), "connection_pool", None)
        if pool is not None:
            pool.disconnect()


async def close_client_async(client: Any) -> None:
    """Close a client the multimap made (an asyncio cluster client closes its nodes' too)."""
    await client.aclose()
