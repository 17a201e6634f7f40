"""OpenTelemetry users see every call: each method produces a span, as 0.1.0's calls did.

With ``RedisInstrumentor().instrument()`` active (opentelemetry-instrumentation-
redis), 0.3.0's ``add_many``, ``get_many``, ``remove`` and every ``add`` after the
first produced no span at all: the library sends them past the client's
instrumented methods. Each method here must leave at least one client span
in the in-memory exporter, sync and async, standalone and cluster.

And exactly as redis-py's own calls make them: 0.4.0 wrapped a read the client
already traced a second time (two nested identical spans, hooks called twice,
the response hook given ``[reply]``), gave pipeline hooks an object of its own,
and left the span of a call that raised UNSET without the exception.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .conftest import Factory

trace_sdk = pytest.importorskip("opentelemetry.sdk.trace")
export = pytest.importorskip("opentelemetry.sdk.trace.export")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")
instrumentation = pytest.importorskip("opentelemetry.instrumentation.redis")
trace_api = pytest.importorskip("opentelemetry.trace")


@pytest.fixture
def spans() -> Iterator[Any]:
    exporter = in_memory.InMemorySpanExporter()
    provider = trace_sdk.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    instrumentor = instrumentation.RedisInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


#: Every method, called as a user would; the data they read was written before.
METHODS: list[tuple[str, Callable[[Any], Any]]] = [
    ("add", lambda mm: mm.add("a", 1, 2)),
    ("add again", lambda mm: mm.add("a", 3)),
    ("add nx", lambda mm: mm.add("a", 4, nx=True)),
    ("touch", lambda mm: mm.touch("a", 1, 9)),
    ("add_new", lambda mm: mm.add_new("a", 1, 10)),
    ("add_many", lambda mm: mm.add_many([("a", [5]), ("b", [6]), ("c", [7])])),
    ("add_many_with_ttl", lambda mm: mm.add_many_with_ttl([("d", [(time.time() + 60, 8)])])),
    ("get", lambda mm: list(mm.get("a"))),
    ("get_many", lambda mm: [list(v) for v in mm.get_many("a", "b", "c")]),
    ("contains", lambda mm: mm.contains("a", 1)),
    ("count", lambda mm: mm.count("a")),
    ("get_with_expiry", lambda mm: mm.get_with_expiry("a")),
    ("names", lambda mm: list(mm.names())),
    ("stats", lambda mm: mm.stats()),
    ("sweep", lambda mm: mm.sweep()),
    ("remove", lambda mm: mm.remove("a", 1, 2)),
    ("delete", lambda mm: mm.delete("b", "c")),
]


# opentelemetry-instrumentation-redis instruments redis-py clients only.
REDIS_PY_ONLY = pytest.mark.backends_except("valkey-real", "valkey-cluster")


@REDIS_PY_ONLY
@pytest.mark.parametrize(("method", "call"), METHODS, ids=[m[0] for m in METHODS])
def test_every_method_call_makes_a_span(
    make: Factory, spans: Any, method: str, call: Callable[[Any], Any]
) -> None:
    mm = make("otel")
    mm.add("a", 1, 2)  # loads the write script: the call under test is not the first
    mm.add("a", 1)
    spans.clear()
    call(mm)
    finished = spans.get_finished_spans()
    assert finished, f"{method} produced no span"
    for span in finished:
        assert span.kind == trace_api.SpanKind.CLIENT
        assert span.name.split()[0].isupper()  # a Redis command, as the instrumentation names it


@REDIS_PY_ONLY
def test_a_batch_is_one_span_named_after_its_commands(make: Factory, spans: Any) -> None:
    mm = make("otel")
    mm.add_many([("warm", [0])])
    spans.clear()
    mm.add_many([(f"n{i}", [i]) for i in range(50)])
    finished = spans.get_finished_spans()
    assert finished
    commands = " ".join(span.name for span in finished).split()
    assert "EVALSHA" in commands


@REDIS_PY_ONLY
def test_a_big_value_write_shows_its_transaction(make: Factory, spans: Any) -> None:
    # Big members go as WATCH, a check, then MULTI ... EXEC on the library's own
    # connection: each exchange is a span, as a redis-py pipeline of them would be.
    mm = make("otel", cast_fn=bytes)
    mm.add_many([("warm", [b"w" * 4000])])
    nodes = [] if make.backend.name == "fake" else make.backend.raw_nodes()
    for node in nodes:
        node.config_resetstat()
    spans.clear()
    assert mm.add_many([("a", [b"x" * 4000]), ("b", [b"y" * 4000])]) == 2
    commands = " ".join(span.name for span in spans.get_finished_spans()).split()
    if make.backend.name == "fake":  # fakeredis runs no #!lua scripts: the script path
        assert "EVALSHA" in commands
        return
    assert {"WATCH", "MULTI", "EXEC"} <= set(commands)
    # The span is described, not run: WATCH went out once per transaction
    # (a pipeline's execute_command would have run it at once, elsewhere).
    watched = sum(
        int(node.info("commandstats").get("cmdstat_watch", {}).get("calls", 0)) for node in nodes
    )
    assert watched == commands.count("WATCH")


@REDIS_PY_ONLY
def test_spans_carry_the_instrumentations_attributes(make: Factory, spans: Any) -> None:
    if make.backend.cluster:  # type: ignore[attr-defined]
        pytest.skip("a cluster client has no single server address")
    mm = make("otel")
    mm.add("a", 1)
    spans.clear()
    mm.add("a", 2)
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert "redis" in {attributes.get("db.system"), attributes.get("db.system.name")}


@REDIS_PY_ONLY
def test_no_spans_once_uninstrumented(make: Factory) -> None:
    exporter = in_memory.InMemorySpanExporter()
    provider = trace_sdk.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    instrumentor = instrumentation.RedisInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    instrumentor.uninstrument()
    mm = make("otel")
    assert mm.add_many([("a", [1, 2])]) == 2
    assert sorted(mm.get("a")) == [1, 2]
    assert exporter.get_finished_spans() == ()


# One span per round trip, as redis-py's own calls make them (issue 24): each
# of these calls is one round trip once its script is loaded. 0.4.0 wrapped the
# reads a second time around the client's own span (2 nested identical spans).
ROUND_TRIPS: list[tuple[str, Callable[[Any], Any]]] = [
    ("add", lambda mm: mm.add("a", 3)),
    ("add_many", lambda mm: mm.add_many([("a", [5]), ("b", [6]), ("c", [7])])),
    ("add_many_with_ttl", lambda mm: mm.add_many_with_ttl([("d", [(time.time() + 60, 8)])])),
    ("get", lambda mm: list(mm.get("a"))),
    ("get_many", lambda mm: [list(v) for v in mm.get_many("a", "b", "c")]),
    ("contains", lambda mm: mm.contains("a", 1)),
    ("count", lambda mm: mm.count("a")),
    ("get_with_expiry", lambda mm: mm.get_with_expiry("a")),
    ("iter_values", lambda mm: list(mm.iter_values("a"))),
    ("remove", lambda mm: mm.remove("a", 1)),
    ("delete", lambda mm: mm.delete("b", "c")),
]


def _warm(mm: Any) -> None:
    """Load every script the calls use and write what they read."""
    mm.add_many([("a", [1, 2]), ("b", [1]), ("c", [1])])
    mm.add_many_with_ttl([("d", [(time.time() + 60, 1)])])
    mm.remove("a", 9)
    mm.delete("z", "y")


def _own(mm: Any, result: Any) -> Any:
    """The result of a call of the client's own, awaited in the async flavour."""
    if inspect.isawaitable(result):
        return mm._loop.run_until_complete(result)
    return result


