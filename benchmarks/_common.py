"""What every benchmark part shares: servers it starts, 0.1.0 loaded by path, the data.

The benchmarks never touch a server they did not start: each part launches its
own ``redis-server`` on 127.0.0.1 (a free port, a temporary directory, no
persistence) and stops it by pid.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# The project measured: this checkout's, whatever is installed; or the package in the
# directory $MULTIMAPWITHTTL_SRC (e.g. a `git archive` of another commit, to compare).
SOURCE = Path(os.environ.get("MULTIMAPWITHTTL_SRC") or ROOT).resolve()
sys.path.insert(0, str(SOURCE))

OLD_DIR = HERE / ".old010"
RESULTS = HERE / "results"
REDIS_SERVER = shutil.which("redis-server")
VALGRIND = shutil.which("valgrind")
CALLGRIND_CONTROL = shutil.which("callgrind_control")
CALLGRIND_ANNOTATE = shutil.which("callgrind_annotate")
VALUES_PER_NAME = 10
TTL = 3600


def load_010() -> Any:
    """python-multimapwithttl 0.1.0 from PyPI, imported as ``multimapwithttl_010``.

    It has the project's package name, so it is installed into ``benchmarks/.old010``
    (``pip install --target``) and loaded by path under another module name.
    """
    if "multimapwithttl_010" in sys.modules:
        return sys.modules["multimapwithttl_010"].MultiMapWithTTL
    package = OLD_DIR / "multimapwithttl"
    if not package.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(OLD_DIR),
             "python-multimapwithttl==0.1.0"],
            check=True,
        )  # fmt: skip
    spec = importlib.util.spec_from_file_location(
        "multimapwithttl_010", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["multimapwithttl_010"] = module
    spec.loader.exec_module(module)
    assert module.__version__ == "0.1.0"
    return module.MultiMapWithTTL


def dataset(
    n: int, per_name: int = VALUES_PER_NAME, tag: str = "name"
) -> list[tuple[str, list[int]]]:
    """``n`` names, each with ``per_name`` int values."""
    return [(f"{tag}-{i}", list(range(i, i + per_name))) for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One redis-server child on 127.0.0.1, optionally under valgrind's callgrind.

    ``callgrind=True`` runs it as ``valgrind --tool=callgrind`` with ``--hz 1``:
    the server's timer (``serverCron``, ten times a second by default) spends
    nearly all of an idle server's instructions, mostly on jemalloc statistics.
    That work follows the clock, not the operations; ``dump`` reports it apart
    so that it can be left out, and one tick a second keeps it small anyway.
    """

    def __init__(self, *extra: str, callgrind: bool = False) -> None:
        if not REDIS_SERVER:
            raise RuntimeError("redis-server is not on PATH")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="mmttl-bench-"))
        self.callgrind = callgrind
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            *extra,
        ]  # fmt: skip
        if callgrind:
            if not (VALGRIND and CALLGRIND_CONTROL):
                raise RuntimeError("valgrind (with callgrind_control) is not on PATH")
            args = [
                VALGRIND, "--tool=callgrind",
                f"--callgrind-out-file={self.directory}/callgrind.out.%p",
                *args, "--hz", "1",
            ]  # fmt: skip
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + (60 if callgrind else 10)
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=5) as client:
                    client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis(port=self.port, **kwargs)

    # -- callgrind ------------------------------------------------------------------

    def _control(self, flag: str) -> None:
        assert self.callgrind
        assert CALLGRIND_CONTROL
        subprocess.run([CALLGRIND_CONTROL, flag, str(self.pid)], check=True, capture_output=True)

    def zero(self) -> None:
        """Zero the server's instruction counters (``callgrind_control --zero``)."""
        self._control("--zero")

    def dump(self, keep: Path | None = None) -> tuple[int, int]:
        """Instructions since the last zero: in all, and inside the server's timer.

        ``callgrind_control --dump`` writes the counts; ``callgrind_annotate
        --inclusive=yes`` reads the total and the inclusive cost of ``serverCron``.
        ``keep``: a path to keep the profile at (for ``callgrind_annotate``).
        """
        before = set(self.directory.glob("callgrind.out.*.*"))
        self._control("--dump")
        (new,) = set(self.directory.glob("callgrind.out.*.*")) - before
        annotated = subprocess.run(
            [CALLGRIND_ANNOTATE or "callgrind_annotate", "--inclusive=yes", "--threshold=100",
             str(new)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        if keep:
            shutil.move(new, keep)
        else:
            new.unlink()
        total = timer = None
        for line in annotated.splitlines():
            words = line.split()
            if "PROGRAM TOTALS" in line:
                total = int(words[0].replace(",", ""))
            elif len(words) >= 3 and words[-2].endswith(":serverCron"):
                timer = int(words[0].replace(",", ""))
        if total is None:
            raise RuntimeError(f"callgrind_annotate found no total in {new}")
        return total, timer or 0

    def stop(self) -> None:
        if self.process.poll() is None:
            # Under callgrind, SIGTERM would make valgrind write a final profile nobody reads.
            os.kill(self.process.pid, signal.SIGKILL if self.callgrind else signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def save(name: str, quick: bool, report: dict[str, Any]) -> Path:
    """Write ``results/<name>.json`` (``results/quick.<name>.json`` for a quick run)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{'quick.' if quick else ''}{name}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def environment() -> dict[str, Any]:
    import platform

    version = subprocess.run(
        [REDIS_SERVER or "redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    server = next((w[2:] for w in version if w.startswith("v=")), "?")
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "redis_py": redis.__version__,
        "hiredis": importlib.util.find_spec("hiredis") is not None,
        "redis_server": server,
        "cpus": os.cpu_count(),
        "project": project_version(),
    }


#: What a run writes into the tree: its own results do not make the measured code dirty.
OUTPUTS = ("benchmarks/results", "docs/img/throughput.png")


def project_version() -> str:
    """Which project code is measured: its directory and, in a git checkout, the commit.

    "-dirty" when anything but the benchmarks' own outputs differs from the commit
    (a full run rewrites results/ part by part, which must not mark later parts).
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(SOURCE), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit or SOURCE != ROOT:
        return str(SOURCE)
    changed = git("status", "--porcelain", "--", ".", *(f":(exclude){path}" for path in OUTPUTS))
    return f"{SOURCE} ({commit}{'-dirty' if changed else ''})"
