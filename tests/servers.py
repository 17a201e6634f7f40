"""Real redis-server processes for the tests: started here, on loopback, stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
MISSING = "redis-server is not on PATH (CI installs it with apt-get: see .ci/run)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server child process bound to 127.0.0.1."""

    def __init__(self, directory: Path, port: int | None = None, *extra: str) -> None:
        assert REDIS_SERVER, MISSING
        self.port = port or free_port()
        self.directory = directory
        self.extra = extra
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        assert REDIS_SERVER, MISSING
        args = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--save", "",
            "--protected-mode", "no",
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
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.02)

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(port=self.port, **kwargs)  # type: ignore[arg-type]

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


class LocalCluster:
    """Three masters with --cluster-enabled, joined by redis-cli --cluster create."""

    def __init__(self, directory: Path) -> None:
        ports = []
        while len(ports) < 3:
            port = free_port()
            # The cluster bus listens on port + 10000: it must be free too.
            if port < 55000 and port not in ports:
                ports.append(port)
        self.nodes = [
            RedisServer(
                directory / f"node{port}",
                port,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{port}.conf",
                "--cluster-node-timeout",
                "5000",
                "--appendonly",
                "no",
            )
            for port in ports
        ]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> LocalCluster:
        assert REDIS_CLI, "redis-cli is not on PATH"
        try:
            for node in self.nodes:
                node.start()
            subprocess.run(
                [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                 "--cluster-replicas", "0", "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while not all(self._ok(port) for port in self.ports):
                if time.monotonic() > deadline:
                    raise RuntimeError("the local cluster did not reach cluster_state:ok")
                time.sleep(0.1)
        except BaseException:
            self.stop()  # never leave half a cluster running
            raise
        return self

    @staticmethod
    def _ok(port: int) -> bool:
        with redis.Redis(port=port) as client:
            info = client.cluster("INFO")
        return str(info.get("cluster_state")) == "ok"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
