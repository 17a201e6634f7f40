"""What two of this release's options cost per call: ``wait_replicas`` and ``add_new``.

On a primary with one replica this script starts (127.0.0.1, no persistence):

- ``add`` of one new value, plain and with ``wait_replicas=1`` (each write then
  waits for ``WAIT 1``): wall time per call (median of interleaved rounds) and
  the primary's instructions per call (callgrind, a second primary of its own);
- ``add_new`` against ``add(nx=True)`` of 10 values to a name, 5 of them live
  already (so half are new): the same two measures.

Every call writes new scores (a later expiry than the last), as the other
benchmarks do.

    python benchmarks/calls.py            # 7 rounds x 300 calls per subject
    python benchmarks/calls.py --quick    # 3 rounds x 100 calls
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import TTL, Server, environment, save

from multimapwithttl import MultiMapWithTTL

#: subject -> (what it measures, its multimap's options, the call made per round trip)
Call = Callable[[MultiMapWithTTL[Any], int], object]
SUBJECTS: dict[str, tuple[dict[str, Any], Call]] = {
    "add": ({}, lambda mm, i: mm.add(f"n{i % 100}", f"v{i}")),
    "add wait_replicas=1": (
        {"wait_replicas": 1, "wait_timeout": 5.0},
        lambda mm, i: mm.add(f"n{i % 100}", f"v{i}"),
    ),
    "add nx 10 values": ({}, lambda mm, i: mm.add(f"m{i % 100}", *_values(i), nx=True)),
    "add_new 10 values": ({}, lambda mm, i: mm.add_new(f"m{i % 100}", *_values(i))),
}


def _values(i: int) -> list[str]:
    """Ten values: five written by the call before on this name (live), five new."""
    return [f"w{i - 100}-{j}" for j in range(5)] + [f"w{i}-{j}" for j in range(5)]


def _multimaps(client: Any) -> dict[str, MultiMapWithTTL[Any]]:
    return {  # each under its own prefix
        label: MultiMapWithTTL(client, f"s{i}", TTL, str, **options)
        for i, (label, (options, _)) in enumerate(SUBJECTS.items())
    }


def _replica_of(primary: Server) -> Server:
    replica = Server("--replicaof", "127.0.0.1", str(primary.port))
    deadline = time.monotonic() + 30
    with replica.client() as client:
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                replica.stop()
                raise RuntimeError("the replica did not connect to its primary")
            time.sleep(0.05)
    return replica


def wall(rounds: int, calls: int) -> dict[str, float]:
    """Median wall time per call (µs) of each subject, interleaved rounds."""
    samples: dict[str, list[float]] = {label: [] for label in SUBJECTS}
    with Server() as primary, primary.client() as client:
        replica = _replica_of(primary)
        try:
            mms = _multimaps(client)
            step = dict.fromkeys(SUBJECTS, 0)
            for label, (_, call) in SUBJECTS.items():  # warm-up: scripts loaded, names made
                for _ in range(200):
                    call(mms[label], step[label])
                    step[label] += 1
            order = list(SUBJECTS)
            for _ in range(rounds):
                random.shuffle(order)
                for label in order:
                    call = SUBJECTS[label][1]
                    for _ in range(calls):
                        t0 = time.perf_counter()
                        call(mms[label], step[label])
                        samples[label].append(time.perf_counter() - t0)
                        step[label] += 1
        finally:
            replica.stop()
    return {label: statistics.median(values) * 1e6 for label, values in samples.items()}


def instructions(calls: int) -> dict[str, float]:
    """The primary's instructions per call of each subject (callgrind, its timer left out)."""
    out: dict[str, float] = {}
    with Server(callgrind=True) as primary, primary.client(socket_timeout=60) as client:
        replica = _replica_of(primary)
        try:
            mms = _multimaps(client)
            for label, (_, call) in SUBJECTS.items():
                mm = mms[label]
                for i in range(200):  # warm-up, as above
                    call(mm, i)
                primary.zero()
                for i in range(200, 200 + calls):
                    call(mm, i)
                total, timer = primary.dump()
                out[label] = (total - timer) / calls
        finally:
            replica.stop()
    return out


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    rounds, calls = (3, 100) if quick else (7, 300)
    medians = wall(rounds, calls)
    counts = instructions(calls)
    rows = {
        label: {"wall_us": medians[label], "server_instructions": counts[label]}
        for label in SUBJECTS
    }
    if verbose:
        for label, row in rows.items():
            count = row["server_instructions"] / 1000
            print(f"  {label:22} {row['wall_us']:8.1f} µs  {count:8.1f} k", flush=True)
    return {
        **environment(),
        "quick": quick,
        "rounds": rounds,
        "calls": calls,
        "rows": rows,
        "duration_s": time.monotonic() - started,
    }


def table(report: dict[str, Any]) -> list[str]:
    rows = report["rows"]
    lines = [
        "| per call | wall (median) | primary's instructions |",
        "|---|---:|---:|",
    ]
    for label, row in rows.items():
        lines.append(
            f"| {label} | {row['wall_us']:.0f} µs | {row['server_instructions'] / 1000:.1f} k |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds x 100 calls")
    args = parser.parse_args()
    report = run(args.quick)
    path = save("calls", args.quick, report)
    print("\n".join(table(report)))
    print(f"({report['duration_s']:.0f} s; {path.relative_to(path.parents[2])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
