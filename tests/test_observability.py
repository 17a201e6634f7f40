"""OpenTelemetry users see every call: each method produces a span, as 0.1.0's calls did.

With ``RedisInstrumentor().instrument()`` active (opentelemetry-instrumentation-
redis), 0.3.0's ``add_many``, ``get_many``, ``remove`` and every ``add`` after the
first produced no span at all: the library sends them past the client's
instrumented methods. Each method here must leave at least one client span
in the in-memory exporter, sync and async, standalone and cluster.
"""

from __future__ import annotations

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
