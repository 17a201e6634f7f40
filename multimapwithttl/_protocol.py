"""The conversation with Redis, as data: what to send next, and what came back.

An operation is a generator that yields ``Send`` and ``Load``
requests and receives their results; the sync and async shells only carry
requests to Redis and results back (compare h11). Everything that decides —
retrying after NOSCRIPT, falling back when a server lacks EVALSHA_RO, which
error to raise — happens here, once, for both shells. Error replies are
recognised by what the server said, not by one client library's classes.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._commands import Call
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


@dataclass(frozen=True)
class Load:
    """Load this script on every primary (SCRIPT LOAD). The result is ignored."""

    script: Script


Request = Send | Load
_T = TypeVar("_T")
#: An operation: yields requests, receives their results, returns the answer.
Operation = Generator[Request, Any, _T]

# A script can vanish again between the load and the resend (SCRIPT FLUSH,
# failover to a replica that never saw it); after this many loads, give up.
_MAX_LOADS = 3


def _no_script(reply: object) -> bool:
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

    def send(self, calls: Sequence[Call]) -> Operation[list[Any]]:
        """Send ``calls``; handle NOSCRIPT and missing commands; return the replies."""
        if not self.read_only_scripts:
            calls = [call.fallback or call for call in calls]
        replies: list[Any] = list((yield self._send(calls)))
        if not any(isinstance(reply, Exception) for reply in replies):
            return replies  # the usual case
        lacking = [i for i, r in enumerate(replies) if calls[i].fallback and _unknown_command(r)]
        if lacking:
            self.read_only_scripts = False
            again = yield from self.send([calls[i] for i in lacking])
            for i, reply in zip(lacking, again, strict=True):
                replies[i] = reply
        for _ in range(_MAX_LOADS):
            missing = [i for i, reply in enumerate(replies) if _no_script(reply)]
            if not missing:
                break
            scripts = {calls[i].script for i in missing}
            for script in sorted(filter(None, scripts), key=lambda s: s.name):
                yield Load(script)
            # Only the failed calls are sent again: the others have already run.
            resent = yield self._send([calls[i] for i in missing])
            for i, reply in zip(missing, resent, strict=True):
                replies[i] = reply
        return replies

    def _send(self, calls: Sequence[Call]) -> Send:
        resend = all(call.resend for call in calls)
        kind = self.route_read_scripts
        if kind is not Send and any(call.args[0] in _READ_SCRIPTS for call in calls):
            return kind(calls, resend)
        return Send(calls, resend)


def raise_first_error(replies: Sequence[Any]) -> None:
    """Raise the first error among ``replies`` (after every call has run)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise explain(reply)
