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
import traceback
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
    # Cluster with replicas only. "failover" picks one of the three below.
    # CLUSTER FAILOVER on a master's replica: the master stops its clients, the replica
    # catches up with it, then takes over; nothing acknowledged is lost.
    "failover-graceful": False,
    # CLUSTER FAILOVER FORCE / TAKEOVER: the replica takes over without waiting for the
    # master; what it had not received yet, and what the old master acknowledged until it
    # learnt it was replaced, is lost: asynchronous replication.
    "failover-force": True,
    "failover-takeover": True,
    # kill -9 of a master; the cluster promotes its replica after the node timeout, the
    # killed node comes back as the new master's replica. Asynchronous replication again.
    "kill": True,
    # A stopped or paused master the cluster failed over meanwhile (not planned: the
    # pauses are shorter than the node timeout); counted apart if it ever happens.
    "sigstop-failover": True,
    "client-pause-failover": True,
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
        self.error: BaseException | None = None  # the nemesis could not go on
        self.errors: list[str] = []  # faults that failed, the nemesis went on

    def run(self) -> None:
        if not self.kinds or self.stopped.wait(self.quiet):
            return
        try:
            while True:
                kind = self.rng.choice(self.kinds)
                start = time.time()
                try:
                    # A fault may say what it turned out to be, and which slots it touched.
                    told: dict[str, Any] = getattr(self, "_" + kind.replace("-", "_"))() or {}
                except Exception:
                    # A fault that went wrong half-way may have done anything: it counts
                    # as lossy everywhere, is reported, and the run goes on once the
                    # servers are back.
                    self.errors.append(f"{kind} at {start:.3f}: {traceback.format_exc()}")
                    told = {"kind": f"{kind} (failed)"}
                    self.recover()
                kind = told.get("kind", kind)
                self.faults.append(
                    {
                        "kind": kind,
                        "start": start,
                        "end": time.time(),
                        "lossy": LOSSY.get(kind, True),
                        "slots": told.get("slots"),  # None: every slot (one server)
                    }
                )
                if self.stopped.wait(self.interval * self.rng.uniform(0.5, 1.5)):
                    return
        except BaseException as error:  # reported by the runner, never silent
            self.error = error

    def recover(self) -> None:
        """After a failed fault: every server running again (raises if that fails)."""
        for server in (self.server, self.replica):
            if server is not None:
                _revive(server)

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


