"""Sending calls that must not run twice on a cluster: where each goes, and what to do after.

A cluster client's own ``execute_command`` and ``pipeline()`` resend a
command after a connection error (its retry policy), whether or not the
server ran it; for a write whose reply counts new values that resend turns a
lost reply into a wrong count. So the shells send such calls themselves, each
on a connection of the node that serves its hash slot, never resending one
that may have reached the server. What this module decides, for both shells
and without I/O: which node each call goes to, and which error replies mean
the call was *not* run (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) and so may be sent
again, elsewhere or later. And, for the asyncio shell (one non-blocking poll),
whether an idle pooled connection was closed by the server: a write must go
out on a fresh one instead (``closed_while_idle``).
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._commands import NOT_SENT, UNKNOWN, Call, NodeReplies, note_progress
from ._keys import slot_of

# Rounds of redirections before an error reply is given back as the answer
# (redis-py follows at most 16 redirections of one command; a resharding moves
# a slot once, so a few rounds are plenty).
MAX_ROUNDS = 5
# How long to wait before sending again after TRYAGAIN (a multi-key command
# during a slot migration) and CLUSTERDOWN (a failover under way), in seconds.
TRYAGAIN_PAUSE = 0.05
CLUSTERDOWN_PAUSE = 0.25

# The classes redis-py and valkey-py raise for these error replies.
_CODES = {
    "MovedError": "MOVED",
    "AskError": "ASK",
    "TryAgainError": "TRYAGAIN",
    "ClusterDownError": "CLUSTERDOWN",
}
_SCRIPT_COMMANDS = frozenset({"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})


@dataclass(frozen=True, slots=True)
class SlotOwner:
    """The primary that serves ``slot`` in the client's slot table."""

    slot: int


@dataclass(frozen=True, slots=True)
class Address:
    """The node at ``host:port`` that a redirection named.

    After ASK (``asking``): for this call only, ASKING first. After MOVED: the
    slot's new owner, even if the reloaded slot table does not say so yet (the
    node it was read from has not heard).
    """

    host: str
    port: int
    asking: bool = True


Target = SlotOwner | Address


@dataclass(slots=True)
class Exchange:
    """Send each call to its target, in order per node, each node's on one connection.

    The result is one reply per call, error replies as exception values. A
    connection error propagates: the calls must not be sent again.
    ``trailer`` (``WAIT``) goes last to every node, on the connection its
    calls went out on (see ``with_trailer``); its replies follow the calls'.
    """

    calls: list[tuple[Target, Call]]
    trailer: Call | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """What an Exchange gives back when a connection failed, instead of replies.

    ``sent`` is False when the failure came before anything was sent (a node
    that cannot be reached: after a failover the slot table names the dead
    primary), True once any call may have reached a server. ``replies``: the
    replies read before the failure, by position (``UNKNOWN`` where none was).
    """

    error: BaseException
    sent: bool
    replies: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class Refresh:
    """Reload the client's slot table (the cluster's nodes and slots) before going on."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds before going on."""

    seconds: float


Step = Exchange | Refresh | Pause
#: The routing of one batch: yields steps, receives their results, returns the replies.
Routing = Generator[Step, Any, list[Any]]

ASKING = Call(("ASKING",))


def call_slot(call: Call) -> int:
    """The hash slot of ``call``'s first key (every key of a call shares it)."""
    args = call.args
    name = str(args[0]).upper()
    if name in _SCRIPT_COMMANDS:
        key = args[3] if int(args[2]) > 0 else None
    else:
        key = args[1] if len(args) > 1 else None
    return 0 if key is None else slot_of(key)


def _code(reply: object) -> tuple[str, str]:
    """The error code of an error reply and the rest of its message.

    redis-py and valkey-py strip the code from the message of the errors
    they know (``MovedError("3999 127.0.0.1:7001")``) and name the class
    after it; other clients keep it (``"MOVED 3999 127.0.0.1:7001"``).
    """
    if not isinstance(reply, Exception):
        return "", ""
    text = str(reply)
    code = _CODES.get(type(reply).__name__)
    if code is not None:
        if text.startswith(code + " "):
            text = text[len(code) + 1 :]
        return code, text
    head, _, rest = text.partition(" ")
    if head in ("MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"):
        return head, rest
    return "", ""


def _address(text: str) -> Address | None:
    """The node of a MOVED/ASK message's ``<slot> <host>:<port>``."""
    _, _, where = text.partition(" ")
    host, _, port = where.strip().rpartition(":")
    if not host or not port.isdigit():
        return None
    return Address(host, int(port))


def not_run(reply: object) -> bool:
    """True for an error reply that says the call was refused, not run: it may go again."""
    return _code(reply)[0] != ""


def with_trailer(
    calls: Sequence[tuple[Target, Call]], groups: Iterable[list[int]], trailer: Call | None
) -> list[tuple[Target, Call]]:
    """``calls`` and, for each group of positions (a node's), ``trailer`` after them.

    Each group gets the position of its trailer appended, so a shell sends
    it last on that node's connection; its reply comes after the calls'.
    """
    every = list(calls)
    if trailer is not None:
        for positions in groups:
            positions.append(len(every))
            every.append((calls[positions[0]][0], trailer))
    return every


