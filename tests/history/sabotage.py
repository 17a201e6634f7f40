"""Broken builds the checker must catch: ``python -m tests.history.sabotage``.

The checker is only worth its silence if it speaks when the library is wrong.
Each sabotage is a small patch of the library's text (Python or Lua) applied to
a copy of the package in a scratch directory; a short history then runs with
that copy first on ``PYTHONPATH`` (a subprocess, whose client processes inherit
the path), and must end with at least one anomaly of the kinds the sabotage is
expected to show. A patch that no longer applies (the library's text moved on)
is reported as such, never as caught.

``python -m tests.history.sabotage`` runs them all (20 s each, no faults);
``--only a,b``, ``--seconds``, ``--faults`` (e.g. the standard ones) and
``--seed`` choose. ``test_history.py`` runs a fast subset under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "multimapwithttl"


@dataclass(frozen=True)
class Patch:
    """Replace ``old`` (a regular expression) by ``new`` in ``path``, at least once."""

    path: str  # relative to the package
    old: str
    new: str


@dataclass(frozen=True)
class Sabotage:
    name: str
    what: str
    patches: tuple[Patch, ...]
    caught_by: frozenset[str]  # anomaly kinds, any of which shows it
    notes: list[str] = field(default_factory=list, compare=False)


# The cap's eviction: the lowest `evict` of the `live` ranks (bounded per call).
_EVICT = r"string\.format\('%d', -live\),\s*string\.format\('%d', evict - live - 1\)\)"

SABOTAGES: list[Sabotage] = [
    Sabotage(
        "cap-evicts-newest",
        "max_values keeps the N earliest-expiring values, not the latest",
        (Patch("_scripts/write.lua", _EVICT, "string.format('%d', -evict), '-1')"),),
        frozenset({"missing", "cap-order", "new-count"}),
    ),
    Sabotage(
        "cap-evicts-all",
        "max_values evicts every live value once a name is over the cap",
        (Patch("_scripts/write.lua", _EVICT, "string.format('%d', -live), '-1')"),),
        frozenset({"missing", "new-count", "count"}),
    ),
    Sabotage(
        "cap-keeps-one-more",
        "max_values keeps N + 1 values",
        (
            Patch(
                "_scripts/write.lua",
                r"if live > cap then",
                "if live > cap + 1 then",
            ),
            Patch(
                "_scripts/write.lua",
                r"local surplus = live - cap\n",
                "local surplus = live - cap - 1\n",
            ),
            # Reads of a capped name show at most the cap: they must keep one more too.
            Patch("_commands.py", r'"LIMIT", 0, cap\b', '"LIMIT", 0, cap + 1'),
        ),
        frozenset({"cap"}),
    ),
    Sabotage(
        "xx-adds",
        "xx stores values that were not live (its counts kept honest)",
        (
            Patch("_scripts/write.lua", r"opts\[1\] = 'XX'", "opts[1] = 'CH'"),
            Patch(
                "_scripts/write.lua",
                r"elseif mode == 'XX' then\n(\s*)if was_live then\n\s*target = plain\n\s*end",
                r"elseif mode == 'XX' then\n\1target = plain",
            ),
        ),
        frozenset({"unexpected", "expiry"}),
    ),
    Sabotage(
        "lt-lengthens",
        "lt acts as a plain write: it lengthens live values",
        (
            Patch("_scripts/write.lua", r"opts\[#opts \+ 1\] = 'LT'", "opts[#opts + 1] = 'CH'"),
            Patch(
                "_scripts/write.lua",
                r"redis\.call\('ZADD', key, 'LT', unpack\(shrink\)\)",
                "redis.call('ZADD', key, unpack(shrink))",
            ),
        ),
        frozenset({"unexpected", "expiry"}),
    ),
    Sabotage(
        "gt-shortens",
        "gt acts as a plain write: it shortens live values",
        (
            Patch(
                "_scripts/write.lua",
                r"if mode == 'GT' or mode == 'XXGT' then\n(\s*)opts\[#opts \+ 1\] = 'GT'",
                r"if mode == 'GT' or mode == 'XXGT' then\n\1opts[#opts + 1] = 'CH'",
            ),
            Patch(
                "_scripts/write.lua",
                r"redis\.call\('ZADD', key, 'GT', unpack\(grow\)\)",
                "redis.call('ZADD', key, unpack(grow))",
            ),
            Patch(
                "_scripts/write.lua",
                r"added = redis\.pcall\('ZADD', key, mode, unpack",
                "added = redis.pcall('ZADD', key, mode == 'GT' and 'CH' or mode, unpack",
            ),
        ),
        frozenset({"missing", "new-count"}),
    ),
    Sabotage(
        "nx-overwrites",
        "nx overwrites a live value's expiry (its counts kept honest)",
        (
            Patch(
                "_scripts/write.lua",
                r"(\n(\s*)added = redis\.pcall\('ZADD', key, mode, "
                r"unpack\(zadd, 1, 2 \* count\)\))",
                r"\1\n\2if mode == 'NX' and type(added) == 'number' then"
                r"\n\2  redis.call('ZADD', key, unpack(zadd, 1, 2 * count))\n\2end",
            ),
            Patch(
                "_scripts/write.lua",
                r"elseif mode == 'NX' then\n(\s*)if not was_live then\n\s*target = plain\n\s*end",
                r"elseif mode == 'NX' then\n\1target = plain",
            ),
        ),
        frozenset({"expiry", "unexpected", "short-ttl"}),
    ),
    Sabotage(
        "key-ttl-60s-long",
        "every key's TTL ends 60 s after its newest value",
        (
            Patch(
                "_scripts/write.lua",
                r"ttl_ms or string\.format\('%\.0f', math\.ceil\(\(top - base\) \* 1000\)\)\)",
                "string.format('%.0f', 60000 + (ttl_ms or math.ceil((top - base) * 1000))))",
            ),
            Patch(
                "_scripts/write.lua",
                r"math\.ceil\(\(newest - base\) \* 1000\)\)\)",
                "60000 + math.ceil((newest - base) * 1000)))",
            ),
            Patch("_scripts/_lib.lua", r"local ms = math\.ceil", "local ms = 60000 + math.ceil"),
        ),
        frozenset({"long-ttl", "unexpected", "delete-count"}),
    ),
    Sabotage(
        "delete-claims-all",
        "delete() answers that every name existed",
        (Patch("_scripts/delete.lua", r"\nreturn deleted\s*$", "\nreturn #KEYS\n"),),
        frozenset({"delete-count"}),
    ),
    Sabotage(
        "iter-first-page",
        "iter_values stops after its first page",
        (
            Patch(
                "sync.py",
                r"while not pages\.done:\n(\s*)yield from",
                r"if not pages.done:\n\1yield from",
            ),
            Patch(
                "aio.py",
                r"while not pages\.done:\n(\s*)for value in await",
                r"if not pages.done:\n\1for value in await",
            ),
        ),
        frozenset({"missing"}),
    ),
    Sabotage(
        "sweep-deleted-plus-one",
        "sweep() reports one key more deleted than it did",
        (
            Patch("_maintenance.py", r"deleted=self\.deleted,", "deleted=self.deleted + 1,"),
            Patch("_maintenance.py", r"deleted=self\.dead,", "deleted=self.dead + 1,"),
        ),
        frozenset({"sweep"}),
    ),
    Sabotage(
        "sweep-collected-doubled",
        "sweep() reports twice the expired values it collected, plus one",
        (
            Patch(
                "_maintenance.py",
                r"collected=self\.collected,",
                "collected=2 * self.collected + 1,",
            ),
            Patch(
                "_maintenance.py", r"collected=self\.expired,", "collected=2 * self.expired + 1,"
            ),
        ),
        frozenset({"sweep"}),
    ),
    Sabotage(
        "stats-live-off-by-3",
        "stats() reports 3 live values more than there are",
        (Patch("_maintenance.py", r"live_values=self\.live,", "live_values=self.live + 3,"),),
        frozenset({"stats"}),
    ),
    Sabotage(
        "answers-become-errors",
        "3% of the sync client's calls raise instead of answering",
        (
            Patch(
                "sync.py",
                r"except StopIteration as done:\n(\s*)return done\.value",
                r"except StopIteration as done:\n\1if __import__('random').random() < 0.03:"
                r"\n\1    raise ConnectionError('sabotage: an answer turned into an error')"
                r"\n\1return done.value",
            ),
        ),
        frozenset({"error"}),
    ),
    Sabotage(
        "batch-drops-2nd-name",
        "add_many of three names writes only the first and the third",
        (
            Patch(
                "_core.py",
                r"(\n(\s*)writes = self\._writes_with_ttl\(data, names\)\n)",
                r"\1\2if len(writes) == 3:\n\2    del writes[1]\n",
            ),
        ),
        frozenset({"missing", "new-count"}),
    ),
]
BY_NAME = {s.name: s for s in SABOTAGES}
#: The subset CI runs (``pytest -m history``): one per family, the quickest to show.
FAST = ["cap-evicts-newest", "xx-adds", "key-ttl-60s-long", "iter-first-page"]


def patched_copy(sabotage: Sabotage, into: Path) -> Path:
    """A copy of the package with ``sabotage``'s patches applied; raises if one does not."""
    target = into / "multimapwithttl"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    for patch in sabotage.patches:
        path = target / patch.path
        text, found = re.subn(patch.old, patch.new, path.read_text())
        if not found:
            raise LookupError(f"{sabotage.name}: {patch.old!r} is not in {patch.path}")
        path.write_text(text)
    return into


