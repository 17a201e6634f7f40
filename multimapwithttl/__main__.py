"""Command line: ``python -m multimapwithttl demo``.

The demo stores a few values with different lifetimes and shows them expire
one by one, on the server named by ``REDIS_URL`` if set, else on an embedded
fakeredis.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from . import MultiMapWithTTL, __version__


def _client() -> tuple[Any, str]:
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        shown = re.sub(r"//[^@/]*@", "//***@", url)  # never print a password
        return redis.Redis.from_url(url), f"the Redis server at REDIS_URL={shown}"
    import fakeredis

    return fakeredis.FakeRedis(), "an embedded fakeredis (set REDIS_URL to use a real server)"


def demo(
    client: Any,
    where: str,
    *,
    scale: float = 1.0,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Show values expiring individually; ``scale`` shrinks every duration."""
    prefix = f"multimapwithttl-demo-{os.getpid()}"
    sessions = MultiMapWithTTL(client, prefix, ttl=4 * scale, cast_fn=str, resolution=0.001)
    out(f"multimapwithttl {__version__} demo on {where}")
    out(f"keys live under {prefix!r}; each value has its own lifetime\n")
    start = time.monotonic()
    sessions.add("alice", "laptop", ttl=1 * scale)
    sessions.add("alice", "phone", ttl=2 * scale)
    sessions.add("alice", "tablet")  # the default ttl
    sessions.add_many([("bob", ["desktop"]), ("carol", ["phone", "watch"])], ttl=3 * scale)
    try:
        # Look at t = 0, then half-way between expiries: 1.5, 2.5, 3.5, 4.5 s.
        for pause in (0.0, 1.5, 1.0, 1.0, 1.0):
            sleep(pause * scale)
            rows = {name: sorted(sessions.get(name)) for name in ("alice", "bob", "carol")}
            shown = "  ".join(f"{name}={values}" for name, values in rows.items())
            out(f"t={time.monotonic() - start:4.1f}s  {shown}")
        out(f"\nnames left under the prefix: {sorted(sessions.names())}")
        out("every value expired on its own; the keys went away with their last value.")
    finally:
        sessions.delete("alice", "bob", "carol")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m multimapwithttl``."""
    parser = argparse.ArgumentParser(prog="python -m multimapwithttl", description=__doc__)
    parser.add_argument("command", choices=["demo"], help="what to run")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every duration (default 1.0)"
    )
    args = parser.parse_args(argv)
    client, where = _client()
    demo(client, where, scale=args.scale)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