def _revive(server: RedisServer) -> None:
    """A server a failed fault may have left down or stopped: running again."""
    if server.process is None:
        return
    if server.process.poll() is not None:
        server.start()
    else:
        os.kill(server.process.pid, signal.SIGCONT)


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
    """The nemesis of a LocalCluster: slot migration, pauses or stops of one master, and
    with replicas failovers (``CLUSTER FAILOVER``) and kills of a master."""

    def __init__(self, cluster: Any, kinds: list[str], seed: int, interval: float = 4.0) -> None:
        self.cluster = cluster
        node = cluster.nodes[0]
        super().__init__(node, None, kinds, seed, interval)  # type: ignore[arg-type]
        self._slots_before: list[list[int]] = []

    def recover(self) -> None:
        for node in self.cluster.nodes:
            _revive(node)
        self.cluster.wait_ok(120)

    def _by_port(self, port: int) -> RedisServer:
        node: RedisServer = next(n for n in self.cluster.nodes if n.port == port)
        return node

    def _pick_node(self) -> RedisServer:
        node = self._by_port(self.rng.choice(_topology(self.cluster).masters))
        self.server = node
        return node

    def _unplanned_failover(self, kind: str, node: RedisServer) -> dict[str, Any] | None:
        """Was ``node`` replaced meanwhile? Then the pause was a failover: say so."""
        if len(self.cluster.nodes) == self.cluster.masters:
            return None
        self.cluster.wait_ok(60)
        if node.port in _topology(self.cluster).masters:
            return None
        return {"kind": f"{kind}-failover", "slots": self._slots_before}

    def _client_pause(self) -> dict[str, Any] | None:
        node = self._pick_node()
        self._slots_before = _topology(self.cluster).slots.get(node.port, [])
        super()._client_pause()
        return self._unplanned_failover("client-pause", node)

    def _sigstop(self) -> dict[str, Any] | None:
        node = self._pick_node()
        self._slots_before = _topology(self.cluster).slots.get(node.port, [])
        # Shorter than the cluster's node timeout (3 s or more): no node is marked failed.
        super()._sigstop()
        return self._unplanned_failover("sigstop", node)

    def _failover(self) -> dict[str, Any]:
        """``CLUSTER FAILOVER`` on a master's replica: mostly graceful, sometimes forced."""
        topology = _topology(self.cluster)
        if not topology.replica_of:
            raise RuntimeError("no master has a replica in sync: a failover needs replicas")
        master = self.rng.choice(sorted(topology.replica_of))
        replica = self._by_port(topology.replica_of[master])
        how = self.rng.choice(["graceful", "graceful", "force", "takeover"])
        with redis.Redis(port=replica.port, socket_timeout=5) as client:
            if how == "graceful":
                client.execute_command("CLUSTER", "FAILOVER")
            else:
                client.execute_command("CLUSTER", "FAILOVER", how.upper())
        # A graceful failover the master cannot finish in time (5 s) is abandoned: the
        # roles stay. Either way the cluster settles before the next fault.
        _wait_master(replica.port, 15)
        self.cluster.wait_ok(60)
        return {"kind": f"failover-{how}", "slots": topology.slots[master]}

    def _kill(self) -> dict[str, Any]:
        """kill -9 of a master with a replica; it comes back as its replica's replica."""
        topology = _topology(self.cluster)
        if not topology.replica_of:
            raise RuntimeError("no master has a replica in sync: a kill needs replicas")
        port = self.rng.choice(sorted(topology.replica_of))
        master, replica = self._by_port(port), topology.replica_of[port]
        master.kill()
        # The others call it failed after the node timeout, then the replica is elected.
        if not _wait_master(replica, 60):
            raise RuntimeError(f"the replica {replica} of killed {port} was never promoted")
        master.start()  # no persistence: empty, it syncs from the new master
        self.cluster.wait_ok(60)
        return {"slots": topology.slots[port]}

    def _migrate(self) -> None:
        from redis.crc import key_slot

        from .workload import NAMES, PREFIX

        slot = key_slot(f"{PREFIX}:{self.rng.choice(NAMES)}".encode())
        # SETSLOT is for masters only; replicas learn the new owner from them.
        masters = _topology(self.cluster).masters
        clients: dict[int, Any] = {
            port: redis.Redis(port=port, socket_timeout=5) for port in masters
        }
        try:
            ids = {port: c.execute_command("CLUSTER", "MYID") for port, c in clients.items()}
            ids = {p: (i.decode() if isinstance(i, bytes) else i) for p, i in ids.items()}
            source = _owner(clients[masters[0]], slot)
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
        if len(self.cluster.nodes) > self.cluster.masters:
            self.cluster.wait_ok(60)  # the replicas know the new owner before a failover


class Topology:
    """Who is master now, its slots, and its replica (if one is up and in sync)."""

    def __init__(self) -> None:
        self.masters: list[int] = []
        self.slots: dict[int, list[list[int]]] = {}
        self.replica_of: dict[int, int] = {}  # master port -> replica port


def _topology(cluster: Any) -> Topology:
    """The cluster's roles and slots, as its masters tell them."""
    found = Topology()
    for node in cluster.primaries():
        found.masters.append(node.port)
        with redis.Redis(port=node.port, socket_timeout=2) as client:
            text = client.execute_command("CLUSTER", "NODES")
            replication = client.info("replication")
        text = text.decode() if isinstance(text, bytes) else text
        mine = next(line for line in text.splitlines() if "myself" in line.split()[2])
        found.slots[node.port] = [
            [int(part) for part in (r.split("-") * 2)[:2]] for r in mine.split()[8:] if "[" not in r
        ]
        for i in range(int(replication.get("connected_slaves", 0))):
            replica = replication.get(f"slave{i}", {})
            if isinstance(replica, dict) and replica.get("state") == "online":
                found.replica_of[node.port] = int(replica["port"])
    found.masters.sort()
    return found


def _wait_master(port: int, timeout: float) -> bool:
    """Until the node on ``port`` says it is a master; False if it never does in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port, socket_timeout=1) as client:
                role = client.execute_command("ROLE")
            if role[0] in (b"master", "master"):
                return True
        except (redis.ConnectionError, redis.TimeoutError):
            pass
        time.sleep(0.05)
    return False


def _owner(client: Any, slot: int) -> int:
    """The port of the master serving ``slot``."""
    for start, end, *nodes in client.execute_command("CLUSTER", "SLOTS"):
        if int(start) <= slot <= int(end):
            return int(nodes[0][1])
    raise RuntimeError(f"slot {slot} has no owner")
