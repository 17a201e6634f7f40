"""Benchmarks: this project vs python-multimapwithttl 0.1.0, every part, with the targets.

Parts (each also runs on its own: ``python benchmarks/<part>.py [--quick]``):

- ``wall`` (this file): one client's wall time, project vs 0.1.0 vs 0.1.0's
  commands on a raw pipeline, sync and asyncio, interleaved rounds; the longest
  server command (SLOWLOG); Redis memory per value.
- ``server`` (server_work.py): instructions redis-server executes per
  operation, under valgrind's callgrind, 0.1.0 vs project, every mode.
- ``big`` (big_values.py): 1 KB / 10 KB / 100 KB values, wall time and the
  longest server command.
- ``saturation`` (saturation.py): 4 client processes hammering one server.
- ``sweep`` (sweep_rate.py): ``stats()`` and ``sweep()`` over 100,000 keys as 0.1.0 leaks them.
- ``iter_values`` (iter_values.py): ``iter_values`` vs ``get`` on one name of 200,000 values.
- ``big_name`` (big_name.py): one write on a name of 2,000,000 expired members, and
  on a cap's surplus of 300,000 live ones.
- ``calls`` (calls.py): what ``wait_replicas=1`` and ``add_new`` cost per call.

Every part starts its own redis-server on 127.0.0.1 and installs 0.1.0 from
PyPI into ``benchmarks/.old010`` (same package name: loaded by path under
another). Results go to ``benchmarks/results/<part>.json`` and
``results/summary.md`` (``quick.*`` files with ``--quick``, so a quick run never
replaces the full run the documentation quotes). ``summary.md`` ends with every
figure the README and docs quote (``figures.py``), as they write it.

    python benchmarks/run.py                    # everything (~10 min)
    python benchmarks/run.py --quick            # everything, smaller (~1 min)
    python benchmarks/run.py --parts wall,big   # some parts
    python benchmarks/run.py --summary-only     # summary.md again from the stored results
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import big_name
import big_values
import calls
import figures
import iter_values
import redis
import redis.asyncio
import saturation
import server_work
import sweep_rate
from _common import (
    RESULTS,
    ROOT,
    TTL,
    VALUES_PER_NAME,
    Server,
    dataset,
    environment,
    load_010,
    save,
)

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

LABELS = ("project", "0.1.0", "raw pipeline", "project async", "raw pipeline async")
PARTS = ("wall", "server", "big", "saturation", "sweep", "iter_values", "big_name", "calls")
FILES = figures.FILES  # part -> results/<stem>.json


# -- the raw floor: 0.1.0's exact commands, straight on a redis-py pipeline ----------


def queue_add_many(pipe: Any, prefix: str, data: list[tuple[str, list[int]]]) -> Any:
    now = int(time.time())
    for name, values in data:
        key = f"{prefix}:{name}"
        pipe.expireat(key, now + TTL + 1)
        pipe.zadd(key, dict.fromkeys(values, now + TTL))
        pipe.zremrangebyscore(key, 0, now)
    return pipe


def queue_get_many(pipe: Any, prefix: str, names: list[str]) -> Any:
    bound = int(time.time()) + 1
    for name in names:
        pipe.zrangebyscore(f"{prefix}:{name}", bound, "+inf")
    return pipe


def as_ints(replies: list[list[bytes]]) -> list[list[int]]:
    return [[int(m) for m in members] for members in replies]


def raw_add_many(client: redis.Redis, prefix: str, data: list[tuple[str, list[int]]]) -> None:
    queue_add_many(client.pipeline(transaction=False), prefix, data).execute()


def raw_get_many(client: redis.Redis, prefix: str, names: list[str]) -> list[list[int]]:
    return as_ints(queue_get_many(client.pipeline(transaction=False), prefix, names).execute())


async def araw_add_many(client: Any, prefix: str, data: list[tuple[str, list[int]]]) -> None:
    await queue_add_many(client.pipeline(transaction=False), prefix, data).execute()


async def araw_get_many(client: Any, prefix: str, names: list[str]) -> list[list[int]]:
    pipe = queue_get_many(client.pipeline(transaction=False), prefix, names)
    return as_ints(await pipe.execute())


# -- wall time: subjects -------------------------------------------------------------


def subjects(client: redis.Redis, aclient: Any, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """name -> {add_many, get_many, add, get} callables, all over the same server."""
    old_cls = load_010()
    new = MultiMapWithTTL(client, "new", TTL)
    old = old_cls(client, "old", TTL)
    anew = AsyncMultiMapWithTTL(aclient, "anew", TTL)
    run = loop.run_until_complete
    return {
        "project": {
            "add_many": new.add_many,
            "get_many": lambda names: [list(v) for v in new.get_many(*names)],
            "add": lambda name, values: new.add(name, *values),
            "get": lambda name: list(new.get(name)),
        },
        "0.1.0": {
            "add_many": old.add_many,
            "get_many": lambda names: [list(v) for v in old.get_many(*names)],
            "add": lambda name, values: old.add(name, *values),
            "get": lambda name: list(old.get(name)),
        },
        "raw pipeline": {
            "add_many": lambda data: raw_add_many(client, "raw", data),
            "get_many": lambda names: raw_get_many(client, "raw", names),
            "add": lambda name, values: raw_add_many(client, "raw", [(name, values)]),
            "get": lambda name: raw_get_many(client, "raw", [name])[0],
        },
        "project async": {
            "add_many": lambda data: run(anew.add_many(data)),
            "get_many": lambda names: run(anew.get_many(*names)),
            "add": lambda name, values: run(anew.add(name, *values)),
            "get": lambda name: run(anew.get(name)),
        },
        "raw pipeline async": {
            "add_many": lambda data: run(araw_add_many(aclient, "araw", data)),
            "get_many": lambda names: run(araw_get_many(aclient, "araw", names)),
            "add": lambda name, values: run(araw_add_many(aclient, "araw", [(name, values)])),
            "get": lambda name: run(araw_get_many(aclient, "araw", [name]))[0],
        },
    }


def check_same_data(subs: dict[str, Any], data: list[tuple[str, list[int]]]) -> None:
    names = [name for name, _ in data]
    expected = [sorted(values) for _, values in data]
    for label, ops in subs.items():
        ops["add_many"](data)
        got = [sorted(v) for v in ops["get_many"](names)]
        assert got == expected, f"{label} returned different data"
        ops["add"]("single", [1, 2, 3])
        assert sorted(ops["get"]("single")) == [1, 2, 3], label


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def bench(
    subs: dict[str, Any], sizes: list[int], rounds: dict[int, int], singles: int
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    order = list(subs)
    for n in sizes:
        data = dataset(n)
        names = [name for name, _ in data]
        for op, arg in (("add_many", data), ("get_many", names)):
            samples: dict[str, list[float]] = {label: [] for label in order}
            for _ in range(rounds[n]):
                random.shuffle(order)  # interleaved, in a new order each round
                for label in order:
                    samples[label].append(timed(lambda f=subs[label][op], a=arg: f(a)))
            results[f"{op}/{n}"] = {label: statistics.median(s) for label, s in samples.items()}
    for op, args in (("add", ("single", list(range(VALUES_PER_NAME)))), ("get", ("single",))):
        samples = {label: [] for label in order}
        for _ in range(singles):
            random.shuffle(order)
            for label in order:
                samples[label].append(timed(lambda f=subs[label][op], a=args: f(*a)))
        results[f"{op}/1"] = {label: statistics.median(s) for label, s in samples.items()}
    return results


def slowlog_check(server: Server, subs: dict[str, Any], n: int) -> dict[str, Any]:
    """The longest single command the project's batch path ran, per SLOWLOG."""
    client = server.client()
    client.config_set("slowlog-log-slower-than", 1000)  # µs: log everything over 1 ms
    client.config_set("slowlog-max-len", 100_000)
    client.slowlog_reset()
    data = dataset(n)
    subs["project"]["add_many"](data)
    subs["project"]["get_many"]([name for name, _ in data])
    entries = client.slowlog_get(100_000)
    client.config_set("slowlog-log-slower-than", 10_000)
    longest = max((e["duration"] for e in entries), default=0)
    worst = max(entries, key=lambda e: e["duration"]) if entries else None
    command = worst["command"][:60].decode(errors="replace") if worst else ""
    return {"names": n, "entries_over_1ms": len(entries), "longest_us": longest, "command": command}


