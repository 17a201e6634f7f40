"""Runs one history: a server, the fault proxy, the client processes, the nemesis, the sampler."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..servers import LocalCluster, RedisServer
from .checker import Verdict, check
from .faults import ClusterNemesis, Nemesis, Proxy
from .recorder import History, Sampler, load
from .report import details, summary
from .workload import PREFIX, ClientSpec, run_client

#: The standard mix: sync and asyncio clients on both clocks, skews of up to 1.5 s
#: either way, clients with and without redis-py's retries, and 0.1.0's writer.
STANDARD = [
    ClientSpec("s1", "sync", "client", skew=1.0),
    ClientSpec("s2", "sync", "client", skew=-1.0, retries=False),
    ClientSpec("s3", "sync", "server", skew=1.5),
    ClientSpec("a1", "async", "client", skew=0.5, tasks=2),
    ClientSpec("a2", "async", "server", skew=-1.5, tasks=2, retries=False),
    ClientSpec("old", "old010", "client", skew=0.0),
    # Switches on when the library has max_values; until then it sits the run out.
    ClientSpec("cap", "sync", "client", skew=0.3, max_values=3, names=["cap0", "cap1"]),
]
FAULTS = ["kill-aof", "kill-noaof", "proxy-cut", "proxy-drop", "client-pause", "sigstop"]
#: With a replica: the primary killed and the replica promoted.
FAILOVER = ["failover", "kill-aof", "proxy-cut"]
#: On the 3-master cluster.
CLUSTER_FAULTS = ["migrate", "client-pause", "sigstop"]
#: Cluster faults that need a replica per master (the cluster gets one each).
REPLICA_FAULTS = {"failover", "kill"}
#: The replica cluster's --cluster-node-timeout (ms): a killed master's replica takes
#: over some 4-5 s after the kill (timeout, then election); a SIGSTOP (2.5 s) stays
#: shorter, so it fails nothing over.
NODE_TIMEOUT = 3000


@dataclass
class Config:
    seconds: float = 60.0
    seed: int = 1
    clients: list[ClientSpec] = field(default_factory=lambda: list(STANDARD))
    faults: list[str] = field(default_factory=lambda: list(FAULTS))
    interval: float = 4.0
    directory: Path | None = None
    # A replica beside the primary (needed by the "failover" fault); on a cluster, one
    # per master (needed by "failover" and "kill", which switch it on themselves).
    replica: bool = False
    cluster: bool = False  # a local 3-master cluster instead of one server
    # The library's clients WAIT for this many replicas after each write (0: no WAIT).
    wait_replicas: int = 0
    quiet: bool = True  # end with the quiet phase: exact reads with no writer left


@dataclass
class Result:
    verdict: Verdict
    history: History
    summary: str
    details: str
    errors: list[str] = field(default_factory=list)  # faults the nemesis failed to inject


def run(config: Config) -> Result:
    """Run the history described by ``config`` and check it."""
    if config.cluster:
        return _run_cluster(config)
    with tempfile.TemporaryDirectory(prefix="history-") as scratch:
        directory = config.directory or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        durable = ("--appendonly", "yes", "--appendfsync", "always")
        server = RedisServer(directory / "server", None, *durable).start()
        replica = None
        if config.replica or "failover" in config.faults:
            following = ("--replicaof", "127.0.0.1", str(server.port))
            replica = RedisServer(directory / "replica", None, *durable, *following).start()
        proxy = Proxy(server.port)
        nemesis = Nemesis(
            server, proxy, config.faults, config.seed, config.interval, replica=replica
        )
        sampler = Sampler(lambda: nemesis.server.port, PREFIX)
        processes = _clients(config, proxy.port, directory, cluster=False)
        quiet = _quiet(config, proxy.port, directory, cluster=False)
        try:
            _drive(processes, sampler, nemesis, config.seconds, quiet)
        finally:
            proxy.close()
            server.stop()
            if replica is not None:
                replica.stop()
        history = load(str(directory), sampler.samples, nemesis.faults)
        _keep(directory, history)
    return _result(history, nemesis)


def _run_cluster(config: Config) -> Result:
    """The same workload on a LocalCluster: cluster clients, straight to the nodes."""
    with tempfile.TemporaryDirectory(prefix="history-") as scratch:
        directory = config.directory or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        replicated = config.replica or bool(set(config.faults) & REPLICA_FAULTS)
        cluster = LocalCluster(
            directory / "cluster",
            replicas=1 if replicated else 0,
            # Longer than a SIGSTOP (2.5 s): only a kill makes the cluster fail over.
            node_timeout=NODE_TIMEOUT if replicated else 5000,
        ).start()
        nemesis = ClusterNemesis(cluster, config.faults, config.seed, config.interval)
        sampler = Sampler(lambda: [node.port for node in cluster.primaries()], PREFIX)
        processes = _clients(config, cluster.ports[0], directory, cluster=True)
        quiet = _quiet(config, cluster.ports[0], directory, cluster=True)
        try:
            _drive(processes, sampler, nemesis, config.seconds, quiet)
        finally:
            cluster.stop()
        history = load(str(directory), sampler.samples, nemesis.faults)
        _keep(directory, history)
    return _result(history, nemesis)


def _keep(directory: Path, history: History) -> None:
    """Save what only the runner knew (faults, TTL samples) beside the clients' records."""
    (directory / "faults.json").write_text(json.dumps(history.faults))
    (directory / "samples.json").write_text(json.dumps(history.samples))


