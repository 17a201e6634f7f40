"""Faults: a nemesis thread that kills, restarts, pauses and stops the server, and a proxy
that cuts connections and drops replies.

Each fault is recorded with its real start and end time. A fault that loses data
by the server's own design (a restart without persistence) is *lossy*: values it
wipes are counted as "acknowledged writes lost to <fault>", not as anomalies.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import threading
import time
from typing import Any

import redis

from ..servers import RedisServer

#: Every fault kind the nemesis knows, and whether it loses acknowledged writes by design.
LOSSY = {
    "kill-aof": False,  # kill -9, restart from the AOF written with appendfsync always
    "kill-noaof": True,  # kill -9, restart without the AOF: a server without persistence
    "proxy-cut": False,  # every client connection cut at once
    "proxy-drop": False,  # requests delivered, replies dropped, then the connections cut
    "client-pause": False,  # CLIENT PAUSE for 1.5 s
    "sigstop": False,  # SIGSTOP for 2.5 s (longer than the clients' socket timeout), SIGCONT
    # kill -9 of the primary, its replica promoted (REPLICAOF NO ONE), clients sent there;
    # what the replica had not received yet is lost: asynchronous replication.
    "failover": True,
    # Cluster only: a name's slot moved to another master while clients write (MIGRATE,
    # ASK/MOVED redirections, TRYAGAIN on multi-key commands mid-move).
    "migrate": False,
}


class Proxy:
    """Forwards a loopback port to the server; can cut every connection or drop replies."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.dropping = False
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=2)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the server is down: the client sees the connection end
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if replies and self.dropping:
                    continue  # the request ran; its reply never arrives
                dst.sendall(data)
        except OSError:
            pass
        self._close(src, dst)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def cut_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets)
        self._close(*sockets)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut_all()


class Nemesis(threading.Thread):
    """Injects one fault every ``interval`` seconds (after a quiet start), chosen at random."""

    def __init__(
        self,
        server: RedisServer,
        proxy: Proxy,
        kinds: list[str],
        seed: int,
        interval: float = 4.0,
        quiet: float = 2.0,
        replica: RedisServer | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.server, self.proxy, self.kinds = server, proxy, kinds
        self.replica = replica
        self.base = server.extra  # the primary's options, without --replicaof
        self.rng = random.Random(f"nemesis-{seed}")
        self.interval, self.quiet = interval, quiet
        self.faults: list[dict[str, Any]] = []
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        if not self.kinds or self.stopped.wait(self.quiet):
            return
        try:
            while True:
                kind = self.rng.choice(self.kinds)
                start = time.time()
                getattr(self, "_" + kind.replace("-", "_"))()
                self.faults.append(
                    {"kind": kind, "start": start, "end": time.time(), "lossy": LOSSY[kind]}
                )
                if self.stopped.wait(self.interval * self.rng.uniform(0.5, 1.5)):
                    return
        except BaseException as error:  # reported by the runner, never silent
            self.error = error

    def _restart(self, wipe: bool) -> None:
        self.server.kill()
        if wipe:
            for path in self.server.directory.glob("appendonly*"):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
        self.server.start()
        _wait_loaded(self.server.port)

    def _failover(self) -> None:
        old, new = self.server, self.replica
        if new is None:
            return
        old.kill()
        with redis.Redis(port=new.port, socket_timeout=2) as client:
            client.execute_command("REPLICAOF", "NO", "ONE")
        new.extra = self.base  # a later restart keeps it a primary
        self.server, self.replica = new, old
        self.proxy.upstream_port = new.port
        self.proxy.cut_all()  # clients reconnect, now to the new primary
        old.extra = (*self.base, "--replicaof", "127.0.0.1", str(new.port))
        self.server_restarted_as_replica(old)

    @staticmethod
    def server_restarted_as_replica(server: RedisServer) -> None:
        """The old primary comes back as a replica; it drops its data for the new primary's."""
        for path in server.directory.glob("appendonly*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        server.start()

    def _kill_aof(self) -> None:
        self._restart(wipe=False)

    def _kill_noaof(self) -> None:
        self._restart(wipe=True)

    def _proxy_cut(self) -> None:
        self.proxy.cut_all()

    def _proxy_drop(self) -> None:
        self.proxy.dropping = True
        time.sleep(0.3)
        self.proxy.cut_all()
        self.proxy.dropping = False

    def _client_pause(self) -> None:
        with redis.Redis(port=self.server.port, socket_timeout=2) as admin:
            admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")
        time.sleep(1.5)

    def _sigstop(self) -> None:
        assert self.server.process is not None
        os.kill(self.server.process.pid, signal.SIGSTOP)
        try:
            time.sleep(2.5)
        finally:
            os.kill(self.server.process.pid, signal.SIGCONT)


def _wait_loaded(port: int) -> None:
    deadline = time.monotonic() + 30
    with redis.Redis(port=port, socket_timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if client.info("persistence").get("loading", 0) == 0:
                    return
            except redis.BusyLoadingError:
                pass
            time.sleep(0.05)


class ClusterNemesis(Nemesis):
    """The nemesis of a LocalCluster: slot migration, and pauses or stops of one node."""

    def __init__(self, cluster: Any, kinds: list[str], seed: int, interval: float = 4.0) -> None:
        self.cluster = cluster
        node = cluster.nodes[0]
        super().__init__(node, None, kinds, seed, interval)  # type: ignore[arg-type]

    def _pick_node(self) -> RedisServer:
        node: RedisServer = self.rng.choice(self.cluster.nodes)
        self.server = node
        return node

    def _client_pause(self) -> None:
        self._pick_node()
        super()._client_pause()

    def _sigstop(self) -> None:
        self._pick_node()
        # Shorter than the cluster's node timeout (5 s): no node is marked failed.
        super()._sigstop()

    def _migrate(self) -> None:
        from redis.crc import key_slot

        from .workload import NAMES, PREFIX

        slot = key_slot(f"{PREFIX}:{self.rng.choice(NAMES)}".encode())
        clients: dict[int, Any] = {
            n.port: redis.Redis(port=n.port, socket_timeout=5) for n in self.cluster.nodes
        }
        try:
            ids = {port: c.execute_command("CLUSTER", "MYID") for port, c in clients.items()}
            ids = {p: (i.decode() if isinstance(i, bytes) else i) for p, i in ids.items()}
            source = _owner(clients[self.cluster.ports[0]], slot)
            target = self.rng.choice([p for p in clients if p != source])
            clients[target].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
            clients[source].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
            while True:
                keys = clients[source].execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
                if not keys:
                    break
                clients[source].execute_command(
                    "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys
                )
                time.sleep(0.05)  # clients meet the slot half-moved for a while
            for client in clients.values():
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
        finally:
            for client in clients.values():
                client.close()


def _owner(client: Any, slot: int) -> int:
    """The port of the master serving ``slot``."""
    for start, end, *nodes in client.execute_command("CLUSTER", "SLOTS"):
        if int(start) <= slot <= int(end):
            return int(nodes[0][1])
    raise RuntimeError(f"slot {slot} has no owner")
