"""The benchmark figures the README and the docs quote, each named and computed from the results.

Every figure a page states is marked right after it with an invisible
``<!-- fig: NAME -->``; ``tests/test_doc_figures.py`` checks that the number
before each marker is this registry's value, rounded to the digits the page
states, computed from the JSON files committed in ``benchmarks/results/``.
``python benchmarks/run.py`` lists them all in ``results/summary.md``.

Names read ``<part>.<what>``: the part is the results file (``wall``,
``server``, ``big``, ``saturation``, ``sweep``, ``iter_values``, ``big_name``).

    python benchmarks/figures.py      # every figure, as the docs write it
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMES = "\N{MULTIPLICATION SIGN}"
RESULTS = Path(__file__).resolve().parent / "results"

# part -> results file stem (results/<stem>.json)
FILES = {
    "wall": "wall",
    "server": "server_work",
    "big": "big_values",
    "saturation": "saturation",
    "sweep": "sweep_rate",
    "iter_values": "iter_values",
    "big_name": "big_name",
    "calls": "calls",
}

Report = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """One quoted figure: how to compute it from its part's report, and how the docs write it."""

    name: str
    about: str
    compute: Callable[..., float]  # called with the report only (defaults bind the loop)
    unit: str = ""  # as written after the number: TIMES, " ms", " keys/s", " B", " %", " M", " k"
    digits: int = 2  # decimals the docs show by default

    @property
    def part(self) -> str:
        return self.name.split(".", 1)[0]

    def value(self, reports: dict[str, Report]) -> float:
        return self.compute(reports[self.part])

    def format(self, value: float, digits: int | None = None) -> str:
        """``value`` as the docs write it: thousands separated, ``digits`` decimals, the unit."""
        return f"{value:,.{self.digits if digits is None else digits}f}{self.unit}"


def _surplus(report: Report) -> dict[str, Any]:
    """big_name.json's row of a cap's surplus (one add with max_values=10)."""
    row: dict[str, Any] = next(x for x in report["rows"] if x["operation"] == "add max_values")
    return row


def load_reports(results: Path = RESULTS) -> dict[str, Report]:
    """Every part's committed results (full runs; a part without a file is left out)."""
    reports = {}
    for part, stem in FILES.items():
        path = results / f"{stem}.json"
        if path.exists():
            reports[part] = json.loads(path.read_text())
    return reports


# -- the registry ----------------------------------------------------------------------

SUBJECTS = {
    "project": "project",
    "old": "0.1.0",
    "raw": "raw pipeline",
    "async": "project async",
    "raw_async": "raw pipeline async",
}
WALL_KEYS = {
    "add_many_10": "add_many/10",
    "add_many_1000": "add_many/1000",
    "add_many_100000": "add_many/100000",
    "get_many_10": "get_many/10",
    "get_many_1000": "get_many/1000",
    "get_many_100000": "get_many/100000",
    "add_1": "add/1",
    "get_1": "get/1",
}
SERVER_ROWS = {
    # name -> (key, subject, mode)
    "add_many_1000": ("add_many/1000", "project", "default"),
    "add_many_new_1000": ("add_many_new/1000", "project", "default"),
    "add_many_half_1000": ("add_many_half/1000", "project", "default"),
    "get_many_1000": ("get_many/1000", "project", "default"),
    "add_1": ("add/1", "project", "default"),
    "get_1": ("get/1", "project", "default"),
    "add_many_1000_nx": ("add_many/1000", "project", "nx"),
    "add_many_1000_xx": ("add_many/1000", "project", "xx"),
    "add_many_1000_gt": ("add_many/1000", "project", "gt"),
    "add_many_1000_lt": ("add_many/1000", "project", "lt"),
    "add_many_1000_ch": ("add_many/1000", "project", "ch"),
    "add_many_1000_capped": ("add_many/1000", "project", "max_values=10"),
    "add_1_capped": ("add/1", "project", "max_values=10"),
    "add_many_1000_server_clock": ("add_many/1000", "project", "clock=server"),
    "get_many_1000_server_clock": ("get_many/1000", "project", "clock=server"),
    "add_many_big_200": ("add_many_big/200", "project", "default"),
}
SWEEP_ROWS = {"stats": "stats()", "dry_run": "sweep(dry_run=True)", "sweep": "sweep()"}
BIG_SIZES = {"1kb": "1000", "10kb": "10000", "100kb": "100000"}


def _wall(key: str, label: str) -> Callable[[Report], float]:
    return lambda r: float(r["medians_s"][key][label]) * 1000


def _wall_x(key: str, single: bool) -> Callable[[Report], float]:
    # batches: 0.1.0's time over the project's (higher is better); single calls: the
    # project's latency over 0.1.0's (the target is a latency bound)
    def compute(r: Report) -> float:
        med = r["medians_s"][key]
        return float(med["project"] / med["0.1.0"] if single else med["0.1.0"] / med["project"])

    return compute


