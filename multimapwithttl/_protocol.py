"""The conversation with Redis, as data: what to send next, and what came back.

An operation is a generator that yields ``Send`` and ``Load``
requests and receives their results; the sync and async shells only carry
requests to Redis and results back (compare h11). Everything that decides —
retrying after NOSCRIPT, falling back when a server lacks EVALSHA_RO, which
error to raise — happens here, once, for both shells. Error replies are
recognised by what the server said, not by one client library's classes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from ._commands import NOT_SENT, UNKNOWN, Call, NodeReplies, answered, note_progress
from ._permissions import explain
from ._scripts import Script


@dataclass(slots=True)
class Send:
    """Run these calls in order, in one round trip per node where possible.

    The result is one reply per call, in order, error replies given back as
    exception values; connection errors propagate to the caller. Unless
    ``resend``, the calls must not be sent again after a connection error
    (the client library's own retry included): the error propagates instead.
    """

    calls: Sequence[Call]
    resend: bool = True


@dataclass(slots=True)
class SendToNodes(Send):
    """A ``Send`` whose calls go each to its slot's primary, on that node's own connection.

    For many small calls of many slots (a sweep): a cluster client's
    pipeline costs more per call than the server's work (redis-py 8 asks
    the server COMMAND GETKEYS for every script call), and a connection per
    node lets the nodes work at the same time. With ``resend``, calls that
    may have run are sent again after a connection error (see
    ``_connections.route``, which the shells run for it).
    """


@dataclass(frozen=True)
class Load:
    """Load this script on every primary (SCRIPT LOAD). The result is ignored."""

    script: Script


@dataclass(slots=True)
class Transaction:
    """A conversation on one connection of the library's own: ``watch``, then ``then``'s.

    The shell sends ``watch`` (``WATCH`` of some keys and the reads that
    decide what to write), then, as long as ``then(replies of the last
    exchange)`` makes more calls, those (``MULTI`` ... ``EXEC``, which the
    server runs only if no watched key changed, and the next ``WATCH``). On a
    cluster every key is of ``slot``, and all goes to its primary. Nothing is
    ever resent; error replies are given to ``then`` as exception values. A
    connection error propagates: during ``watch`` noted as not sent (nothing
    was written), later as the shell's reads noted it. ``dirty``, set by
    ``then``: the connection may be left in a state it must not be reused in.
    ``meanwhile``, if given, is called after each exchange is sent and before
    its replies are read: the core's work on the next exchange that needs no
    reply (packing), done while the server runs this one.
    """

    watch: Sequence[Call]
    then: Callable[[list[Any]], Sequence[Call] | None]
    slot: int | None = None
    dirty: bool = False
    meanwhile: Callable[[], None] | None = None


Request = Send | Load | Transaction
_T = TypeVar("_T")
#: An operation: yields requests, receives their results, returns the answer.
Operation = Generator[Request, Any, _T]


# A script can vanish again between the load and the resend (SCRIPT FLUSH,
# failover to a replica that never saw it); after this many loads, give up.
_MAX_LOADS = 3


def no_script(reply: object) -> bool:
    """Whether ``reply`` is the server's NOSCRIPT error (the script must be loaded first)."""
    # redis-py and valkey-py both strip the NOSCRIPT code from the message
    # and raise a class of this name; other clients keep the code.
    if not isinstance(reply, Exception):
        return False
    return type(reply).__name__ == "NoScriptError" or str(reply).startswith("NOSCRIPT")


def _unknown_command(reply: object) -> bool:
    return isinstance(reply, Exception) and "unknown command" in str(reply).lower()


#: Read-only script calls (see ``Conversation.route_read_scripts``).
_READ_SCRIPTS = frozenset({"EVALSHA_RO", "EVAL_RO"})


