"""The server's work per operation: instructions redis-server executes, under callgrind.

Redis runs commands on one thread shared by every client, so what one operation
costs the *server* caps a deployment's total throughput. Wall time on a noisy
machine cannot show it; ``INFO commandstats`` leaves out request parsing and
networking. Instead each figure runs a fresh ``redis-server`` under
``valgrind --tool=callgrind`` and counts the instructions it executes:

1. start the server (``--hz 1``, see ``_common.Server``), connect;
2. warm-up: write the data set (1000 names x 10 values), and run the measured
   operation once (script loading, connection set-up, first-use allocations);
3. ``callgrind_control --zero``, run the measured operation R times,
   ``callgrind_control --dump``;
4. per operation = (instructions - instructions inside ``serverCron``) / R:
   the server's timer runs on the clock (jemalloc statistics, client and
   database housekeeping), not per operation, and whether a tick falls inside
   a short measured phase is luck; everything else -- reading and parsing
   requests, executing them, writing replies, the event loop -- counts.

Both subjects (0.1.0 and the project) get the same data and the same calls.
Modes the project does not have yet (``nx``/``xx``/``gt``, ``clock="server"``)
are reported as n/a.

    python benchmarks/server_work.py            # every figure (~1 min)
    python benchmarks/server_work.py --quick    # add_many and get_many only (~20 s)
    python benchmarks/server_work.py --only "project add"   # some figures (not saved)
    python benchmarks/server_work.py --profiles /tmp/profiles   # keep each figure's profile
                                        # (then: callgrind_annotate --inclusive=yes FILE)
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import TTL, VALUES_PER_NAME, Server, dataset, environment, load_010, save

from multimapwithttl import MultiMapWithTTL

NAMES = 1000
# The big-value figure: this many names, each with one value of this many bytes.
BIG_NAMES = 200
BIG = 100_000


@dataclass
class Figure:
    """One measured operation: ``prepare`` returns (warm-up, [measured call per repeat])."""

    key: str
    label: str
    subject: str  # "0.1.0" or "project"
    mode: str = "default"
    repeats: int = 3
    kwargs: dict[str, Any] = field(default_factory=dict)  # write flags of the mode
    server_clock: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # constructor settings (max_values)


def make(subject: str, client: Any, server_clock: bool, options: dict[str, Any]) -> Any:
    if subject == "0.1.0":
        return load_010()(client, "bench", TTL)
    if server_clock:
        options = {**options, "clock": "server"}
    return MultiMapWithTTL(client, "bench", TTL, **options)


def plan(
    fig: Figure, mm: Any, client: Any
) -> tuple[Callable[[], object], list[Callable[[], object]]]:
    """The warm-up and the measured calls of one figure, data built ahead of time."""
    data = dataset(NAMES)
    names = [name for name, _ in data]
    op = fig.key.split("/")[0]
    kw = fig.kwargs

    def load() -> None:
        mm.add_many(data)
        if fig.subject == "0.1.0":
            # 0.1.0 sends EXPIREAT before ZADD, so a key's first write leaves it
            # without a TTL (the keys it leaks); the second gives it one. Reads
            # of keys without a TTL skip a lookup in the server's table of
            # expiry times: compare reads of the same data, keys with a TTL.
            mm.add_many(data)

    if op == "add_many":  # names that hold these values already: a refresh, later expiry

        def warm() -> None:
            load()
            mm.add_many(data, **kw)

        def refresh(k: int) -> Callable[[], object]:
            def call() -> None:
                mm.ttl = TTL + 60 * (k + 1)
                mm.add_many(data, **kw)

            return call

        return warm, [refresh(k) for k in range(fig.repeats)]
    if op == "add_many_big":  # big_values.py's 100 KB row: a refresh of 200 names
        big = [(f"big-{i}", [b"%09d" % i + b"x" * (BIG - 9)]) for i in range(BIG_NAMES)]

        def warm_big() -> None:
            mm.add_many(big)
            mm.add_many(big)  # 0.1.0's second write gives each key its TTL

        def refresh_big(k: int) -> Callable[[], object]:
            def call() -> None:
                mm.ttl = TTL + 60 * (k + 1)
                mm.add_many(big)

            return call

        return warm_big, [refresh_big(k) for k in range(fig.repeats)]
    if op == "add_many_half":  # half of every name's values expired, not yet collected
        # Each repeat first stores the data anew, the first half of each
        # name's values (written last) with a 1 s ttl, and waits until they have expired
        # (outside the measured part); the measured call then rewrites all
        # ten with a new ttl: half are collected and added again, half
        # refreshed. Both subjects collect on write (0.1.0 by
        # ZREMRANGEBYSCORE up to its clock).
        half = VALUES_PER_NAME // 2
        early = [(name, values[:half]) for name, values in data]
        late = [(name, values[half:]) for name, values in data]

        def expire_half() -> None:
            # The live half first: written after the short-lived half, it
            # would collect those already expired (under callgrind, writing
            # 1000 names takes longer than their 1 s), and how many were left
            # for the measured call would hang on the clock. 0.1.0 gives a
            # key the TTL of its last write, 1 s: the key's TTL is set back to
            # the live half's, as writing that half last would have left it.
            mm.ttl = TTL
            mm.add_many(late)
            mm.ttl = 1
            mm.add_many(early)
            with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.expire(f"bench:{name}", TTL)
                pipe.execute()
            time.sleep(2.05)  # past the 1 s ttl, rounded up to a whole second

        def rewrite(k: int) -> Callable[[], object]:
            def call() -> None:
                mm.ttl = TTL + 60 * (k + 1)
                mm.add_many(data, **kw)

            return call

        return load_and_warm(load, lambda: None), [
            Prepared(expire_half, rewrite(k)) for k in range(fig.repeats)
        ]
    if op == "add_many_new":  # names that do not exist yet
        fresh = [dataset(NAMES, tag=f"new{k}") for k in range(fig.repeats)]
        return load_and_warm(load, lambda: mm.add_many(dataset(3, tag="warm"), **kw)), [
            (lambda d=d: mm.add_many(d, **kw)) for d in fresh
        ]
    if op == "get_many":
        return load_and_warm(load, lambda: [list(v) for v in mm.get_many(*names)]), [
            (lambda: [list(v) for v in mm.get_many(*names)]) for _ in range(fig.repeats)
        ]
    if op == "add":  # one new value under an existing name
        return load_and_warm(load, lambda: mm.add(names[-1], -1, **kw)), [
            (lambda k=k: mm.add(names[k % NAMES], 100_000 + k, **kw)) for k in range(fig.repeats)
        ]
    if op == "get":
        return load_and_warm(load, lambda: list(mm.get(names[-1]))), [
            (lambda k=k: list(mm.get(names[k % NAMES]))) for k in range(fig.repeats)
        ]
    raise ValueError(op)


@dataclass
class Prepared:
    """A measured call that needs a set-up first, left out of the count."""

    prepare: Callable[[], object]
    call: Callable[[], object]

    def __call__(self) -> object:
        return self.call()


def load_and_warm(load: Callable[[], None], once: Callable[[], object]) -> Callable[[], None]:
    def warm() -> None:
        load()
        once()

    return warm


def figures(quick: bool) -> list[Figure]:
    """Quick: the two batch operations once each; full: every operation and mode."""
    scale = 1 if quick else 3  # repeats: callgrind counts are exact, repeats average the rest
    out: list[Figure] = []
    for subject in ("0.1.0", "project"):
        out += [
            Figure("add_many/1000", "add_many, 1000 names x 10 values", subject, repeats=scale),
            Figure("get_many/1000", "get_many, 1000 names", subject, repeats=2 * scale),
            Figure("add_many_big/200", "add_many, 200 names x one 100 KB value", subject,
                   repeats=scale),
        ]  # fmt: skip
        if not quick:
            out += [
                Figure("add/1", "single add (one value)", subject, repeats=500),
                Figure("get/1", "single get", subject, repeats=500),
                Figure("add_many_new/1000", "add_many, 1000 new names x 10", subject, repeats=2),
                Figure(
                    "add_many_half/1000", "add_many, half of each name expired", subject, repeats=2
                ),
            ]
    if not quick:
        for flag in ("nx", "xx", "gt", "lt", "ch"):
            out.append(
                Figure("add_many/1000", f"add_many {flag}=True", "project", flag, 3, {flag: True})
            )
        # The refresh workload with a cap: every name holds its 10 values, so
        # nothing is evicted; what the cap costs when it holds.
        out.append(
            Figure("add_many/1000", "add_many, max_values=10", "project", "max_values=10", 3,
                   options={"max_values": 10})
        )  # fmt: skip
        out.append(
            Figure("add/1", "single add, max_values=10 (evicts one)", "project", "max_values=10",
                   500, options={"max_values": 10})
        )  # fmt: skip
        out.append(
            Figure("add_many/1000", 'add_many clock="server"', "project", "clock=server", 3,
                   server_clock=True)
        )  # fmt: skip
        out.append(
            Figure("get_many/1000", 'get_many clock="server"', "project", "clock=server", 6,
                   server_clock=True)
        )  # fmt: skip
    return out


def measure(fig: Figure, keep: Path | None = None) -> dict[str, Any]:
    """Run one figure on a fresh server; instructions per operation or an n/a reason."""
    started = time.monotonic()
    with Server(callgrind=True) as server, server.client() as client:
        try:
            mm = make(fig.subject, client, fig.server_clock, fig.options)
            warm, calls = plan(fig, mm, client)
            warm()
        except TypeError as error:  # a keyword the project does not have (yet)
            return {"per_op": None, "why": f"n/a: {error}"}
        if any(isinstance(call, Prepared) for call in calls):
            instructions = timer = 0
            elapsed = 0.0
            for call in calls:
                if isinstance(call, Prepared):
                    call.prepare()
                server.zero()
                start = time.monotonic()
                call()
                elapsed += time.monotonic() - start
                counted, in_timer = server.dump(keep)
                instructions += counted
                timer += in_timer
        else:
            server.zero()
            start = time.monotonic()
            for call in calls:
                call()
            elapsed = time.monotonic() - start
            instructions, timer = server.dump(keep)
    return {
        "per_op": (instructions - timer) / len(calls),
        "instructions": instructions,
        "timer_instructions": timer,
        "repeats": len(calls),
        "measured_s": elapsed,
        "figure_s": time.monotonic() - started,
    }


def run(
    quick: bool = False,
    verbose: bool = True,
    profiles: Path | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    rows = []
    if profiles:
        profiles.mkdir(parents=True, exist_ok=True)
    for fig in figures(quick):
        if only and not re.search(only, f"{fig.subject} {fig.label}"):
            continue
        keep = None
        if profiles:
            keep = profiles / re.sub(r"[^\w.=-]+", "_", f"{fig.subject}-{fig.key}-{fig.mode}.out")
        result = measure(fig, keep)
        rows.append({"key": fig.key, "label": fig.label, "subject": fig.subject,
                     "mode": fig.mode, **result})  # fmt: skip
        if verbose:
            shown = f"{result['per_op'] / 1e3:12.1f} k" if result["per_op"] else result["why"]
            print(f"  {fig.subject:8} {fig.label:34} {shown}", flush=True)
    report = {
        **environment(),
        "quick": quick,
        "names": NAMES,
        "rows": rows,
        "duration_s": time.monotonic() - started,
    }
    return report


def fmt(n: float | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def table(report: dict[str, Any]) -> list[str]:
    """Markdown table: instructions per operation, 0.1.0 vs project, and modes vs default."""
    by = {(r["subject"], r["key"], r["mode"]): r for r in report["rows"]}
    lines = [
        "| server instructions per operation | 0.1.0 | project | project / 0.1.0 | vs default |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        if r["subject"] != "project":
            continue
        old = by.get(("0.1.0", r["key"], "default"), {}).get("per_op")
        base = by.get(("project", r["key"], "default"), {}).get("per_op")
        new = r["per_op"]
        ratio = f"**{new / old:.2f}x**" if new and old else "n/a"
        vs = f"{new / base:.2f}x" if new and base and r["mode"] != "default" else ""
        old_shown = fmt(old) if r["mode"] == "default" else ""
        lines.append(f"| {r['label']} | {old_shown} | {fmt(new)} | {ratio} | {vs} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="add_many and get_many only, fewer repeats"
    )
    parser.add_argument(
        "--profiles", type=Path, help="keep each figure's callgrind profile in this directory"
    )
    parser.add_argument(
        "--only", metavar="REGEX", help='figures whose "subject label" matches, e.g. "project add"'
    )
    args = parser.parse_args()
    report = run(args.quick, profiles=args.profiles, only=args.only)
    if args.only:  # a partial run: shown, not saved over the full results
        print("\n".join(table(report)))
        return 0
    path = save("server_work", args.quick, report)
    print("\n".join(table(report)))
    print(f"({report['duration_s']:.0f} s; {path.relative_to(path.parents[2])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