def _wall_table_x(key: str) -> Callable[[Report], float]:
    return lambda r: float(r["medians_s"][key]["0.1.0"] / r["medians_s"][key]["project"])


def _wall_async_x(key: str) -> Callable[[Report], float]:
    def compute(r: Report) -> float:
        med = r["medians_s"][key]
        return float(med["raw pipeline async"] / med["project async"])

    return compute


def _server_row(r: Report, key: str, subject: str, mode: str) -> float:
    for row in r["rows"]:
        if (row["key"], row["subject"], row["mode"]) == (key, subject, mode):
            return float(row["per_op"])
    raise KeyError(f"server_work.json has no row {key} {subject} {mode}")


def _slowlog(names: int) -> Callable[[Report], float]:
    def compute(r: Report) -> float:
        (entry,) = [e for e in r["slowlog"] if e["names"] == names]
        return float(entry["longest_us"]) / 1000

    return compute


def _sweep_rate(r: Report, label: str) -> float:
    return float(r["keys"] / r["rows"][label]["wall_s"])


def _iter_longest(r: Report, clock: str, label: str) -> float:
    # The worst round: a "longest command" figure is a bound the reader relies on.
    return float(max(r["clocks"][clock][label]["longest_command_us_per_round"])) / 1000


def _build() -> dict[str, Figure]:
    figs: list[Figure] = []
    add = figs.append

    # wall.json: one client's wall time
    for short, key in WALL_KEYS.items():
        for sub, label in SUBJECTS.items():
            ms = "medians" if key.endswith("/1") else "median"
            add(
                Figure(
                    f"wall.{short}.{sub}_ms",
                    f"{key}, {label}: {ms} ms",
                    _wall(key, label),
                    " ms",
                    3,
                )
            )
        add(
            Figure(
                f"wall.{short}_x",
                f"{key}: 0.1.0's median time over the project's",
                _wall_table_x(key),
                TIMES,
            )
        )
        add(
            Figure(
                f"wall.{short}_async_x",
                f"{key}: raw async time over project async",
                _wall_async_x(key),
                TIMES,
            )
        )
    for key in ("add/1", "get/1"):
        short = key.replace("/", "_")
        add(
            Figure(
                f"wall.{short}_latency_x",
                f"{key}: the project's latency over 0.1.0's",
                _wall_x(key, single=True),
                TIMES,
            )
        )
        for sub, label in (("project", "project"), ("old", "0.1.0")):
            add(
                Figure(
                    f"wall.{short}.{sub}_us",
                    f"{key}, {label}: median µs",
                    lambda r, k=key, lab=label: r["medians_s"][k][lab] * 1e6,
                    " µs",
                    0,
                )
            )
    for names in (1000, 100_000):
        add(
            Figure(
                f"wall.longest_ms_{names}",
                f"longest command (SLOWLOG), {names} names",
                _slowlog(names),
                " ms",
                1,
            )
        )
    add(
        Figure(
            "wall.longest_ms",
            "longest command (SLOWLOG), any batch size",
            lambda r: max(e["longest_us"] for e in r["slowlog"]) / 1000,
            " ms",
            1,
        )
    )
    for sub, label in (("project", "project"), ("old", "0.1.0")):
        add(
            Figure(
                f"wall.memory_{sub}_b",
                f"Redis memory per value, {label} (20,000 names)",
                lambda r, label=label: float(r["memory_bytes_per_value"][label]),
                " B",
                1,
            )
        )
    add(
        Figure(
            "wall.memory_ratio",
            "Redis memory per value, project over 0.1.0",
            lambda r: float(r["memory_bytes_per_value"]["ratio"]),
            TIMES,
            3,
        )
    )

    # server_work.json: instructions per operation (callgrind)
    for short, (key, subject, mode) in SERVER_ROWS.items():
        unit, scale, digits = (" k", 1e3, 1) if key.endswith("/1") else (" M", 1e6, 1)
        add(
            Figure(
                f"server.{short}",
                f"server instructions per operation: {key} {mode}",
                lambda r, k=key, s=subject, m=mode, d=scale: _server_row(r, k, s, m) / d,
                unit,
                digits,
            )
        )
        if mode == "default":
            add(
                Figure(
                    f"server.{short}.old",
                    f"server instructions per operation: {key}, 0.1.0",
                    lambda r, k=key, d=scale: _server_row(r, k, "0.1.0", "default") / d,
                    unit,
                    digits,
                )
            )
            add(
                Figure(
                    f"server.{short}_x",
                    f"server instructions {key}: project over 0.1.0",
                    lambda r, k=key: (
                        _server_row(r, k, "project", "default")
                        / _server_row(r, k, "0.1.0", "default")
                    ),
                    TIMES,
                )
            )
        else:
            base = key  # the same operation on the default path
            add(
                Figure(
                    f"server.{short}_x",
                    f"server instructions {key} {mode}: over 0.1.0's default",
                    lambda r, k=key, m=mode: (
                        _server_row(r, k, "project", m) / _server_row(r, k, "0.1.0", "default")
                    ),
                    TIMES,
                )
            )
            add(
                Figure(
                    f"server.{short}_vs_default",
                    f"server instructions {key} {mode}: over the default path",
                    lambda r, k=key, m=mode, b=base: (
                        _server_row(r, k, "project", m) / _server_row(r, b, "project", "default")
                    ),
                    TIMES,
                )
            )

    add(
        Figure(
            "server.add_many_1000_per_value",
            "server instructions per value written by add_many of 1000 names x 10 values (k)",
            lambda r: _server_row(r, "add_many/1000", "project", "default") / 10_000 / 1e3,
            " k",
            1,
        )
    )
    add(
        Figure(
            "server.add_many_1000_inverse",
            "server instructions add_many/1000: 0.1.0's over the project's",
            lambda r: (
                _server_row(r, "add_many/1000", "0.1.0", "default")
                / _server_row(r, "add_many/1000", "project", "default")
            ),
        )
    )

    # big_values.json: 200 names x 1 value of 1 KB / 10 KB / 100 KB
    for short, size in BIG_SIZES.items():
        for op in ("add_many", "get_many"):
            for sub, label in (("project", "project"), ("old", "0.1.0")):
                add(
                    Figure(
                        f"big.{op}_{short}.{sub}_ms",
                        f"{op}, {size} B values, {label}: median",
                        lambda r, s=size, k=f"{op}/{label}": r["sizes"][s][k]["median_s"] * 1000,
                        " ms",
                        1,
                    )
                )
                add(
                    Figure(
                        f"big.{op}_{short}.{sub}_longest_ms",
                        f"{op}, {size} B values, {label}: longest command (SLOWLOG)",
                        lambda r, s=size, k=f"{op}/{label}": (
                            r["sizes"][s][k]["longest_command_us"] / 1000
                        ),
                        " ms",
                        1,
                    )
                )
            add(
                Figure(
                    f"big.{op}_{short}_x",
                    f"{op}, {size} B values: 0.1.0's time over the project's",
                    lambda r, s=size, op=op: (
                        r["sizes"][s][f"{op}/0.1.0"]["median_s"]
                        / r["sizes"][s][f"{op}/project"]["median_s"]
                    ),
                    TIMES,
                )
            )

    for short, size in BIG_SIZES.items():
        add(
            Figure(
                f"big.longest_ms_{short}",
                f"{size} B values: the project's longest command, add_many or get_many",
                lambda r, s=size: (
                    max(
                        r["sizes"][s][f"{op}/project"]["longest_command_us"]
                        for op in ("add_many", "get_many")
                    )
                    / 1000
                ),
                " ms",
                1,
            )
        )

    # saturation.json: 4 client processes, one server
    for op in ("add_many", "get_many"):
        for sub, label in (("project", "project"), ("old", "0.1.0")):
            k = f"{op}/{label}"
            add(
                Figure(
                    f"saturation.{op}.{sub}_values_per_s",
                    f"{k}: values/s, all clients",
                    lambda r, k=k: r["figures"][k]["values_per_s"],
                    "",
                    0,
                )
            )
            add(
                Figure(
                    f"saturation.{op}.{sub}_cpu_pct",
                    f"{k}: server CPU busy",
                    lambda r, k=k: r["figures"][k]["server_cpu_share"] * 100,
                    " %",
                    0,
                )
            )
            add(
                Figure(
                    f"saturation.{op}.{sub}_values_per_cpu_s",
                    f"{k}: values per server CPU s",
                    lambda r, k=k: r["figures"][k]["values_per_server_cpu_s"],
                    "",
                    0,
                )
            )
        for what in ("values_per_s", "values_per_server_cpu_s"):
            add(
                Figure(
                    f"saturation.{op}.{what}_x",
                    f"{op}: {what}, project over 0.1.0",
                    lambda r, op=op, w=what: (
                        r["figures"][f"{op}/project"][w] / r["figures"][f"{op}/0.1.0"][w]
                    ),
                    TIMES,
                )
            )

    # sweep_rate.json: stats() / sweep(dry_run=True) / sweep() over 100,000 keys
    for short, label in SWEEP_ROWS.items():
        add(
            Figure(
                f"sweep.{short}.keys_per_s",
                f"{label}: keys per second",
                lambda r, label=label: _sweep_rate(r, label),
                " keys/s",
                0,
            )
        )
        add(
            Figure(
                f"sweep.{short}.wall_s",
                f"{label}: wall time",
                lambda r, label=label: r["rows"][label]["wall_s"],
                " s",
            )
        )
        add(
            Figure(
                f"sweep.{short}.server_cpu_s",
                f"{label}: server main-thread CPU",
                lambda r, label=label: r["rows"][label]["server_cpu_s"],
                " s",
            )
        )
        add(
            Figure(
                f"sweep.{short}.longest_ms",
                f"{label}: longest command (SLOWLOG)",
                lambda r, label=label: r["rows"][label]["longest_us"] / 1000,
                " ms",
                1,
            )
        )
    add(
        Figure(
            "sweep.keys_per_s_min",
            "the slowest of stats(), a dry run and sweep(): keys/s",
            lambda r: min(_sweep_rate(r, label) for label in r["rows"]),
            " keys/s",
            0,
        )
    )
    add(
        Figure(
            "sweep.keys_per_s_max",
            "the fastest of stats(), a dry run and sweep(): keys/s",
            lambda r: max(_sweep_rate(r, label) for label in r["rows"]),
            " keys/s",
            0,
        )
    )
    add(
        Figure(
            "sweep.server_ms_per_call",
            "sweep(): server CPU per script call of 100 keys",
            lambda r: r["rows"]["sweep()"]["server_cpu_s"] / (r["keys"] / 100) * 1000,
            " ms",
            2,
        )
    )
    for end, pick in (("min", min), ("max", max)):
        add(
            Figure(
                f"sweep.thousand_keys_per_s_{end}",
                f"the {end} rate of stats(), a dry run and sweep(): thousands of keys/s",
                lambda r, pick=pick: pick(_sweep_rate(r, label) for label in r["rows"]) / 1000,
                "",
                0,
            )
        )
    # The same keys on the local 3-master cluster (sweep_rate.json "cluster").
    for short, label in SWEEP_ROWS.items():
        add(
            Figure(
                f"sweep.cluster.{short}.keys_per_s",
                f"{label} on a 3-master cluster: keys per second",
                lambda r, label=label: float(r["keys"] / r["cluster"]["rows"][label]["wall_s"]),
                " keys/s",
                0,
            )
        )
        add(
            Figure(
                f"sweep.cluster.{short}_x",
                f"{label}: the cluster's rate over one server's",
                lambda r, label=label: (
                    r["rows"][label]["wall_s"] / r["cluster"]["rows"][label]["wall_s"]
                ),
                TIMES,
            )
        )
    add(Figure("sweep.keys", "keys swept", lambda r: r["keys"], "", 0))

    # iter_values.json: one name of 200,000 values
    for clock in ("client", "server"):
        add(
            Figure(
                f"iter_values.get_{clock}_clock_median_ms",
                f"get() of the whole name on the {clock} clock: its command, median of the reads",
                lambda r, c=clock: r["clocks"][c]["get"]["median_command_us"] / 1000,
                " ms",
                0,
            )
        )
        add(
            Figure(
                f"iter_values.get_{clock}_clock_longest_ms",
                f"get() of the whole name on the {clock} clock: its command (worst of 3 reads)",
                lambda r, c=clock: _iter_longest(r, c, "get"),
                " ms",
                0,
            )
        )
        add(
            Figure(
                f"iter_values.get_{clock}_clock_wall_ms",
                f"get() of the whole name on the {clock} clock: wall time, median of the reads",
                lambda r, c=clock: r["clocks"][c]["get"]["median_s"] * 1000,
                " ms",
                0,
            )
        )
        add(
            Figure(
                f"iter_values.count_1000_{clock}_clock_wall_s",
                f"iter_values(count=1000), whole name, {clock} clock: wall time, median",
                lambda r, c=clock: r["clocks"][c]["iter_values count=1000"]["median_s"],
                " s",
                2,
            )
        )
        for count in (100, 1000, 10_000):
            add(
                Figure(
                    f"iter_values.count_{count}_{clock}_clock_longest_ms",
                    f"iter_values(count={count}), {clock} clock: longest command (worst of 3)",
                    lambda r, c=clock, n=count: _iter_longest(r, c, f"iter_values count={n}"),
                    " ms",
                    1,
                )
            )
    add(
        Figure(
            "iter_values.longest_ms_1000",
            "iter_values(count=1000), either clock: longest command (worst of 3 reads)",
            lambda r: max(_iter_longest(r, c, "iter_values count=1000") for c in r["clocks"]),
            " ms",
            0,
        )
    )
    add(Figure("iter_values.values", "values in the name read", lambda r: r["values"], "", 0))

    # big_name.json: one call on a name of 2,000,000 expired members
    for op in ("add", "add nx", "remove", "delete"):
        add(
            Figure(
                f"big_name.{op.replace(' ', '_')}_longest_ms",
                f"{op} on a name of 2,000,000 expired members: longest command",
                lambda r, op=op: next(x["longest_ms"] for x in r["rows"] if x["operation"] == op),
                " ms",
                2,
            )
        )
    add(
        Figure(
            "big_name.add_max_values_longest_ms",
            "add with max_values=10 on a name of 300,000 live members: longest command",
            lambda r: _surplus(r)["longest_ms"],
            " ms",
            2,
        )
    )
    add(
        Figure(
            "big_name.add_max_values_evicted",
            "add with max_values=10 on a name of 300,000 live members: values it evicted",
            lambda r: _surplus(r)["members"] + 1 - _surplus(r)["left"],  # it added one
            "",
            0,
        )
    )

    # calls.json: wait_replicas=1 and add_new, per call
    for label, key in (
        ("add", "add"),
        ("add wait_replicas=1", "add_wait"),
        ("add nx 10 values", "add_nx_10"),
        ("add_new 10 values", "add_new_10"),
    ):
        add(
            Figure(
                f"calls.{key}.wall_us",
                f"{label}: wall time per call, median",
                lambda r, label=label: r["rows"][label]["wall_us"],
                " µs",
                0,
            )
        )
        add(
            Figure(
                f"calls.{key}.instructions_k",
                f"{label}: the primary's instructions per call",
                lambda r, label=label: r["rows"][label]["server_instructions"] / 1000,
                " k",
                1,
            )
        )
    for key, over, under in (
        ("wait", "add wait_replicas=1", "add"),
        ("add_new", "add_new 10 values", "add nx 10 values"),
    ):
        add(
            Figure(
                f"calls.{key}_wall_x",
                f"{over} over {under}: wall time",
                lambda r, o=over, u=under: r["rows"][o]["wall_us"] / r["rows"][u]["wall_us"],
                TIMES,
                2,
            )
        )
        add(
            Figure(
                f"calls.{key}_instructions_x",
                f"{over} over {under}: the primary's instructions",
                lambda r, o=over, u=under: (
                    r["rows"][o]["server_instructions"] / r["rows"][u]["server_instructions"]
                ),
                TIMES,
                2,
            )
        )
    return {fig.name: fig for fig in figs}