class Conversation:
    """Per-client state of the conversation: what the server turned out to support."""

    def __init__(self) -> None:
        #: False once the server answered EVALSHA_RO with "unknown command".
        self.read_only_scripts = True
        #: The request a Send holding a read-only script call becomes: a
        #: cluster client that cannot route those by itself is given a
        #: ``SendToNodes`` (the library's routing) here.
        self.route_read_scripts: type[Send] = Send

    def send(
        self, calls: Sequence[Call], wait: Call | None = None, acks: list[Any] | None = None
    ) -> Operation[list[Any]]:
        """Send ``calls``; handle NOSCRIPT and missing commands; return the replies.

        ``wait`` (``WAIT``, marked ``each_node``) follows every send of calls
        on the connections they used, the first and any resend after
        NOSCRIPT; its replies, one per connection, go into ``acks``.
        """
        if not self.read_only_scripts:
            calls = [call.fallback or call for call in calls]
        try:
            replies: list[Any] = yield from self._waited(calls, wait, acks)
        except Exception as error:
            # Re-noted in full: a resend below notes its own calls only.
            note_progress(error, answered(error, len(calls)))
            raise
        if not any(isinstance(reply, Exception) for reply in replies):
            return replies  # the usual case
        lacking = [i for i, r in enumerate(replies) if calls[i].fallback and _unknown_command(r)]
        if lacking:
            self.read_only_scripts = False
            try:
                again = yield from self.send([calls[i] for i in lacking])
            except Exception as error:
                _merge(error, replies, lacking)
                raise
            for i, reply in zip(lacking, again, strict=True):
                replies[i] = reply
        for _ in range(_MAX_LOADS):
            missing = [i for i, reply in enumerate(replies) if no_script(reply)]
            if not missing:
                break
            scripts = {calls[i].script for i in missing}
            try:
                for script in sorted(filter(None, scripts), key=lambda s: s.name):
                    yield Load(script)
                # Only the failed calls are sent again: the others have already run.
                resent = yield from self._waited([calls[i] for i in missing], wait, acks)
            except Exception as error:
                _merge(error, replies, missing)
                raise
            for i, reply in zip(missing, resent, strict=True):
                replies[i] = reply
        return replies

    def _waited(
        self, calls: Sequence[Call], wait: Call | None, acks: list[Any] | None
    ) -> Operation[list[Any]]:
        """One send of ``calls``, ``wait`` after them; its replies put in ``acks``."""
        if wait is None:
            return list((yield self._send(calls)))
        replies = list((yield self._send([*calls, wait])))
        waited = replies.pop()
        if acks is not None:
            acks.extend(waited if isinstance(waited, NodeReplies) else [waited])
        return replies

    def _send(self, calls: Sequence[Call]) -> Send:
        resend = all(call.resend for call in calls)
        kind = self.route_read_scripts
        if kind is not Send and any(call.args[0] in _READ_SCRIPTS for call in calls):
            return kind(calls, resend)
        return Send(calls, resend)


def _merge(error: BaseException, replies: list[Any], resent: list[int]) -> None:
    """Note on ``error`` every call's reply: those resent as it noted them, the others as read."""
    again = answered(error, len(resent))
    merged = list(replies)
    for i, reply in zip(resent, again, strict=True):
        merged[i] = reply
    note_progress(error, merged)


def refused_wait(reply: Exception, setting: str, command: str) -> Exception:
    """The error to raise when the server refused the probe of ``command`` (before any write).

    A server without the command (fakeredis lacks WAIT, Redis < 7.2 WAITAOF)
    or without an AOF (WAITAOF's local fsync) is said plainly; a refusal by
    the ACL as every other one.
    """
    if _unknown_command(reply) or "appendonly" in str(reply).lower():
        where = "Redis 7.2+ or Valkey" if command == "WAITAOF" else "Redis or Valkey"
        return _reworded(
            reply,
            f"{setting} needs the server's {command} ({where}"
            f"{', with appendonly yes' if command == 'WAITAOF' else ''}); "
            f"this server answered: {reply}. Nothing was written",
        )
    return explain(reply)


