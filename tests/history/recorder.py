"""Recording: one JSON line per operation, plus a sampler of the keys' TTLs.

An operation record holds the client, the operation and its arguments, the
real (unskewed) wall-clock time and the monotonic time at invocation and at
completion, and the outcome: ``ok`` with the result, ``fail`` (the server
answered with an error: nothing was done) or ``unknown`` (the connection broke
or timed out: the operation may or may not have taken effect, even later, as a
command queued in a stopped server runs when it resumes). The server runs on
this machine, so its clock (``TIME``) is the real wall clock; the sampler
records ``TIME`` anyway, next to each key's ``PTTL`` and newest member.
"""

from __future__ import annotations

import contextlib
import glob
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
#: The sampler records the members of keys this small (not the big names').
MEMBERS = 64


def classify(error: BaseException) -> str:
    """``fail`` when the server answered with an error (nothing done), else ``unknown``."""
    import redis

    if isinstance(error, redis.ResponseError):
        return FAIL
    return UNKNOWN


@dataclass
class Recorder:
    """Every operation of one logical client, kept as JSON lines and saved at the end."""

    spec: Any  # a workload.ClientSpec; its label names the client
    path: str
    real_time: Callable[[], float]
    lines: list[str] = field(default_factory=list)
    count: int = 0

    def start(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        return {
            "id": f"{self.spec.label}-{self.count}",
            "proc": self.spec.label,
            "op": op,
            "args": args,
            "inv": self.real_time(),
            "inv_m": time.monotonic(),
        }

    def finish(
        self, record: dict[str, Any], outcome: str, result: Any = None, error: Any = None
    ) -> None:
        record["comp"] = self.real_time()
        record["comp_m"] = time.monotonic()
        record["outcome"] = outcome
        record["result"] = result
        if error is not None:
            # A batch refused part-way may say which names it wrote (and which it cannot
            # tell): builds without these attributes record nothing, the checker then
            # takes every name as possibly written.
            for attr, key in (("written", "written"), ("unknown", "unknown_names")):
                names = getattr(error, attr, None)
                if names is not None:
                    with contextlib.suppress(TypeError):
                        record[key] = sorted(_text(n) for n in names)
        self.lines.append(json.dumps(record))

    def save(self, header: dict[str, Any]) -> None:
        with open(self.path, "w") as out:
            out.write(json.dumps({"header": header}) + "\n")
            out.write("".join(line + "\n" for line in self.lines))


def _text(name: Any) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


@dataclass
class History:
    """A whole run: every client's header and operations, the samples and the faults."""

    clients: dict[str, dict[str, Any]]
    ops: list[dict[str, Any]]
    samples: list[dict[str, Any]]
    faults: list[dict[str, Any]]


def load(directory: str, samples: list[dict[str, Any]], faults: list[dict[str, Any]]) -> History:
    """Read every client's file under ``directory``."""
    clients: dict[str, dict[str, Any]] = {}
    ops: list[dict[str, Any]] = []
    for path in sorted(glob.glob(f"{directory}/client-*")):
        with open(path) as lines:
            header = json.loads(next(lines))["header"]
            clients[header["label"]] = header
            ops.extend(json.loads(line) for line in lines if line.strip())
    ops.sort(key=lambda op: op["inv"])
    return History(clients, ops, samples, faults)


class Sampler(threading.Thread):
    """Every ``period`` seconds, for each key under the prefix: TIME, PTTL, its members, TIME.

    The commands run in one MULTI, but that does not make them one instant: TIME and
    PTTL each read the server's clock when they run, and a server the OS deschedules
    between them (a busy machine) reads PTTL milliseconds later. The two TIME readings
    bound when PTTL ran. The members (of a key of at most :data:`MEMBERS` of them) let
    the checker read the server's own state: a value that must be stored and is not
    is caught there, and a value seen stored just before a fault is one the fault could
    lose. It talks to the server directly (never through the fault proxy) and skips a
    round when the server is down.
    """

    def __init__(
        self, port: Callable[[], int | list[int]], prefix: str, period: float = 0.25
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.prefix, self.period = port, prefix, period
        self.samples: list[dict[str, Any]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        import redis

        while not self.stopped.wait(self.period):
            ports = self.port()  # the primary, or every master of a cluster
            for port in ports if isinstance(ports, list) else [ports]:
                try:
                    with redis.Redis(port=port, socket_timeout=1) as client:
                        self._round(client)
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    continue

    def _round(self, client: Any) -> None:
        for key in client.scan_iter(match=f"{self.prefix}:*", count=100):
            inv = time.time()
            pipe = client.pipeline(transaction=True)
            pipe.time()
            pipe.pttl(key)
            pipe.zrange(key, -1, -1, withscores=True)
            pipe.zcard(key)
            pipe.zrange(key, 0, MEMBERS - 1)
            pipe.time()
            (seconds, micros), pttl, newest, size, members, (seconds_after, micros_after) = (
                pipe.execute()
            )
            self.samples.append(
                {
                    "key": key.decode(),
                    "inv": inv,
                    "comp": time.time(),
                    "server": seconds + micros / 1e6,
                    "server_after": seconds_after + micros_after / 1e6,
                    "pttl": pttl,
                    "newest": newest[0][1] if newest else None,
                    "members": [m.decode() for m in members] if size <= MEMBERS else None,
                }
            )