FIGURES: dict[str, Figure] = _build()


# -- the targets: the one list both docs/performance.md's table and summary.md judge by -------


@dataclass(frozen=True)
class Target:
    """A performance target: the figures it judges, and the bound each must keep.

    ``text`` is the target as docs/performance.md's table states it (its first
    cell, word for word: a test holds the page to this list).
    """

    text: str
    figures: tuple[str, ...]
    limit: float
    at_least: bool  # True: every figure >= limit; False: every figure <= limit

    def measured(self, reports: dict[str, Report]) -> list[tuple[str, float]]:
        """(figure, value) for each of the target's figures the reports at hand hold."""
        return [(n, FIGURES[n].value(reports)) for n in self.figures if FIGURES[n].part in reports]

    def met(self, reports: dict[str, Report]) -> bool | None:
        """Whether every measured figure keeps the bound; None when none was measured."""
        found = self.measured(reports)
        if not found:
            return None
        # Compare as the docs show the figure (to its default digits): 1.10x meets <= 1.10x.
        shown = [round(v, FIGURES[n].digits) for n, v in found]
        return all(v >= self.limit if self.at_least else v <= self.limit for v in shown)


def judged(reports: dict[str, Report]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target of ``TARGETS``, as summary.md lists them."""
    out: list[tuple[str, str, bool | None]] = []
    for target in TARGETS:
        found = target.measured(reports)
        shown = ", ".join(FIGURES[n].format(v) for n, v in found) if found else "n/a"
        out.append((target.text, shown, target.met(reports)))
    return out


_MODES = ("nx", "xx", "gt", "lt", "ch", "capped", "server_clock")
TARGETS: tuple[Target, ...] = (
    Target(
        "`add_many`, 1000 names × 10 values: ≥ 2.0× 0.1.0's throughput",
        ("wall.add_many_1000_x",), 2.0, True,
    ),
    Target(
        "`get_many`, 1000 names: ≥ 1.3× 0.1.0's throughput", ("wall.get_many_1000_x",), 1.3, True
    ),
    Target("single `add`: latency ≤ 1.1× 0.1.0's", ("wall.add_1_latency_x",), 1.1, False),
    Target("single `get`: latency ≤ 1.1× 0.1.0's", ("wall.get_1_latency_x",), 1.1, False),
    Target("Redis memory per value ≤ 1.1× 0.1.0's", ("wall.memory_ratio",), 1.1, False),
    Target(
        "no server command over 10 ms, any batch (SLOWLOG, small values)",
        ("wall.longest_ms_1000", "wall.longest_ms_100000"), 10.0, False,
    ),
    Target(
        "server work, `add_many` 1000 × 10, a refresh (every value to a later expiry): ≤ 1.10× "
        "0.1.0's (stretch ≤ 1.05×; the earlier ≤ 0.8× was withdrawn: 0.1.0's own `ZADD` is most "
        "of its work)",
        ("server.add_many_1000_x",), 1.10, False,
    ),
    Target(
        "server work, `add_many` of 1000 new names: ≤ 1.10×",
        ("server.add_many_new_1000_x",), 1.10, False,
    ),
    Target(
        "server work, `add_many` with half of each name's values expired: ≤ 0.85×",
        ("server.add_many_half_1000_x",), 0.85, False,
    ),
    Target(
        "server work, `get_many` and single `get`: ≤ 1.08× 0.1.0's",
        ("server.get_many_1000_x", "server.get_1_x"), 1.08, False,
    ),
    Target("server work, single `add`: ≤ 3.0× 0.1.0's", ("server.add_1_x",), 3.0, False),
    Target(
        "every mode within 15 % of the default path's server work",
        (
            *(f"server.add_many_1000_{m}_vs_default" for m in _MODES),
            "server.add_1_capped_vs_default",
            "server.get_many_1000_server_clock_vs_default",
        ),
        1.15, False,
    ),
    Target(
        "big values: `add_many` of 100 KB values ≥ 1.5× 0.1.0's speed (stretch ≥ 2.0×)",
        ("big.add_many_100kb_x",), 1.5, True,
    ),
    Target(
        "big values: `add_many` of 10 KB values ≥ 1.3× 0.1.0's speed",
        ("big.add_many_10kb_x",), 1.3, True,
    ),
    Target(
        "big values: `get_many` of 10 KB and 100 KB values, and both of 1 KB values, ≥ 1.0× "
        "0.1.0's speed",
        ("big.get_many_10kb_x", "big.get_many_100kb_x", "big.add_many_1kb_x",
         "big.get_many_1kb_x"),
        1.0, True,
    ),
    Target(
        "server work, `add_many` of 200 names × one 100 KB value: ≤ 1.15× 0.1.0's",
        ("server.add_many_big_200_x",), 1.15, False,
    ),
    Target(
        "big values: no server command over 10 ms",
        ("big.longest_ms_1kb", "big.longest_ms_10kb", "big.longest_ms_100kb"), 10.0, False,
    ),
    Target(
        "`iter_values(count=1000)` of 200,000 values: no server command over 10 ms",
        ("iter_values.count_1000_client_clock_longest_ms",
         "iter_values.count_1000_server_clock_longest_ms"),
        10.0, False,
    ),
    Target(
        "one call on a name of 2,000,000 expired members: no server command over 10 ms",
        tuple(f"big_name.{op}_longest_ms" for op in ("add", "add_nx", "remove", "delete")),
        10.0, False,
    ),
    Target(
        "one `add` with `max_values=10` to a name of 300,000 live values: no server command "
        "over 10 ms",
        ("big_name.add_max_values_longest_ms",), 10.0, False,
    ),
    Target(
        "sweeping a cluster: ≥ 0.5× one server's rate on the same keys",
        ("sweep.cluster.stats_x", "sweep.cluster.dry_run_x", "sweep.cluster.sweep_x"), 0.5, True,
    ),
)  # fmt: skip


def values(reports: dict[str, Report] | None = None) -> dict[str, float]:
    """Every figure whose part has results, by name."""
    reports = load_reports() if reports is None else reports
    return {name: fig.value(reports) for name, fig in FIGURES.items() if fig.part in reports}


# -- the figures in the docs -------------------------------------------------------------

ROOT = RESULTS.parent.parent
# Every page's speed-ups, times, shares, instruction counts and sweep rates must carry a marker
# (the lint); the package's docstrings (what help() and the API page show) may state none at all.
LINTED = ("README.md", "docs/*.md")
DOCSTRINGS = "multimapwithttl/*.py"
_NUMBER = r"\d(?:[\d,]*\d)?(?:\.\d+)?"
_UNIT = rf"(?:\s?(?:{TIMES}|ms|µs|s|B|keys/s|%|M|k)|x)"
MARKER = re.compile(rf"(?P<num>{_NUMBER})(?P<unit>{_UNIT})?(?:\*\*)?<!-- fig: (?P<name>\S+) -->")
ANY_MARKER = re.compile(r"<!-- fig:.*?-->")
# A quoted figure: a number followed by a speed-up sign, a time (ms, µs, s), a share (%), an
# instruction count (M, k), or a sweep rate. Sizes and counts are not figures: "100 KB" and
# "1 MB" (the unit is case-sensitive and must end the word), "1000 names", "2,000,000 members".
# A times sign followed by a number is a product (2 x 30 sequences, 1.7 x 10^12), not a speed-up.
FIGURE = re.compile(
    rf"(?<![\w.,/-])(?P<num>{_NUMBER})(?:\*\*)?"
    rf"(?P<unit>\s?{TIMES}(?!\s?\d)|x\b|\s?(?:ms|µs|s|M|k)\b|\s?%"
    rf"|\s?keys/s|\s?keys a second)"
)
# Numbers that bound rather than report (targets, thresholds, settings): what precedes them.
BOUND = re.compile(r"(?:[≥≤<>]|\bnear|\bover|\bunder|\bthan|\bwithin|\bat most|\bup to)\s*$")
# Statements with a figure-like number that is not a benchmark result: (page, words), the
# words as the page writes them outside inline code. Settings of a benchmark or a test, clock
# skews and timeouts a test sets up, example output: never a measurement.
NOT_RESULTS = (
    ("docs/operations.md", "(10 ms threshold)"),
    ("docs/operations.md", "in 0.4s"),  # `multimapwithttl stats` example output
    # Test settings described in the guarantees, not measurements.
    ("docs/guarantees.md", "50 ms…600 s ttls"),
    ("docs/guarantees.md", "ttls of 30 ms to 30 s"),
    ("docs/guarantees.md", "resolution of 10 ms"),
    ("docs/guarantees.md", "a writer 100 s ahead writing ttl 2 leaves another writer's 60 s value"),
    ("docs/guarantees.md", "a writer 100 s behind"),
    ("docs/guarantees.md", "two clients ±500 s off"),
    ("docs/guarantees.md", "and 2 s idle"),
    ("docs/guarantees.md", "skewed by −1.5 s to +1.5 s"),
    ("docs/guarantees.md", "ttls of 0.2–3 s"),
    ("docs/guarantees.md", "every 2–6 s"),
    ("docs/guarantees.md", "for 2.5 s (longer than the clients' 2 s"),
    ("docs/guarantees.md", "(2.5 s, below the node timeout)"),
    ("docs/guarantees.md", "promotes 4–5 s later"),
    ("docs/guarantees.md", "takes over, 4–5 s"),
    ("docs/guarantees.md", "TTL 60 s too long"),
    ("docs/guarantees.md", "3% of calls raising"),
    ("docs/guarantees.md", "by a clock 1 s ahead"),
    ("docs/guarantees.md", "per 10 s run"),
    ("docs/guarantees.md", "a key ending 1 s after"),
    ("docs/guarantees.md", "2.5 s (> the 2 s socket timeout)"),
    ("docs/semantics.md", "running 100 s ahead"),
    ("docs/semantics.md", "has 60 s left"),
    # How long the saturation benchmark runs each figure (saturation.json's seconds_per_figure).
    ("docs/performance.md", "against one server for 10 s"),
    ("docs/performance.md", "2 rounds × 5 s per figure"),
)


@dataclass(frozen=True)
class Quote:
    """A marked figure in a page: where, which, and the number and unit as written."""

    path: str
    line: int
    name: str
    number: str
    unit: str

    @property
    def digits(self) -> int:
        return len(self.number.partition(".")[2])

    @property
    def written(self) -> str:
        return self.number + self.unit


def doc_pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _blank_code(text: str) -> str:
    """``text`` with code blocks and inline code blanked out, lines kept where they were."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = re.sub(r"^(```|~~~).*?^\1", blank, text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]+`", blank, text)


def quotes(root: Path = ROOT) -> tuple[list[Quote], list[str]]:
    """Every marker in README.md and docs/*.md (not in code), and those not right after a number."""
    found, bad = [], []
    for page in doc_pages(root):
        text = _blank_code(page.read_text())
        rel = page.relative_to(root).as_posix()
        good = {m.end() for m in MARKER.finditer(text)}
        for m in MARKER.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            unit = (m["unit"] or "").replace("x", TIMES)
            found.append(Quote(rel, line, m["name"], m["num"].replace(",", ""), unit))
        for m in ANY_MARKER.finditer(text):
            if m.end() not in good:
                line = text.count("\n", 0, m.start()) + 1
                bad.append(f"{rel}:{line}: {m[0]} is not right after a number")
    return found, bad


def mismatches(reports: dict[str, Report], root: Path = ROOT) -> list[str]:
    """Each marked figure that differs from the results, to the digits the page states."""
    found, out = quotes(root)
    for q in found:
        fig = FIGURES.get(q.name)
        where = f"{q.path}:{q.line}: {q.name}"
        if fig is None:
            out.append(f"{where}: no such figure in benchmarks/figures.py")
            continue
        if fig.part not in reports:
            out.append(f"{where}: no results for {fig.part} ({FILES[fig.part]}.json)")
            continue
        expected = f"{fig.value(reports):.{q.digits}f}"
        if q.unit and q.unit.strip() != fig.unit.strip():
            out.append(f"{where}: written in {q.unit.strip()!r}, the figure is in {fig.unit!r}")
        if expected != q.number:
            shown = fig.format(float(expected), q.digits)
            out.append(f"{where}: the page says {q.written}, the results say {shown}")
    return out


def linted_pages(root: Path = ROOT) -> list[str]:
    """The pages the lint reads, relative to ``root``."""
    found: list[str] = []
    for pattern in LINTED:
        found += sorted(p.relative_to(root).as_posix() for p in root.glob(pattern))
    return found


def _docstrings(path: Path) -> str:
    """The docstrings of a module, each on the line it starts at, the rest blank."""
    source = path.read_text()
    lines = [""] * (source.count("\n") + 1)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                text = body[0].value.value
                if isinstance(text, str):
                    for i, line in enumerate(text.split("\n")):
                        lines[body[0].lineno - 1 + i] = line
    return "\n".join(lines)


def unmarked_in_docstrings(root: Path = ROOT) -> list[str]:
    """Figures stated in the package's docstrings, which can carry no marker: none belong there."""
    out = []
    for path in sorted(root.glob(DOCSTRINGS)):
        rel = path.relative_to(root).as_posix()
        text = _blank_code(_docstrings(path))
        for m in FIGURE.finditer(text):
            if BOUND.search(text[max(0, m.start() - 12) : m.start()]):
                continue
            line = text.count("\n", 0, m.start()) + 1
            out.append(f"{rel}:{line}: {m[0].strip()!r} in a docstring (link to the docs instead)")
    return out


def unmarked(root: Path = ROOT) -> list[str]:
    """Figures in the linted pages that carry no marker (outside code; bounds excepted)."""
    out = []
    for rel in linted_pages(root):
        raw = (root / rel).read_text()
        text = _blank_code(raw)
        for start, words in NOT_RESULTS:
            if start == rel:
                text = text.replace(words, " " * len(words))
        for m in FIGURE.finditer(text):
            if BOUND.search(text[max(0, m.start() - 12) : m.start()]):
                continue
            rest = text[m.end() :]
            if rest.startswith("**"):
                rest = rest[2:]
            if not rest.startswith("<!-- fig:"):
                line = text.count("\n", 0, m.start()) + 1
                out.append(f"{rel}:{line}: {m[0].strip()!r} has no <!-- fig: NAME --> marker")
    return out


def quoted_table(reports: dict[str, Report], root: Path = ROOT) -> list[str]:
    """The section of summary.md listing every figure the docs quote, as the docs write it."""
    found, _ = quotes(root)
    written: dict[str, dict[str, list[str]]] = {}
    for q in found:
        fig = FIGURES.get(q.name)
        if fig is None or fig.part not in reports:
            continue
        shown = fig.format(fig.value(reports), q.digits)
        pages = written.setdefault(q.name, {}).setdefault(shown, [])
        if q.path not in pages:
            pages.append(q.path)
    lines = [
        "| figure | as the docs write it | where | what it is |",
        "|---|---:|---|---|",
    ]
    for name in sorted(written, key=list(FIGURES).index):
        for shown, pages in written[name].items():
            about = FIGURES[name].about.replace("|", "\\|")
            lines.append(f"| `{name}` | {shown} | {', '.join(pages)} | {about} |")
    return lines


def rewrite(reports: dict[str, Report], root: Path = ROOT) -> list[str]:
    """Set every marked number in the pages to its figure, to the digits each page shows.

    For a new results run: the prose around a figure is the writer's to check,
    the numbers are not. Returns ``path: old -> new`` for each number changed.
    """
    changed = []
    for page in doc_pages(root):
        raw = page.read_text()
        blank = _blank_code(raw)
        pieces, last = [], 0
        for m in MARKER.finditer(blank):
            fig = FIGURES.get(m["name"])
            if fig is None or fig.part not in reports:
                continue
            number = m["num"]
            digits = len(number.replace(",", "").partition(".")[2])
            value = fig.value(reports)
            # Thousands separated where the page separates them.
            new = f"{value:,.{digits}f}" if "," in number else f"{value:.{digits}f}"
            if new != number:
                changed.append(f"{page.relative_to(root).as_posix()}: {number} -> {new}")
            pieces += [raw[last : m.start("num")], new]
            last = m.end("num")
        page.write_text("".join(pieces) + raw[last:])
    return changed


if __name__ == "__main__":
    if sys.argv[1:] == ["--rewrite-docs"]:
        print("\n".join(rewrite(load_reports())) or "every figure already matches")
    else:
        for name, value in values().items():
            print(f"{name:50} {FIGURES[name].format(value)}")