def raise_first_error(replies: Sequence[Any]) -> None:
    """Raise the first error among ``replies`` (after every call has run)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise explain(reply)


# How the write and delete scripts end an error returned after some of the
# call's keys were written: the positions (from 1) of those that were not.
_NOT_WRITTEN = re.compile(r" \[not written: ([0-9 -]*)\]$")


def _call_keys(call: Call) -> tuple[Any, ...]:
    """The keys of a script call (``EVALSHA sha numkeys key...``)."""
    return call.args[3 : 3 + int(call.args[2])]


def _not_written(reply: Exception, count: int) -> tuple[Exception, set[int]]:
    """``reply`` without the scripts' list of keys not written, and those positions (from 0).

    A reply without the list is of a call that wrote none of its ``count`` keys.
    """
    text = str(reply)
    match = _NOT_WRITTEN.search(text)
    if match is None:
        return reply, set(range(count))
    positions: set[int] = set()
    for part in match[1].split():
        first, _, last = part.partition("-")
        positions.update(range(int(first) - 1, int(last or first)))
    return _reworded(reply, text[: match.start()]), positions


def _reworded(error: Exception, message: str) -> Exception:
    """An exception of ``error``'s class saying ``message``.

    ``error`` itself, reworded, if its class wants other arguments.
    """
    try:
        return type(error)(message)
    except Exception:
        error.args = (message,)
        return error


#: How the scripts end a refusal: true of the call, not of a batch of calls.
_NOTHING_WRITTEN = "nothing was written"


def raise_batch_error(
    calls: Sequence[Call],
    replies: Sequence[Any],
    names: Mapping[Any, Any],
    verb: str,
    failure: BaseException | None = None,
) -> NoReturn:
    """Raise the error of a batch, saying which of its names it ``verb`` all the same.

    ``calls`` are the batch's script calls, ``replies`` their replies (or
    ``UNKNOWN``/``NOT_SENT``), ``names`` each key's name as given; ``failure``
    the exception that stopped the exchange (a lost connection), else the
    first error reply is raised. Either keeps its class and carries
    ``.written``, the names every call for which succeeded (a name's write is
    all or nothing per call; one spread over several calls counts as written
    only if all did), and ``.unknown``, those with a call whose outcome is not
    known (a lost reply, or some of its calls ran and others not); its message
    gives their counts when there are any.
    """
    done: dict[Any, bool | None] = {}
    first: Exception | None = None
    for call, reply in zip(calls, replies, strict=True):
        keys = _call_keys(call)
        outcomes: Sequence[bool | None]
        if reply is UNKNOWN:
            outcomes = [None] * len(keys)
        elif reply is NOT_SENT:
            outcomes = [False] * len(keys)
        elif isinstance(reply, Exception):
            reply, missing = _not_written(reply, len(keys))
            if first is None:
                first = reply
            outcomes = [i not in missing for i in range(len(keys))]
        else:
            outcomes = [True] * len(keys)
        for key, outcome in zip(keys, outcomes, strict=True):
            before = done.setdefault(key, outcome)
            if before is not outcome:
                done[key] = None
    written = [name for key, name in names.items() if done.get(key) is True]
    unknown = [name for key, name in names.items() if key in done and done[key] is None]
    error: BaseException
    if failure is not None:
        error = failure
    else:
        assert first is not None  # only called with an error among the replies
        error = explain(first)
    if written or unknown:
        said = f"{len(written):,} of {len(names):,} names were {verb} before this error"
        if unknown:
            said += f"; {len(unknown):,} may have been or not"
        # The server's words speak of the call it refused, not the batch.
        refused = str(error).replace(_NOTHING_WRITTEN, "the call refused wrote nothing")
        message = f"{refused} ({said}: see the error's .written and .unknown)"
        if isinstance(error, Exception):
            error = _reworded(error, message)
    with contextlib.suppress(AttributeError, TypeError):
        setattr(error, "written", written)  # noqa: B010 - an attribute no class declares
        setattr(error, "unknown", unknown)  # noqa: B010
    if failure is not None and error is not failure:
        raise error from failure
    raise error