def memory_check(server: Server, old_cls: Any, n: int = 20_000) -> dict[str, float]:
    """Bytes of Redis memory per stored value, this project vs 0.1.0 (keys with TTL)."""
    client = server.client()
    data = dataset(n)

    def cost(write: Callable[[redis.Redis], object]) -> float:
        client.flushall()
        with server.client() as warm:
            MultiMapWithTTL(warm, "warm").add("w", 1)
            warm.delete("warm:w")
        time.sleep(0.1)
        before = int(client.info("memory")["used_memory"])
        with server.client() as writer:
            write(writer)
        time.sleep(0.1)
        return (int(client.info("memory")["used_memory"]) - before) / (n * VALUES_PER_NAME)

    new = cost(lambda c: MultiMapWithTTL(c, "m").add_many(data))
    # 0.1.0 twice: its first write leaves keys without TTL (a leak, not a saving).
    old = cost(lambda c: (old_cls(c, "m", TTL).add_many(data), old_cls(c, "m", TTL).add_many(data)))
    return {"project": new, "0.1.0": old, "ratio": new / old}


def plot(results: dict[str, Any], sizes: list[int], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, op in zip(axes, ("add_many", "get_many"), strict=True):
        for label in LABELS:  # a fixed order: the same colour means the same subject
            rate = [n * VALUES_PER_NAME / results[f"{op}/{n}"][label] for n in sizes]
            ax.plot(sizes, rate, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"names per call ({VALUES_PER_NAME} values each)")
        ax.set_ylabel("values per second")
        ax.set_title(op)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def wall_sizes(report: dict[str, Any]) -> list[int]:
    return sorted({int(key.split("/")[1]) for key in report["medians_s"] if "_many" in key})


def run_wall(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    sizes = [10, 1000] if quick else [10, 1000, 100_000]
    rounds = {10: 50, 1000: 10} if quick else {10: 300, 1000: 30, 100_000: 3}
    singles = 500 if quick else 2000
    loop = asyncio.new_event_loop()
    with Server() as server, server.client() as client:
        aclient = redis.asyncio.Redis(port=server.port)
        try:
            subs = subjects(client, aclient, loop)
            check_same_data(subs, dataset(500))
            client.flushall()
            results = bench(subs, sizes, rounds, singles)
            slow = [slowlog_check(server, subs, n) for n in sizes]
            memory = memory_check(server, load_010(), 5000 if quick else 20_000)
        finally:
            loop.run_until_complete(aclient.aclose())
            loop.close()
    report = {
        **environment(),
        "quick": quick,
        "values_per_name": VALUES_PER_NAME,
        "medians_s": results,
        "slowlog": slow,
        "memory_bytes_per_value": memory,
        "duration_s": time.monotonic() - started,
    }
    RESULTS.mkdir(exist_ok=True)
    plot(results, sizes, RESULTS / ("quick.throughput.png" if quick else "throughput.png"))
    if not quick:  # the documentation shows the full run's plot
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        plot(results, sizes, ROOT / "docs" / "img" / "throughput.png")
    if verbose:
        print("\n".join(wall_table(report)), flush=True)
    return report


def wall_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| ms per call (median) | project | 0.1.0 | raw | x 0.1.0 "
        "| async | raw async | async x raw |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, med in report["medians_s"].items():
        ms = {label: value * 1000 for label, value in med.items()}
        lines.append(
            f"| {key} | {ms['project']:.3f} | {ms['0.1.0']:.3f} | {ms['raw pipeline']:.3f} "
            f"| {med['0.1.0'] / med['project']:.2f} | {ms['project async']:.3f} "
            f"| {ms['raw pipeline async']:.3f} "
            f"| {med['raw pipeline async'] / med['project async']:.2f} |"
        )
    lines.append("")
    for entry in report["slowlog"]:
        lines.append(
            f"SLOWLOG {entry['names']:>7} names: longest command "
            f"{entry['longest_us'] / 1000:.2f} ms ({entry['entries_over_1ms']} over 1 ms) "
            f"{entry['command']!r}"
        )
    mem = report["memory_bytes_per_value"]
    lines.append(
        f"memory per value: project {mem['project']:.1f} B, 0.1.0 {mem['0.1.0']:.1f} B, "
        f"ratio {mem['ratio']:.3f}"
    )
    return lines


# -- targets -------------------------------------------------------------------------


targets = figures.judged


def measured_code(reports: dict[str, dict[str, Any]]) -> list[str]:
    """Which code each part measured: the docs should quote one clean commit."""
    code = {part: report.get("project", "?") for part, report in reports.items()}
    lines = [f"- {part}: {where}" for part, where in code.items()]
    commits = {where.rpartition("(")[2].rstrip(")") for where in code.values()}
    if len(commits) > 1 or any(c.endswith("-dirty") for c in commits):
        lines.append(
            "- **not one clean commit**: run `python benchmarks/run.py` on the release commit"
            " (clean tree) before quoting these"
        )
    return lines


def summary(reports: dict[str, dict[str, Any]]) -> str:
    env = next(iter(reports.values()))
    quick = bool(env.get("quick"))
    lines = [
        f"# Benchmarks ({'quick' if quick else 'full'} run, {env['when']})",
        "",
        "Each section says when it ran and which code it measured; the targets take each"
        " section's latest results.",
        "",
        f"redis-server {env['redis_server']}, redis-py "
        f"{env['redis_py']} (hiredis {env['hiredis']}), Python {env['python']}, "
        f"{env['cpus']} CPUs.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---:|---|",
    ]
    for target, measured, met in targets(reports):
        lines.append(
            f"| {target} | {measured} | {'n/a' if met is None else 'yes' if met else 'NO'} |"
        )
    sections = (
        ("wall", "Wall time, one client", wall_table),
        ("server", "Server instructions per operation (callgrind)", server_work.table),
        ("big", "Big values", big_values.table),
        ("saturation", "Saturation", saturation.table),
        ("sweep", "Sweep", sweep_rate.table),
        ("iter_values", "iter_values on one big name", iter_values.table),
        ("big_name", "One name of many expired members", big_name.table),
        ("calls", "What wait_replicas and add_new cost per call", calls.table),
    )
    for part, title, table in sections:
        if part in reports:
            report = reports[part]
            took = f"{report['duration_s']:.0f} s, {report['when']}, {report['project']}"
            lines += ["", f"## {title} ({took})", "", *table(report)]
    if not quick:  # the docs quote the full run
        lines += [
            "",
            "## Figures quoted in the docs",
            "",
            "Every figure README.md and docs/*.md state, marked `<!-- fig: NAME -->` after it,"
            " with its value from the results above, as the docs write it"
            " (tests/test_doc_figures.py checks the pages against the results).",
            "",
            "Code measured:",
            "",
            *measured_code(reports),
            "",
            *figures.quoted_table(reports),
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {PARTS}")
    parser.add_argument("--replot", action="store_true", help="redraw the plot of wall.json")
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="rebuild results/summary.md from the stored results, running nothing",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target the run measured is not met"
    )
    args = parser.parse_args()
    if args.replot:
        report = json.loads((RESULTS / "wall.json").read_text())
        for path in (RESULTS / "throughput.png", ROOT / "docs" / "img" / "throughput.png"):
            plot(report["medians_s"], wall_sizes(report), path)
        print("\n".join(wall_table(report)))
        return 0
    parts = [] if args.summary_only else [p.strip() for p in args.parts.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    runners = {
        "wall": run_wall,
        "server": server_work.run,
        "big": big_values.run,
        "saturation": saturation.run,
        "sweep": sweep_rate.run,
        "iter_values": iter_values.run,
        "big_name": lambda quick: big_name.run(200_000 if quick else 2_000_000),
        "calls": calls.run,
    }
    reports: dict[str, dict[str, Any]] = {}
    for part in PARTS:
        if part in parts:
            print(f"== {part}", flush=True)
            reports[part] = runners[part](args.quick)
            save(FILES[part], args.quick, reports[part])
    for part in PARTS:  # parts not run now: their latest results of the same kind, if any
        stored = RESULTS / f"{'quick.' if args.quick else ''}{FILES[part]}.json"
        if part not in reports and stored.exists():
            reports[part] = json.loads(stored.read_text())
    reports = {part: reports[part] for part in PARTS if part in reports}
    text = summary(reports)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / ("quick.summary.md" if args.quick else "summary.md")).write_text(text)
    print()
    print(text)
    if args.check and any(met is False for _, _, met in targets(reports)):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