def route(calls: Sequence[Call], *, resend: bool = False) -> Routing:
    """Send ``calls`` to the primaries of their slots; follow redirections; return the replies.

    Only a call whose error reply says it did not run is sent again: after
    MOVED to the node it names (the slot table reloaded too), after ASK to the
    named node (preceded by ASKING, as the protocol wants), after TRYAGAIN
    and CLUSTERDOWN a moment later. After ``MAX_ROUNDS`` the error reply
    stands as the call's answer.

    A connection failure reloads the slot table (the cluster may have failed
    over, and the client's own commands are not there to notice); if nothing
    had been sent, or the calls are safe to run twice (``resend``: a sweep's
    repairs), the calls go again, else the error is raised.

    A last call marked ``each_node`` (``WAIT``) goes after the others to
    each node they were sent to, in every round; its reply is the
    ``NodeReplies`` of all those.
    """
    trailer: Call | None = None
    if calls and calls[-1].each_node:
        trailer, calls = calls[-1], calls[:-1]
    trailed = NodeReplies()
    replies = yield from _route(calls, resend, trailer, trailed)
    if trailer is None:
        return replies
    return [*replies, trailed]


def _route(
    calls: Sequence[Call], resend: bool, trailer: Call | None, trailed: NodeReplies
) -> Routing:
    """``route`` of the calls, ``trailer`` after them on each node; its replies in ``trailed``."""
    replies: list[Any] = [None] * len(calls)
    targets: dict[int, Target] = {i: SlotOwner(call_slot(call)) for i, call in enumerate(calls)}
    pending = list(range(len(calls)))
    for round_ in range(MAX_ROUNDS + 1):
        sent: list[tuple[Target, Call]] = []
        answers: list[int] = []  # position in ``sent`` of each pending call's reply
        for i in pending:
            target = targets[i]
            if isinstance(target, Address) and target.asking:
                sent.append((target, ASKING))
            answers.append(len(sent))
            sent.append((target, calls[i]))
        got = yield Exchange(sent, trailer)
        if isinstance(got, Failed):
            yield Refresh()
            if (got.sent and not resend) or round_ == MAX_ROUNDS:
                # What each call did, as far as is known, for the caller to tell.
                known = list(replies)
                for i, position in zip(pending, answers, strict=True):
                    reply = got.replies[position] if position < len(got.replies) else UNKNOWN
                    known[i] = NOT_SENT if not got.sent or not_run(reply) else reply
                if trailer is not None:
                    known.append(UNKNOWN)
                note_progress(got.error, known)
                raise got.error
            continue
        trailed.extend(got[len(sent) :])
        again: list[int] = []
        pause = 0.0
        refresh = False
        for i, position in zip(pending, answers, strict=True):
            reply = got[position]
            code, text = _code(reply)
            if not code or round_ == MAX_ROUNDS:
                replies[i] = reply
                continue
            again.append(i)
            targets[i] = SlotOwner(call_slot(calls[i]))
            if code == "MOVED":
                refresh = True
                address = _address(text)
                if address is not None:
                    targets[i] = Address(address.host, address.port, asking=False)
            elif code == "ASK":
                address = _address(text)
                if address is not None:
                    targets[i] = address
            elif code == "TRYAGAIN":
                pause = max(pause, TRYAGAIN_PAUSE)
            else:  # CLUSTERDOWN
                pause = max(pause, CLUSTERDOWN_PAUSE)
                refresh = True
        if not again:
            break
        if pause:
            yield Pause(pause)
        if refresh:
            yield Refresh()
        pending = again
    return replies


def _readable(fd: int) -> bool:
    """Whether ``fd`` has something to read (data or end of stream), without waiting."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # Windows: no poll(), no FD_SETSIZE limit
    return bool(readable)


def closed_while_idle(connection: Any) -> bool:
    """Whether an idle asyncio connection of redis-py/valkey-py must be reopened before use.

    True when the server closed it (idle ``timeout``, a proxy, a restart) or
    anything at all waits on it: an idle connection has nothing to read. The
    event loop may not have seen the end of stream yet, so the socket itself
    is asked too. A connection not open (or of an unknown kind) is False:
    its next send opens it afresh.
    """
    reader = getattr(connection, "_reader", None)
    writer = getattr(connection, "_writer", None)
    if not isinstance(reader, asyncio.StreamReader) or not isinstance(writer, asyncio.StreamWriter):
        return False  # not open, or not a socket (fakeredis)
    if reader.at_eof():
        return True
    sock = writer.transport.get_extra_info("socket")
    if sock is None:
        return False
    # A socket the server closed stays readable (end of stream) until closed here; one
    # the transport closed already has no descriptor.
    fd = sock.fileno()
    return fd < 0 or _readable(fd)
