"""``python -m tests.history --minutes M --seed S``: a longer history, checked, reported."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from .report import counts
from .runner import CLUSTER_FAULTS, FAULTS, Config, recheck, run


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")  # runs the runner's clean-up


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="python -m tests.history", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--faults",
        default=None,
        help=f"comma-separated fault kinds, or 'none' (default: {','.join(FAULTS)})",
    )
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between faults")
    parser.add_argument("--keep", type=Path, help="keep the recorded history in this directory")
    parser.add_argument(
        "--recheck", type=Path, help="run nothing: check again a history kept with --keep"
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=(
            f"a local 3-master cluster (default faults there: {','.join(CLUSTER_FAULTS)}; "
            "'failover' and 'kill' give each master a replica)"
        ),
    )
    parser.add_argument(
        "--wait-replicas",
        type=int,
        default=0,
        metavar="N",
        help=(
            "the library's clients WAIT for N replicas after each write (wait_replicas=N): "
            "a write counts as acknowledged only when WAIT confirmed it"
        ),
    )
    parser.add_argument(
        "--json", type=Path, help="also write the verdict's counts (anomalies by kind) here"
    )
    args = parser.parse_args(argv)
    if args.recheck:
        result = recheck(args.recheck)
        print(result.summary)
        print(result.details)
        return 1 if result.verdict.anomalies else 0
    chosen = args.faults or ",".join(CLUSTER_FAULTS if args.cluster else FAULTS)
    faults = [] if chosen == "none" else chosen.split(",")
    config = Config(
        seconds=args.minutes * 60,
        seed=args.seed,
        faults=faults,
        interval=args.interval,
        cluster=args.cluster,
        directory=args.keep,
        wait_replicas=args.wait_replicas,
    )
    result = run(config)
    print(result.summary)
    print(result.details)
    if args.json:
        args.json.write_text(json.dumps(counts(result.verdict, result.errors)))
    return 1 if result.verdict.anomalies or result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
