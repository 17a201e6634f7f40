"""Big values: add_many / get_many of 1 KB, 10 KB and 100 KB values, project vs 0.1.0.

For each value size, 200 names x 1 value (unique bytes per name), on a
redis-server this script starts:

- wall time: interleaved rounds, median per call, both subjects on the same
  server (each under its own prefix), 7 rounds on each of 3 fresh servers;
- the longest server command: one more call per subject and operation with
  ``slowlog-log-slower-than 0`` (every command logged), the longest SLOWLOG
  duration seen, and the command that took it. The target is 10 ms.

    python benchmarks/big_values.py            # 200 names, 7 rounds on each of 3 servers
    python benchmarks/big_values.py --quick    # 50 names, 3 rounds
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any

from _common import TTL, Server, environment, load_010, save

from multimapwithttl import MultiMapWithTTL

SIZES = (1_000, 10_000, 100_000)
SUBJECTS = ("project", "0.1.0")
# Rounds on each of several fresh servers: a server's start (its memory's
# layout, its hash seed) moved a whole run's ratios by up to a third, more
# than the rounds within one run vary.
SERVERS = 3
ROUNDS = 7


def big_data(n: int, size: int) -> list[tuple[str, list[bytes]]]:
    """``n`` names, each with one value of ``size`` bytes (distinct per name)."""
    return [(f"big-{i}", [b"%09d" % i + b"x" * (size - 9)]) for i in range(n)]


def subjects(client: Any) -> dict[str, Any]:
    return {
        "project": MultiMapWithTTL(client, "new", TTL, cast_fn=bytes),
        "0.1.0": load_010()(client, "old", TTL, cast_fn=bytes),
    }


def calls(mm: Any, data: list[tuple[str, list[bytes]]]) -> dict[str, Any]:
    names = [name for name, _ in data]
    return {
        "add_many": lambda: mm.add_many(data),
        "get_many": lambda: [list(v) for v in mm.get_many(*names)],
    }


def longest_command(client: Any, call: Any) -> tuple[int, str]:
    """Run ``call`` with every command logged; the longest duration (µs) and its command."""
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    client.config_resetstat()
    call()
    entries = client.slowlog_get(1_000_000)
    client.config_set("slowlog-log-slower-than", -1)
    # SLOWLOG leaves EXEC out (it logs each command the transaction ran), but
    # the server runs them in one go: a transaction counts as one command here,
    # its duration the mean per EXEC (transactions are of about one size).
    execs = client.info("commandstats").get("cmdstat_exec")
    entries = [e for e in entries if not e["command"].upper().startswith((b"SLOWLOG", b"CONFIG"))]
    if execs:
        entries.append({"duration": float(execs["usec_per_call"]), "command": b"EXEC (mean)"})
    if not entries:
        return 0, ""
    worst = max(entries, key=lambda e: e["duration"])
    words = worst["command"].split(b" ")
    return int(worst["duration"]), b" ".join(words[:3])[:48].decode(errors="replace")


def measure(
    data: list[tuple[str, list[bytes]]], rounds: int, samples: dict[str, list[float]], last: bool
) -> dict[str, Any]:
    """``rounds`` interleaved rounds of each operation on a fresh server, into ``samples``.

    With ``last``, also each subject's longest command per operation.
    """
    expected = sorted(v for _, values in data for v in values)
    longest: dict[str, Any] = {}
    with Server("--slowlog-max-len", "1000000") as server, server.client() as client:
        client.config_set("slowlog-log-slower-than", -1)
        subs = subjects(client)
        ops = {label: calls(mm, data) for label, mm in subs.items()}
        for label in SUBJECTS:  # warm-up: scripts loaded, keys and allocator sized
            ops[label]["add_many"]()
            ops[label]["get_many"]()
        later = 0
        for op in ("add_many", "get_many"):
            order = list(SUBJECTS)
            for _ in range(rounds):
                random.shuffle(order)
                for label in order:
                    # Every write a later expiry than the last: the same score
                    # again (two calls in one second) would make ZADD nearly free.
                    later += 60
                    subs[label].ttl = TTL + later
                    t0 = time.perf_counter()
                    reply = ops[label][op]()
                    samples[f"{op}/{label}"].append(time.perf_counter() - t0)
                    if op == "get_many":
                        assert sorted(v for vs in reply for v in vs) == expected, label
            if last:
                for label in SUBJECTS:
                    later += 60
                    subs[label].ttl = TTL + later
                    longest[f"{op}/{label}"] = longest_command(client, ops[label][op])
    return longest


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    names = 50 if quick else 200
    servers = 1 if quick else SERVERS
    rounds = 3 if quick else ROUNDS
    results: dict[str, Any] = {}
    for size in SIZES:
        data = big_data(names, size)
        samples: dict[str, list[float]] = {
            f"{op}/{label}": [] for op in ("add_many", "get_many") for label in SUBJECTS
        }
        for i in range(servers):
            longest = measure(data, rounds, samples, last=i == servers - 1)
        entry = {
            key: {
                "median_s": statistics.median(values),
                "longest_command_us": longest[key][0],
                "longest_command": longest[key][1],
            }
            for key, values in samples.items()
        }
        results[str(size)] = entry
        if verbose:
            shown = (
                f"{key} {v['median_s'] * 1000:.1f} ms "
                f"(longest {v['longest_command_us'] / 1000:.1f} ms)"
                for key, v in entry.items()
            )
            print(f"  {size // 1000:>4} KB: " + ", ".join(shown), flush=True)
    return {
        **environment(),
        "quick": quick,
        "names": names,
        "servers": servers,
        "rounds": rounds * servers,
        "sizes": results,
        "duration_s": time.monotonic() - started,
    }


def table(report: dict[str, Any]) -> list[str]:
    lines = [
        f"| {report['names']} names x 1 value | op | project | 0.1.0 | x 0.1.0 "
        "| longest command, project | longest command, 0.1.0 |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for size, entry in report["sizes"].items():
        for op in ("add_many", "get_many"):
            new, old = entry[f"{op}/project"], entry[f"{op}/0.1.0"]
            lines.append(
                f"| {int(size) // 1000} KB | {op} | {new['median_s'] * 1000:.1f} ms "
                f"| {old['median_s'] * 1000:.1f} ms | {old['median_s'] / new['median_s']:.2f} "
                f"| {new['longest_command_us'] / 1000:.1f} ms "
                f"| {old['longest_command_us'] / 1000:.1f} ms |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="50 names, 3 rounds")
    args = parser.parse_args()
    report = run(args.quick)
    path = save("big_values", args.quick, report)
    print("\n".join(table(report)))
    print(f"({report['duration_s']:.0f} s; {path.relative_to(path.parents[2])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