@REDIS_PY_ONLY
@pytest.mark.parametrize(("method", "call"), ROUND_TRIPS, ids=[m[0] for m in ROUND_TRIPS])
def test_one_span_per_round_trip(
    make: Factory, spans: Any, method: str, call: Callable[[Any], Any]
) -> None:
    mm = make("otel")
    _warm(mm)
    spans.clear()
    call(mm)
    finished = spans.get_finished_spans()
    assert len(finished) == 1, f"{method}: {[span.name for span in finished]}"
    assert finished[0].status.status_code == trace_api.StatusCode.UNSET


@REDIS_PY_ONLY
def test_every_page_of_iter_values_is_one_span(make: Factory, spans: Any) -> None:
    mm = make("otel")
    mm.add("big", *range(2500))
    spans.clear()
    assert len(list(mm.iter_values("big", count=1000))) == 2500
    finished = spans.get_finished_spans()
    assert len(finished) >= 2
    assert {span.name for span in finished} == {finished[0].name}  # one command per page
    assert len({span.context.span_id for span in finished}) == len(finished)
    assert all(span.parent is None for span in finished)  # none nested in another


class Hooks:
    """What the instrumentation's request and response hooks were called with."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, Any, Any]] = []
        self.responses: list[tuple[Any, Any]] = []

    def request(self, _span: Any, instance: Any, args: Any, kwargs: Any) -> None:
        self.requests.append((instance, args, kwargs))

    def response(self, _span: Any, instance: Any, response: Any) -> None:
        self.responses.append((instance, response))

    def clear(self) -> None:
        self.requests.clear()
        self.responses.clear()


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    seen = Hooks()
    provider = trace_sdk.TracerProvider()
    instrumentor = instrumentation.RedisInstrumentor()
    instrumentor.instrument(
        tracer_provider=provider, request_hook=seen.request, response_hook=seen.response
    )
    try:
        yield seen
    finally:
        instrumentor.uninstrument()


#: Single-command calls, and the plain reply the response hook gets (bytes members).
SINGLE_COMMANDS: list[tuple[str, Callable[[Any], Any], Callable[[Any], bool]]] = [
    ("get", lambda mm: list(mm.get("a")), lambda r: sorted(r) == [b"1", b"2"]),
    ("count", lambda mm: mm.count("a"), lambda r: r == 2),
    ("contains", lambda mm: mm.contains("a", 1), lambda r: isinstance(r, float)),
    (
        "get_with_expiry",
        lambda mm: mm.get_with_expiry("a"),
        # Two (value, score) pairs; redis-py 5.0 hands the hook the flat reply.
        lambda r: isinstance(r, list) and len(r) in (2, 4),
    ),
    ("add", lambda mm: mm.add("a", 3), lambda r: r == 1),
    ("remove", lambda mm: mm.remove("a", 3), lambda r: r == 1),
]


@REDIS_PY_ONLY
@pytest.mark.parametrize(
    ("method", "call", "reply"), SINGLE_COMMANDS, ids=[m[0] for m in SINGLE_COMMANDS]
)
def test_hooks_get_what_redis_pys_own_command_gives_them(
    make: Factory,
    hooks: Hooks,
    method: str,
    call: Callable[[Any], Any],
    reply: Callable[[Any], bool],
) -> None:
    mm = make("otel", decode_responses=False)
    _warm(mm)
    if method == "remove":
        mm.add("a", 3)
    client = mm.redis
    hooks.clear()
    _own(mm, client.zrange("otel:a", 0, -1))
    ((own_instance, own_args, own_kwargs),) = hooks.requests
    ((_, own_response),) = hooks.responses
    hooks.clear()
    call(mm)
    ((instance, args, kwargs),) = hooks.requests  # once, not once per wrapper
    ((response_instance, response),) = hooks.responses
    assert instance is own_instance is client
    assert response_instance is client
    assert type(args) is type(own_args) is tuple
    assert isinstance(args[0], str)
    assert args[0].split()[0].isupper()
    assert type(kwargs) is type(own_kwargs) is dict
    assert type(own_response) is list
    assert reply(response), response  # the plain reply, not [reply]


@REDIS_PY_ONLY
def test_pipeline_hooks_get_a_pipeline_as_redis_pys_own_pipeline_gives_them(
    make: Factory, hooks: Hooks
) -> None:
    mm = make("otel")
    _warm(mm)
    client = mm.redis
    pipe = client.pipeline()
    pipe.zrange("otel:a", 0, -1)
    pipe.zrange("otel:b", 0, -1)
    hooks.clear()
    _own(mm, pipe.execute())
    ((own_instance, own_response),) = hooks.responses
    hooks.clear()
    assert [sorted(v) for v in mm.get_many("a", "b")] == [[1, 2], [1]]
    ((instance, response),) = hooks.responses
    assert type(instance) is type(own_instance)
    assert type(response) is type(own_response) is list
    assert [sorted(v) for v in response] == [[b"1", b"2"], [b"1"]]


#: Calls that raise a server error, with what the data under the prefix holds.
FAILING: list[tuple[str, Callable[[Any], Any]]] = [
    ("add on a string", lambda mm: mm.add("str", 1)),
    ("add_many with a string", lambda mm: mm.add_many([("a", [1]), ("str", [2]), ("b", [3])])),
    ("remove on a leaderboard", lambda mm: mm.remove("board", "player")),
    ("get_many with a string", lambda mm: mm.get_many("a", "str", "b")),
    ("get on a string", lambda mm: mm.get("str")),
]


@REDIS_PY_ONLY
@pytest.mark.parametrize(("method", "call"), FAILING, ids=[m[0] for m in FAILING])
def test_a_failing_call_marks_its_span_as_redis_py_does(
    make: Factory, raw: Any, spans: Any, method: str, call: Callable[[Any], Any]
) -> None:
    mm = make("otel")
    _warm(mm)
    raw.set("otel:str", "theirs")
    raw.zadd("otel:board", {"player": 40, "top": 1200})  # scores that are no expiry times
    spans.clear()
    with pytest.raises(make.backend.exceptions.ResponseError):  # type: ignore[attr-defined]
        _own(mm, mm.redis.zrange("otel:str", 0, -1))
    (own,) = spans.get_finished_spans()
    spans.clear()
    with pytest.raises(make.backend.exceptions.ResponseError):  # type: ignore[attr-defined]
        call(mm)
    finished = spans.get_finished_spans()
    assert len(finished) == 1, f"{method}: {[span.name for span in finished]}"
    (span,) = finished
    assert own.status.status_code == span.status.status_code == trace_api.StatusCode.ERROR
    assert [event.name for event in span.events] == [event.name for event in own.events]
    assert [event.name for event in span.events] == ["exception"]
    attributes = dict(span.events[0].attributes or {})
    assert attributes["exception.type"] == dict(own.events[0].attributes or {})["exception.type"]
    assert "WRONGTYPE" in str(attributes["exception.message"]) or "board" in method


@REDIS_PY_ONLY
def test_one_instrumented_client_gets_the_same_spans(make: Factory, raw: Any, flavor: str) -> None:
    exporter = in_memory.InMemorySpanExporter()
    provider = trace_sdk.TracerProvider()
    provider.add_span_processor(export.SimpleSpanProcessor(exporter))
    mm = make("otel")
    _warm(mm)
    raw.set("otel:str", "theirs")
    # instrument_client breaks a blocking cluster client's pipeline() (it wraps the
    # pipeline's immediate_execute_command, which ClusterPipeline lacks), for
    # redis-py's own calls too: get_many on a cluster needs one.
    pipelines = not (make.backend.cluster and flavor == "sync")  # type: ignore[attr-defined]
    instrumentation.RedisInstrumentor.instrument_client(mm.redis, tracer_provider=provider)
    try:
        succeeding: list[Callable[[], Any]] = [
            lambda: list(mm.get("a")),
            lambda: mm.add("a", 4),
            lambda: mm.add_many([("a", [5]), ("b", [6]), ("c", [7])]),
        ]
        failing: list[Callable[[], Any]] = [lambda: mm.add("str", 1)]
        if pipelines:
            succeeding.append(lambda: mm.get_many("a", "b"))
            failing.append(lambda: mm.get_many("a", "str"))
        for call in succeeding:
            exporter.clear()
            call()
            (span,) = exporter.get_finished_spans()
            assert span.status.status_code == trace_api.StatusCode.UNSET
        for call in failing:
            exporter.clear()
            with pytest.raises(make.backend.exceptions.ResponseError):  # type: ignore[attr-defined]
                call()
            (span,) = exporter.get_finished_spans()
            assert span.status.status_code == trace_api.StatusCode.ERROR
            assert [event.name for event in span.events] == ["exception"]
    finally:
        instrumentation.RedisInstrumentor.uninstrument_client(mm.redis)


# fakeredis lacks EVALSHA_RO: its first call's spans show that refusal first.
@pytest.mark.backends_except("fake", "valkey-real", "valkey-cluster")
def test_a_scripts_first_call_shows_noscript_then_the_load_as_redis_pys_scripts_do(
    make: Factory, spans: Any
) -> None:
    mm = make("otel")
    mm.add("a", 1)
    finished = spans.get_finished_spans()
    for span, after in itertools.pairwise(finished):
        if span.status.status_code == trace_api.StatusCode.ERROR:
            (event,) = span.events
            assert str(dict(event.attributes or {})["exception.type"]).endswith("NoScriptError")
            assert after.name == "SCRIPT LOAD"
    assert finished[-1].name == "EVALSHA"
    assert finished[-1].status.status_code == trace_api.StatusCode.UNSET
    spans.clear()
    mm.add("a", 2)
    (span,) = spans.get_finished_spans()  # loaded now: one span
    assert span.status.status_code == trace_api.StatusCode.UNSET
