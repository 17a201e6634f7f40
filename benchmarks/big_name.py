"""One name of millions of expired members: how long one add / remove / delete holds the server.

Redis runs commands on one thread: a single command that works through a huge
sorted set stalls every other client meanwhile. A name of 0.1.0's era (its
keys could be left without a TTL) or of a writer that stopped long ago may hold
millions of expired members; the next write must not collect them all at once.

On a redis-server this script starts (127.0.0.1, no persistence), for each
operation: fill ``big:a`` with N expired members and one live one (pipelined
ZADDs), log every command (``slowlog-log-slower-than 0``), run the operation
once, and report the longest command SLOWLOG saw (the write script counts as
one command, everything it runs included). Target: no command over 10 ms with
N = 2,000,000. Then a cap's surplus: a name of 0.15 N live members (300,000),
one ``add`` with ``max_values=10``.

    python benchmarks/big_name.py            # N = 2,000,000 (~1 min)
    python benchmarks/big_name.py --quick    # N = 200,000
    MULTIMAPWITHTTL_SRC=/path/to/other/checkout python benchmarks/big_name.py  # compare
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import Server, environment, save

from multimapwithttl import MultiMapWithTTL

TARGET_MS = 10.0
FILL_BATCH = 10_000


def fill(client: Any, key: str, members: int) -> None:
    """``members`` expired members (scores in the past) and one live one, in ``key``."""
    past = int(time.time()) - 3600
    pipe = client.pipeline(transaction=False)
    for start in range(0, members, FILL_BATCH):
        stop = min(members, start + FILL_BATCH)
        pipe.zadd(key, {f"expired-{i}": past - i % 1000 for i in range(start, stop)})
        if len(pipe) >= 20:
            pipe.execute()
    pipe.zadd(key, {"live": time.time() + 3600})
    pipe.execute()


def fill_live(client: Any, key: str, members: int) -> None:
    """``members`` live members (scores an hour ahead, each its own), in ``key``."""
    ahead = time.time() + 3600
    pipe = client.pipeline(transaction=False)
    for start in range(0, members, FILL_BATCH):
        stop = min(members, start + FILL_BATCH)
        pipe.zadd(key, {f"live-{i}": ahead + i / 1000 for i in range(start, stop)})
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()


def longest_command(client: Any, call: Callable[[], object]) -> tuple[float, str]:
    """The longest command (ms) SLOWLOG logged while ``call`` ran, and its name."""
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    client.slowlog_reset()
    call()
    entries = client.slowlog_get(10_000)
    client.config_set("slowlog-log-slower-than", 10_000)
    ignored = {b"SLOWLOG", b"CONFIG"}
    timed = [
        (entry["duration"] / 1000, entry["command"].split(b" ")[0].decode())
        for entry in entries
        if entry["command"].split(b" ")[0].upper() not in ignored
    ]
    return max(timed, default=(0.0, "-"))


def run(members: int, verbose: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    rows = []
    operations: list[tuple[str, Callable[[MultiMapWithTTL[Any]], object]]] = [
        ("add", lambda mm: mm.add("a", "new")),
        ("add nx", lambda mm: mm.add("a", "expired-5", nx=True)),
        ("remove", lambda mm: mm.remove("a", "live")),
        ("delete", lambda mm: mm.delete("a")),
    ]
    # A long timeout: the point is to measure commands that may take seconds.
    with Server() as server, server.client(socket_timeout=600) as client:
        mm: MultiMapWithTTL[Any] = MultiMapWithTTL(client, "big", 3600, str)
        mm.add("warm", "x")  # scripts loaded, first-call work done: not measured
        mm.remove("warm", "x")
        mm.delete("warm")
        for label, operation in operations:
            client.delete("big:a")
            fill(client, "big:a", members)
            card = client.zcard("big:a")
            ms, command = longest_command(client, lambda op=operation: op(mm))
            rows.append({"operation": label, "members": card, "longest_ms": ms, "command": command})
            if verbose:
                print(
                    f"  {label:8} {card:>10,} members: longest {command} {ms:8.2f} ms", flush=True
                )
        # A cap's surplus: a name written without max_values holds many live
        # values; the first write with max_values=10 evicts a bounded number
        # per call, never the whole surplus in one command.
        surplus = members * 3 // 20
        capped: MultiMapWithTTL[Any] = MultiMapWithTTL(client, "big", 3600, str, max_values=10)
        client.delete("big:a")
        fill_live(client, "big:a", surplus)
        ms, command = longest_command(client, lambda: capped.add("a", "new"))
        left = client.zcard("big:a")
        rows.append(
            {"operation": "add max_values", "members": surplus, "longest_ms": ms,
             "command": command, "left": left}
        )  # fmt: skip
        if verbose:
            print(
                f"  add, max_values=10, {surplus:,} live members: longest {command} "
                f"{ms:8.2f} ms ({left:,} left for later writes)",
                flush=True,
            )
    return {
        **environment(),
        "members": members,
        "target_ms": TARGET_MS,
        "rows": rows,
        "duration_s": time.monotonic() - started,
    }


def table(report: dict[str, Any]) -> list[str]:
    lines = [
        f"| one call on a name of {report['members']:,} expired members | longest command |",
        "|---|---:|",
    ]
    for row in report["rows"]:
        flag = "" if row["longest_ms"] <= TARGET_MS else " (over target)"
        lines.append(f"| {row['operation']} | {row['longest_ms']:.2f} ms{flag} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="200,000 members")
    parser.add_argument("--members", type=int, help="this many members (not saved)")
    args = parser.parse_args()
    members = args.members or (200_000 if args.quick else 2_000_000)
    report = run(members)
    print("\n".join(table(report)))
    if args.members:
        return 0
    path = save("big_name", args.quick, report)
    print(f"({report['duration_s']:.0f} s; {path.relative_to(path.parents[2])})")
    over = [row for row in report["rows"] if row["longest_ms"] > TARGET_MS]
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
