"""Spans for APM users: each round trip the shells make themselves goes through the client's tracer.

The shells send most commands themselves (packed and streamed on a
connection, never re-sent), past ``execute_command`` and ``Pipeline.execute``,
the methods OpenTelemetry's redis instrumentation (and other wrapt-based
tracers) wrap. 0.1.0's calls all went through them, so an upgrade must not
make a user's Redis traffic vanish from their traces.

So such a round trip is handed to that very wrapper, with the shell's own
I/O in place of the wrapped method: the span is the instrumentation's own (its
tracer provider, attributes, request and response hooks) and is made as for
the redis-py call the round trip stands for. One command is
``client.execute_command(*args)``: the hooks get the client, the command's
arguments and its plain reply. A batch is ``pipeline.execute()`` of a
pipeline holding its commands: one span named after them, the hooks get that
pipeline and the list of replies. An error reply is raised through the
wrapper, as redis-py raises it (the first one, for a batch), so the span ends
with status ERROR and the exception recorded; the shell still gets every
reply, error replies as values. What is sent, and that it is never re-sent,
is still the shells' decision.

A round trip the shell sends through the client's own methods (its
``execute_command``, its pipeline, ``script_load``) is traced by them and
must not come here, or it would show twice. Uninstrumented, the cost is one
attribute look-up per round trip.

This module does no I/O of its own: the shells hand it the client and a
function doing theirs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ._commands import Call

#: wrapt's convention, which OpenTelemetry's and other tracers' wrappers follow.
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def _wrapper(method: object) -> Wrapper | None:
    found = getattr(method, "_self_wrapper", None)
    return found if callable(found) else None


def _pipeline(client: Any, calls: Sequence[Call]) -> Any:
    """A pipeline of the client holding ``calls``, never executed: what a batch's span describes.

    Queueing a command in a pipeline does no I/O, as long as it bypasses
    ``execute_command``, which runs ``WATCH`` (and all after it) at once on a
    connection of its own. The wrapper may sit on the pipeline class or only
    on the pipelines one instrumented client makes (``instrument_client``):
    a pipeline made by the client has both.
    """
    make = getattr(client, "pipeline", None)
    if make is None:
        return None
    try:
        try:
            pipeline = make(transaction=False)
        except TypeError:  # a cluster client's pipeline() takes no transaction flag
            pipeline = make()
        # The asyncio cluster pipeline has no such method; its
        # execute_command only queues.
        queue = getattr(pipeline, "pipeline_execute_command", pipeline.execute_command)
        for call in calls:
            queue(*call.args)
    except Exception:
        # A tracer whose pipeline() breaks (instrument_client on a blocking
        # cluster client) must not fail the call: its command span will do.
        return None
    return pipeline


class _Trip:
    """One round trip inside a tracer's wrapper: its replies, and the error raised through it."""

    def __init__(self, single: bool) -> None:
        self.single = single
        self.replies: list[Any] | None = None
        self.error: BaseException | None = None
        self.traceback: Any = None
        self.context: BaseException | None = None

    def answer(self, replies: list[Any]) -> Any:
        """What the wrapped method would return: the reply (one command) or the replies.

        Raises the first error reply, as redis-py's ``execute_command`` and
        ``Pipeline.execute()`` do, for the span to record it.
        """
        self.replies = replies
        for reply in replies:
            if isinstance(reply, BaseException):
                self.error = reply
                # Raising it through the wrapper adds frames: the shell raises it
                # later as it was read.
                self.traceback, self.context = reply.__traceback__, reply.__context__
                raise reply
        return replies[0] if self.single else replies

    def replies_after(self, raised: BaseException) -> list[Any]:
        """The replies, when ``raised`` is the error reply ``answer`` raised; else re-raise it."""
        if raised is not self.error or self.replies is None:
            raise raised
        raised.__traceback__, raised.__context__ = self.traceback, self.context
        return self.replies