def run(
    sabotage: Sabotage,
    seconds: float = 20.0,
    seed: int = 7,
    faults: str = "none",
    keep: Path | None = None,
) -> dict[str, Any]:
    """A short history against the sabotaged copy: the verdict's counts, and ``caught``."""
    with tempfile.TemporaryDirectory(prefix=f"sabotage-{sabotage.name}-") as scratch:
        where = patched_copy(sabotage, Path(scratch))
        out = Path(scratch) / "verdict.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(where), str(ROOT)])}
        command = [
            sys.executable,
            "-m",
            "tests.history",
            "--minutes",
            str(seconds / 60),
            "--seed",
            str(seed),
            "--faults",
            faults,
            "--json",
            str(out),
        ]
        if keep is not None:
            command += ["--keep", str(keep / sabotage.name)]
        process = subprocess.run(
            # From the copy's directory: "-m" puts the working directory first on the path.
            command,
            cwd=where,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 300,
        )
        if not out.exists():
            raise RuntimeError(f"{sabotage.name}: the history did not run:\n{process.stderr}")
        verdict: dict[str, Any] = json.loads(out.read_text())
        verdict["output"] = process.stdout
    kinds = set(verdict["anomalies"])
    verdict["caught"] = bool(kinds & sabotage.caught_by)
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.history.sabotage", description=__doc__)
    parser.add_argument("--only", help="comma-separated sabotage names (default: all)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--faults", default="none", help="as for python -m tests.history")
    parser.add_argument("--list", action="store_true", help="list the sabotages and stop")
    parser.add_argument("--keep", type=Path, help="keep each history in a directory under this")
    args = parser.parse_args(argv)
    if args.list:
        for s in SABOTAGES:
            print(f"{s.name:28} {s.what}")
        return 0
    chosen = [BY_NAME[n] for n in args.only.split(",")] if args.only else SABOTAGES
    missed = []
    for sabotage in chosen:
        verdict = run(sabotage, args.seconds, args.seed, args.faults, args.keep)
        shown = ", ".join(f"{k} {n}" for k, n in sorted(verdict["anomalies"].items())) or "none"
        state = "caught" if verdict["caught"] else "MISSED"
        print(f"{sabotage.name:28} {state:7} anomalies: {shown}", flush=True)
        if not verdict["caught"]:
            missed.append(sabotage.name)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
