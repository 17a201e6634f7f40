"""Side-by-side benchmark: this project vs python-multimapwithttl 0.1.0 vs a raw pipeline.

Starts its own redis-server on loopback, installs 0.1.0 from PyPI into
``benchmarks/.old010`` (it has the same package name, so it is loaded by
path under another name), checks that every subject returns the same data,
then runs interleaved rounds and prints medians and ratios. Writes
``benchmarks/results/latest.json`` and ``benchmarks/results/throughput.png``
(``quick.json`` and ``quick.png`` with ``--quick``, so a quick run never
replaces the full run the documentation quotes).

    python benchmarks/run.py            # full run (a few minutes)
    python benchmarks/run.py --quick    # smaller sizes, fewer rounds
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

OLD_DIR = HERE / ".old010"
LABELS = ("project", "0.1.0", "raw pipeline", "project async", "raw pipeline async")
RESULTS = HERE / "results"
VALUES_PER_NAME = 10
TTL = 3600


def load_010() -> Any:
    """python-multimapwithttl 0.1.0 from PyPI, imported as ``multimapwithttl_010``."""
    package = OLD_DIR / "multimapwithttl"
    if not package.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(OLD_DIR),
             "python-multimapwithttl==0.1.0"],
            check=True,
        )  # fmt: skip
    spec = importlib.util.spec_from_file_location(
        "multimapwithttl_010", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["multimapwithttl_010"] = module
    spec.loader.exec_module(module)
    assert module.__version__ == "0.1.0"
    return module.MultiMapWithTTL


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


# -- subjects ------------------------------------------------------------------------


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


def dataset(n: int) -> list[tuple[str, list[int]]]:
    return [(f"name-{i}", list(range(i, i + VALUES_PER_NAME))) for i in range(n)]


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


def bench(subs: dict[str, Any], sizes: list[int], rounds: dict[int, int]) -> dict[str, Any]:
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
        for _ in range(2000):
            random.shuffle(order)
            for label in order:
                samples[label].append(timed(lambda f=subs[label][op], a=args: f(*a)))
        results[f"{op}/1"] = {label: statistics.median(s) for label, s in samples.items()}
    return results


def slowlog_check(server: RedisServer, subs: dict[str, Any], n: int) -> dict[str, Any]:
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


def memory_check(server: RedisServer, old_cls: Any, n: int = 20_000) -> dict[str, float]:
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


def plot(results: dict[str, Any], sizes: list[int], path: Path) -> None:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds")
    parser.add_argument("--replot", action="store_true", help="redraw the plot of latest.json")
    args = parser.parse_args()
    if args.replot:
        report = json.loads((RESULTS / "latest.json").read_text())
        sizes = sorted({int(key.split("/")[1]) for key in report["medians_s"] if "_many" in key})
        for path in (RESULTS / "throughput.png", ROOT / "docs" / "img" / "throughput.png"):
            plot(report["medians_s"], sizes, path)
        print_report(report)
        return 0
    sizes = [10, 1000, 10_000] if args.quick else [10, 1000, 100_000]
    rounds = {10: 300, 1000: 30, 10_000: 5, 100_000: 3}
    if args.quick:
        rounds = {10: 100, 1000: 10, 10_000: 2}

    server = RedisServer(Path(tempfile.mkdtemp()), None, "--appendonly", "no").start()
    loop = asyncio.new_event_loop()
    client = server.client()
    aclient = redis.asyncio.Redis(port=server.port)
    try:
        subs = subjects(client, aclient, loop)
        check_same_data(subs, dataset(500))
        client.flushall()
        results = bench(subs, sizes, rounds)
        slow = [slowlog_check(server, subs, n) for n in sizes]
        memory = memory_check(server, load_010())
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()
        server.stop()

    report = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "hiredis": importlib.util.find_spec("hiredis") is not None,
        "values_per_name": VALUES_PER_NAME,
        "medians_s": results,
        "slowlog": slow,
        "memory_bytes_per_value": memory,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = ("quick", "quick") if args.quick else ("latest", "throughput")
    (RESULTS / f"{stem[0]}.json").write_text(json.dumps(report, indent=2))
    plot(results, sizes, RESULTS / f"{stem[1]}.png")
    if not args.quick:  # the documentation shows the full run's plot
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        plot(results, sizes, ROOT / "docs" / "img" / "throughput.png")
    print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    print(f"redis-py {report['redis_py']}, hiredis {report['hiredis']}, {report['when']}")
    print(f"{'operation':16} {'project':>10} {'0.1.0':>10} {'raw':>10} {'x 0.1.0':>8} "
          f"{'async':>10} {'raw async':>10} {'x raw':>6}")  # fmt: skip
    for key, med in report["medians_s"].items():
        ms = {label: value * 1000 for label, value in med.items()}
        print(
            f"{key:16} {ms['project']:10.3f} {ms['0.1.0']:10.3f} {ms['raw pipeline']:10.3f} "
            f"{med['0.1.0'] / med['project']:8.2f} {ms['project async']:10.3f} "
            f"{ms['raw pipeline async']:10.3f} "
            f"{med['raw pipeline async'] / med['project async']:6.2f}"
        )
    for entry in report["slowlog"]:
        print(
            f"SLOWLOG {entry['names']:>7} names: longest command "
            f"{entry['longest_us'] / 1000:.2f} ms ({entry['entries_over_1ms']} over 1 ms) "
            f"{entry['command']!r}"
        )
    mem = report["memory_bytes_per_value"]
    print(
        f"memory per value: project {mem['project']:.1f} B, 0.1.0 {mem['0.1.0']:.1f} B, "
        f"ratio {mem['ratio']:.3f}"
    )


if __name__ == "__main__":
    sys.exit(main())