def recheck(directory: Path) -> Result:
    """Check again a history kept with ``--keep`` (after a change to the checker)."""
    faults = json.loads((directory / "faults.json").read_text())
    samples = json.loads((directory / "samples.json").read_text())
    history = load(str(directory), samples, faults)
    verdict = check(history)
    return Result(verdict, history, summary(verdict), details(verdict, history))


def _result(history: History, nemesis: Nemesis) -> Result:
    verdict = check(history)
    text = details(verdict, history)
    errors = list(nemesis.errors)
    if nemesis.error is not None:
        errors.append(f"the nemesis stopped: {nemesis.error!r}")
    if errors:
        text += "\n" + "\n".join(f"NEMESIS ERROR {error}" for error in errors)
    return Result(verdict, history, summary(verdict), text, errors)


def _clients(config: Config, port: int, directory: Path, *, cluster: bool) -> list[Any]:
    """One (not yet started) process per client spec, talking to ``port``."""
    ctx = multiprocessing.get_context("spawn")
    return [
        ctx.Process(
            target=run_client,
            args=(
                dataclasses.replace(
                    spec,
                    cluster=cluster,
                    wait_replicas=0 if spec.kind == "old010" else config.wait_replicas,
                ),
                port,
                config.seconds,
                config.seed,
                str(directory / f"client-{spec.label}"),
            ),
            daemon=True,
        )
        for spec in config.clients
    ]


def _quiet(config: Config, port: int, directory: Path, *, cluster: bool) -> Any:
    """The quiet phase's client (see ``workload._loop_quiet``), or None if switched off."""
    if not config.quiet:
        return None
    spec = ClientSpec("quiet", "quiet", "server", cluster=cluster)
    ctx = multiprocessing.get_context("spawn")
    path = str(directory / "client-quiet")
    return ctx.Process(target=run_client, args=(spec, port, 0.0, config.seed, path), daemon=True)


def _drive(
    processes: list[Any],
    sampler: Sampler,
    nemesis: Nemesis,
    seconds: float,
    quiet: Any = None,
) -> None:
    """Start everything, wait for the clients, stop everything (bounded), report failures.

    Once the clients are done and the nemesis has stopped, the quiet client (if
    any) reads alone.
    """
    try:
        for process in processes:
            process.start()
        sampler.start()
        nemesis.start()
        deadline = time.monotonic() + seconds + 120
        for process in processes:
            process.join(max(1.0, deadline - time.monotonic()))
        nemesis.stopped.set()
        nemesis.join(30)
        if quiet is not None:
            processes.append(quiet)
            quiet.start()
            quiet.join(120)
    finally:
        nemesis.stopped.set()
        nemesis.join(30)
        sampler.stopped.set()
        sampler.join(10)
        for process in processes:
            if process.is_alive():  # bounded: never leave a child behind
                process.kill()
                process.join()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"client processes failed: exit codes {failed}")
