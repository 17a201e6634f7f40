"""Saturation: 4 client processes hammer one redis-server; total values per second.

One plain redis-server (started here). For each operation (add_many, get_many)
and subject (project, 0.1.0), 4 worker processes each call the operation in a
loop on their own 1000 names x 10 values until the time is up; the figure is
the values all workers wrote or read per second. Subjects alternate in
rounds, so slow drifts of a shared machine hit both.

Where the clients and the server share few cores, total values/s measures the
machine as much as the server; the server's own CPU time (``INFO cpu``, its
main thread) gives the other view: values per second of server CPU, the
throughput one Redis core could reach if the clients lived elsewhere.

    python benchmarks/saturation.py            # 2 rounds x 5 s per figure
    python benchmarks/saturation.py --quick    # 1 round x 1.5 s per figure
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from typing import Any

from _common import TTL, VALUES_PER_NAME, Server, dataset, environment, load_010, save

from multimapwithttl import MultiMapWithTTL

WORKERS = 4
NAMES = 1000
SUBJECTS = ("project", "0.1.0")
OPS = ("add_many", "get_many")


def make(subject: str, client: Any) -> Any:
    prefix = "new" if subject == "project" else "old"
    if subject == "project":
        return MultiMapWithTTL(client, prefix, TTL)
    return load_010()(client, prefix, TTL)


def worker(
    port: int, subject: str, op: str, index: int, start_at: float, seconds: float
) -> tuple[int, float]:
    """Call ``op`` in a loop from ``start_at`` for ``seconds``: values handled, end time."""
    import redis

    with redis.Redis(port=port) as client:
        mm = make(subject, client)
        data = dataset(NAMES, tag=f"w{index}")
        names = [name for name, _ in data]
        mm.add_many(data)  # the names to read exist; the write path is warm
        call = (lambda: mm.add_many(data)) if op == "add_many" else (
            lambda: [list(v) for v in mm.get_many(*names)]
        )  # fmt: skip
        call()
        time.sleep(max(0.0, start_at - time.time()))
        done = 0
        deadline = start_at + seconds
        while time.time() < deadline:
            call()
            done += 1
    return done * NAMES * VALUES_PER_NAME, time.time()


def server_cpu(client: Any) -> float:
    info = client.info("cpu")
    main = ("used_cpu_user_main_thread", "used_cpu_sys_main_thread")
    keys = main if all(k in info for k in main) else ("used_cpu_user", "used_cpu_sys")
    return float(sum(info[k] for k in keys))


def hammer(
    pool: Any, server: Server, subject: str, op: str, seconds: float
) -> tuple[int, float, float]:
    """One timed bout: values handled by all workers, seconds it lasted, server CPU seconds.

    The bout ends when the last worker's last call returns (calls started before the
    deadline finish and count), so it lasts a little longer than ``seconds``.
    """
    with server.client() as client:
        start_at = time.time() + 1.0  # every worker connected and warm before it starts
        jobs = [
            pool.apply_async(worker, (server.port, subject, op, i, start_at, seconds))
            for i in range(WORKERS)
        ]
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before = server_cpu(client)
        results = [job.get() for job in jobs]
        cpu = server_cpu(client) - cpu_before
    return sum(v for v, _ in results), max(end for _, end in results) - start_at, cpu


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.monotonic()
    rounds, seconds = (1, 1.5) if quick else (2, 5.0)
    load_010()  # installed before the workers need it
    totals = {(s, op): [0, 0.0, 0.0] for s in SUBJECTS for op in OPS}
    context = multiprocessing.get_context("spawn")
    with Server() as server, context.Pool(WORKERS) as pool:
        for r in range(rounds):
            for op in OPS:
                order = SUBJECTS if r % 2 == 0 else SUBJECTS[::-1]
                for subject in order:
                    values, wall, cpu = hammer(pool, server, subject, op, seconds)
                    totals[subject, op][0] += values
                    totals[subject, op][1] += wall
                    totals[subject, op][2] += cpu
    figures: dict[str, Any] = {}
    for (subject, op), (values, wall, cpu) in totals.items():
        figures[f"{op}/{subject}"] = {
            "values_per_s": values / wall,
            "server_cpu_share": cpu / wall,
            "values_per_server_cpu_s": values / cpu if cpu else None,
        }
        if verbose:
            print(f"  {op:8} {subject:8} {values / wall:12,.0f} values/s, "
                  f"server CPU {cpu / wall:.0%}", flush=True)  # fmt: skip
    return {
        **environment(),
        "quick": quick,
        "workers": WORKERS,
        "names_per_call": NAMES,
        "values_per_name": VALUES_PER_NAME,
        "seconds_per_figure": rounds * seconds,
        "figures": figures,
        "duration_s": time.monotonic() - started,
    }


def table(report: dict[str, Any]) -> list[str]:
    lines = [
        f"| {report['workers']} processes, {report['names_per_call']} names x "
        f"{report['values_per_name']} values a call | project | 0.1.0 | x 0.1.0 |",
        "|---|---:|---:|---:|",
    ]
    figs = report["figures"]
    for op in OPS:
        new, old = figs[f"{op}/project"], figs[f"{op}/0.1.0"]
        lines.append(
            f"| {op}: values/s, all clients | {new['values_per_s']:,.0f} "
            f"| {old['values_per_s']:,.0f} | {new['values_per_s'] / old['values_per_s']:.2f} |"
        )
        lines.append(
            f"| {op}: server CPU busy | {new['server_cpu_share']:.0%} "
            f"| {old['server_cpu_share']:.0%} | |"
        )
        a, b = new["values_per_server_cpu_s"], old["values_per_server_cpu_s"]
        if a and b:
            lines.append(
                f"| {op}: values per server CPU second | {a:,.0f} | {b:,.0f} | {a / b:.2f} |"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 round x 1.5 s per figure")
    args = parser.parse_args()
    report = run(args.quick)
    path = save("saturation", args.quick, report)
    print("\n".join(table(report)))
    print(f"({report['duration_s']:.0f} s; {path.relative_to(path.parents[2])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