def command_wrapper(client: Any) -> Wrapper | None:
    """The tracer's wrapper of the client's ``execute_command``, or None.

    Finding none is all an uninstrumented round trip pays.
    """
    return _wrapper(getattr(client, "execute_command", None))


def _plan(client: Any, calls: Sequence[Call]) -> tuple[Wrapper, Any, tuple[Any, ...], bool] | None:
    """The wrapper, the instance and arguments it is called with, and whether it is one command.

    None when the client's commands are not wrapped by a tracer.
    """
    command = command_wrapper(client)
    if command is None:
        return None
    if len(calls) == 1:
        return command, client, tuple(calls[0].args), True
    pipeline = _pipeline(client, calls)
    batch = _wrapper(getattr(pipeline, "execute", None))
    if batch is None:  # a tracer that wraps commands only: the batch under its first command
        return command, client, tuple(calls[0].args), False
    return batch, pipeline, (), False


def round_trip(client: Any, calls: Sequence[Call], io: Callable[[], list[Any]]) -> list[Any]:
    """``io()`` (one reply per call of ``calls``), inside the span the client's tracer makes."""
    plan = _plan(client, calls)
    if plan is None:
        return io()
    wrapper, instance, args, single = plan
    trip = _Trip(single)
    try:
        wrapper(lambda *_args, **_kwargs: trip.answer(io()), instance, args, {})
    except BaseException as raised:  # re-raised unless it is a reply
        return trip.replies_after(raised)
    # A wrapper that never called the function: nothing was sent yet.
    return io() if trip.replies is None else trip.replies


async def round_trip_async(
    client: Any, calls: Sequence[Call], io: Callable[[], Awaitable[list[Any]]]
) -> list[Any]:
    """As ``round_trip``, for an asyncio client and a coroutine function doing the I/O."""
    plan = _plan(client, calls)
    if plan is None:
        return await io()
    wrapper, instance, args, single = plan
    trip = _Trip(single)

    async def run(*_args: Any, **_kwargs: Any) -> Any:
        return trip.answer(await io())

    try:
        await wrapper(run, instance, args, {})
    except BaseException as raised:  # re-raised unless it is a reply
        return trip.replies_after(raised)
    return await io() if trip.replies is None else trip.replies


def execute(pipeline: Any) -> list[Any]:
    """``pipeline.execute(raise_on_error=False)``, its span marked as ``execute()``'s would be.

    The replies come back with error replies as values, yet the span says
    ERROR when there is one: redis-py marks only a raising ``execute()``.
    """
    method = pipeline.execute
    wrapper = _wrapper(method)
    if wrapper is None:
        return list(method(raise_on_error=False))
    unwrapped = method.__wrapped__
    trip = _Trip(single=False)
    try:
        wrapper(
            lambda *_args, **_kwargs: trip.answer(list(unwrapped(raise_on_error=False))),
            pipeline,
            (),
            {},
        )
    except BaseException as raised:  # re-raised unless it is a reply
        return trip.replies_after(raised)
    # A wrapper that never called the method: the pipeline has not run yet.
    return list(unwrapped(raise_on_error=False)) if trip.replies is None else trip.replies


async def execute_async(pipeline: Any) -> list[Any]:
    """As ``execute``, for an asyncio client's pipeline."""
    method = pipeline.execute
    wrapper = _wrapper(method)
    if wrapper is None:
        return list(await method(raise_on_error=False))
    unwrapped = method.__wrapped__
    trip = _Trip(single=False)

    async def run(*_args: Any, **_kwargs: Any) -> Any:
        return trip.answer(list(await unwrapped(raise_on_error=False)))

    try:
        await wrapper(run, pipeline, (), {})
    except BaseException as raised:  # re-raised unless it is a reply
        return trip.replies_after(raised)
    if trip.replies is None:
        return list(await unwrapped(raise_on_error=False))
    return trip.replies
