"""Sweep rate: how fast ``sweep()`` repairs the keys 0.1.0 leaked, and what it costs the server.

On a redis-server this script starts, 100,000 keys under one prefix as 0.1.0
leaves them (its first write of a name sends EXPIREAT before ZADD, so the key
gets no TTL), 10 members each, in three kinds:

- *leaked*: no TTL, 5 expired and 5 live members (the sweep collects the
  expired ones and gives the key a TTL);
- *dead*: no TTL, every member expired (the sweep deletes the key);
- *fine*: a TTL and only live members (the sweep looks and leaves it).

Then ``stats()``, ``sweep(dry_run=True)`` and ``sweep()``, each timed (wall
time, the server's main-thread CPU from ``INFO cpu``, and the longest command
in SLOWLOG with every command over 1 ms logged). The same keys again on a
local cluster of three primaries (``tests/servers.py``'s ``LocalCluster``),
where CPU and the longest command are summed and maxed over the nodes: on a
loaded machine the server CPU is the steadier figure of the two.

    python benchmarks/sweep_rate.py            # 100,000 keys
    python benchmarks/sweep_rate.py --quick    # 10,000 keys
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from _common import ROOT, Server, environment, save
from redis.cluster import RedisCluster

from multimapwithttl import MultiMapWithTTL

KINDS = ("leaked", "dead", "fine")


def leak(client: Any, n: int) -> None:
    """``n`` keys under ``leak:``, a third of each kind."""
    now = int(time.time())
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        kind = KINDS[i % 3]
        key = f"leak:{kind}-{i}"
        if kind == "leaked":
            mapping = {f"v{j}": now - 100 if j < 5 else now + 3600 for j in range(10)}
        elif kind == "dead":
            mapping = {f"v{j}": now - 100 for j in range(10)}
        else:
            mapping = {f"v{j}": now + 3600 for j in range(10)}
        pipe.zadd(key, mapping)
        if kind == "fine":
            pipe.expire(key, 3601)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def server_cpu(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user_main_thread"]) + float(info["used_cpu_sys_main_thread"])


def timed(nodes: list[Any], call: Callable[[], Any]) -> dict[str, Any]:
    """Run ``call`` once; its wall time, and CPU and longest command over ``nodes``."""
    for node in nodes:
        node.slowlog_reset()
    cpu = sum(map(server_cpu, nodes))
    start = time.perf_counter()
    result = call()
    wall = time.perf_counter() - start
    cpu = sum(map(server_cpu, nodes)) - cpu
    longest = 0
    for node in nodes:
        entries = node.slowlog_get(100_000)
        skip = (b"INFO", b"SLOWLOG")
        entries = [e for e in entries if not e["command"].upper().startswith(skip)]
        longest = max([longest, *(e["duration"] for e in entries)])
    return {"wall_s": wall, "server_cpu_s": cpu, "longest_us": longest, "result": repr(result)}


def measure(mm: MultiMapWithTTL[Any], nodes: list[Any], n: int, verbose: bool) -> dict[str, Any]:
    """stats(), a dry run and a sweep of the leaked keys, one after the other."""
    for node in nodes:
        node.config_set("slowlog-log-slower-than", 1000)
        node.config_set("slowlog-max-len", 100_000)
    rows = {}
    for label, call in (
        ("stats()", mm.stats),
        ("sweep(dry_run=True)", lambda: mm.sweep(dry_run=True)),
        ("sweep()", mm.sweep),
    ):
        rows[label] = timed(nodes, call)
        if verbose:
            row = rows[label]
            print(
                f"  {label:20} {n / row['wall_s']:10,.0f} keys/s  "
                f"server CPU {row['server_cpu_s'] * 1000:7.0f} ms  "
                f"longest command {row['longest_us'] / 1000:5.1f} ms",
                flush=True,
            )
    return rows


def standalone(n: int, verbose: bool) -> dict[str, Any]:
    with Server() as server, server.client() as client:
        leak(client, n)
        rows = measure(MultiMapWithTTL(client, "leak"), [client], n, verbose)
        return {"rows": rows, "keys_after": client.dbsize()}


def cluster(n: int, verbose: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.servers import LocalCluster

    with tempfile.TemporaryDirectory(prefix="mmttl-bench-cluster-") as directory:
        local = LocalCluster(Path(directory)).start()
        nodes = [redis.Redis(port=port) for port in local.ports]
        try:
            with RedisCluster(host="127.0.0.1", port=local.ports[0]) as client:
                leak(client, n)
                rows = measure(MultiMapWithTTL(client, "leak"), nodes, n, verbose)
            return {"rows": rows, "keys_after": sum(node.dbsize() for node in nodes)}
        finally:
            for node in nodes:
                node.close()
            local.stop()


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    n = 10_000 if quick else 100_000
    started = time.monotonic()
    if verbose:
        print("one server:", flush=True)
    one = standalone(n, verbose)
    if verbose:
        print("cluster of 3 primaries:", flush=True)
    three = cluster(n, verbose)
    return {
        **environment(),
        "quick": quick,
        "keys": n,
        "rows": one["rows"],
        "keys_after": one["keys_after"],
        "cluster": three,
        "duration_s": time.monotonic() - started,
    }


def table(report: dict[str, Any]) -> list[str]:
    n = report["keys"]
    lines = [
        f"| {n:,} keys (1/3 leaked, 1/3 dead, 1/3 fine) | keys/s | wall | server CPU"
        " | longest command |",
        "|---|---:|---:|---:|---:|",
    ]
    figures = [("", report["rows"])]
    if "cluster" in report:
        figures.append((" (cluster of 3)", report["cluster"]["rows"]))
    for where, rows in figures:
        for label, row in rows.items():
            lines.append(
                f"| {label}{where} | {n / row['wall_s']:,.0f} | {row['wall_s']:.2f} s"
                f" | {row['server_cpu_s']:.2f} s | {row['longest_us'] / 1000:.1f} ms |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 keys")
    args = parser.parse_args()
    report = run(args.quick)
    path = save("sweep_rate", args.quick, report)
    print("\n".join(table(report)))
    left = report["keys_after"] + report["cluster"]["keys_after"]
    print(f"keys left: {left:,} ({path.relative_to(path.parents[2])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
