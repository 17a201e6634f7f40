"""Spans for APM users: every round trip goes through the client's own instrumentation.

The shells send most commands themselves (packed and streamed on a
connection, never re-sent), past ``execute_command`` and ``Pipeline.execute``,
the two methods OpenTelemetry's redis instrumentation (and other wrapt-based
tracers) wrap. 0.1.0's calls all went through them, so an upgrade must not
make a user's Redis traffic vanish from their traces.

So when the client's ``execute_command`` is wrapped, each round trip is handed
to that very wrapper, with the shell's own I/O in place of the wrapped
function: the span is the instrumentation's own (its tracer provider, its
attribute conventions, its request and response hooks), and what is sent is
still decided by the shells. A batch is handed to the pipeline wrapper as a
pipeline of its commands, so it appears as one span named after them, like a
redis-py pipeline. Uninstrumented, the cost is one attribute look-up per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._commands import Call
from ._protocol import Load, Request

#: Calls a request's I/O: the shell's ``_perform`` (a coroutine function in the async shell).
Perform = Callable[[Request], Any]


def _wrapper(method: object) -> Callable[..., Any] | None:
    # wrapt's convention, which OpenTelemetry's and other tracers' wrappers follow:
    # wrapper(wrapped, instance, args, kwargs).
    found = getattr(method, "_self_wrapper", None)
    return found if callable(found) else None


class _Batch:
    """What a pipeline wrapper reads from the pipeline it traces, for a batch of calls."""

    def __init__(self, client: Any, calls: Sequence[Call]) -> None:
        self.command_stack: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
            (tuple(call.args), {}) for call in calls
        ]
        # The span's server address and database come from the pool's settings
        # (a cluster client has none: its spans carry none, as redis-py's do).
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            self.connection_pool = pool


class Traced:
    """The instrumentation's wrappers around one client's commands and pipelines."""

    def __init__(self, client: Any, command: Callable[..., Any]) -> None:
        self._client = client
        self._command = command

    def perform(self, perform: Perform, request: Request) -> Any:
        """Run ``perform(request)`` inside the span the client's instrumentation makes.

        Returns what the wrapper returns: the replies, or in the async shell a
        coroutine giving them.
        """
        if isinstance(request, Load):
            return perform(request)  # sent through the client's own script_load: traced there

        def io(*_args: Any, **_kwargs: Any) -> Any:
            return perform(request)

        calls = request.calls
        if len(calls) > 1:
            pipeline = self._pipeline_wrapper()
            if pipeline is not None:
                return pipeline(io, _Batch(self._client, calls), (), {})
        return self._command(io, self._client, tuple(calls[0].args), {})

    def _pipeline_wrapper(self) -> Callable[..., Any] | None:
        # The wrapper may sit on the pipeline class or only on the pipelines
        # one instrumented client makes: a pipeline object (no I/O) tells both.
        make = getattr(self._client, "pipeline", None)
        if make is None:
            return None
        try:
            pipeline = make(transaction=False)
        except TypeError:  # a cluster client's pipeline() takes no transaction flag
            pipeline = make()
        return _wrapper(getattr(pipeline, "execute", None))


def traced(client: Any) -> Traced | None:
    """The client's instrumentation, or None when its commands are not wrapped by a tracer."""
    command = _wrapper(getattr(client, "execute_command", None))
    if command is None:
        return None
    return Traced(client, command)
