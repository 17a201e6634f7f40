"""``python -m tests.history --minutes M --seed S``: a longer history, checked, reported."""

from __future__ import annotations

import argparse
import sys

from .runner import FAULTS, Config, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.history", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated fault kinds, or 'none' (default: {','.join(FAULTS)})",
    )
    parser.add_argument("--interval", type=float, default=4.0, help="seconds between faults")
    args = parser.parse_args(argv)
    faults = [] if args.faults == "none" else args.faults.split(",")
    result = run(
        Config(seconds=args.minutes * 60, seed=args.seed, faults=faults, interval=args.interval)
    )
    print(result.summary)
    print(result.details)
    return 1 if result.verdict.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
