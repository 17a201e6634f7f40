"""What tracing costs: add_many and get_many of 1000 names, instrumented or not.

Two runs, each in its own process on one redis-server started here: ``plain``
(the redis instrumentation not switched on) and ``traced``
(``RedisInstrumentor().instrument()`` with an SDK tracer provider exporting to
memory). Each call writes new scores (a new ttl per round), so the server's
work does not shrink between rounds. What the library adds to an
uninstrumented call, the look-up that finds no tracer, is timed on its own
(``check_us``): it is the whole cost whether OpenTelemetry is installed or not
(redis-py 8 imports it by itself when it is installed).

    python benchmarks/observability.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import redis
from _common import Server, environment, save

NAMES = 1000
VALUES = 10
MODES = ("plain", "traced")


def measure(port: int, mode: str, rounds: int) -> dict[str, float]:
    """Median wall time (ms) of add_many and get_many of NAMES names in this process."""
    exporter = None
    if mode == "traced":
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        RedisInstrumentor().instrument(tracer_provider=provider)
    from multimapwithttl import MultiMapWithTTL
    from multimapwithttl._observability import command_wrapper

    client = redis.Redis(port=port)
    client.flushall()
    mm = MultiMapWithTTL(client, f"obs-{mode}")
    data = [(f"n{i}", list(range(VALUES))) for i in range(NAMES)]
    names = [name for name, _ in data]
    writes, reads = [], []
    for round_ in range(rounds):
        started = time.perf_counter()
        mm.add_many(data, ttl=3600 + round_)  # new scores every round
        writes.append(time.perf_counter() - started)
        started = time.perf_counter()
        for values in mm.get_many(*names):
            list(values)
        reads.append(time.perf_counter() - started)
        if exporter is not None:
            exporter.clear()
    checks = 100_000
    started = time.perf_counter()
    for _ in range(checks):
        command_wrapper(client)
    check = time.perf_counter() - started
    client.close()
    return {
        "add_many_ms": round(statistics.median(writes) * 1000, 2),
        "get_many_ms": round(statistics.median(reads) * 1000, 2),
        "check_us": round(check / checks * 1e6, 3),
        "opentelemetry_loaded": "opentelemetry" in sys.modules,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Each mode in a fresh process against one server; the medians per mode."""
    rounds = 5 if quick else 30
    results: dict[str, Any] = {}
    with Server() as server:
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(server.port), str(rounds)],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            results[mode] = json.loads(out)
            print(mode, results[mode], flush=True)
    plain = results["plain"]
    for op in ("add_many_ms", "get_many_ms"):
        results["traced"][op.replace("_ms", "_vs_plain")] = round(
            results["traced"][op] / plain[op], 3
        )
    return {"environment": environment(), "names": NAMES, "rounds": rounds, "modes": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PORT", "ROUNDS"))
    args = parser.parse_args()
    if args.child:
        mode, port, rounds = args.child
        print(json.dumps(measure(int(port), mode, int(rounds))))
        return 0
    report = run(args.quick)
    print(save("observability", args.quick, report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
