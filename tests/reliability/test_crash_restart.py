"""SIGKILL the server mid-stream, restart it on the same port and data: no acked write is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from multimapwithttl import MultiMapWithTTL

from ..servers import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.faults

KILLS = 3
NAMES = [f"n{i}" for i in range(20)]


@pytest.fixture
def durable_server(tmp_path: Path) -> RedisServer:
    if not REDIS_SERVER:
        pytest.skip("redis-server is not on PATH")
    return RedisServer(tmp_path / "aof", None, "--appendonly", "yes", "--appendfsync", "always")


def test_acknowledged_writes_survive_kill_and_restart(durable_server: RedisServer) -> None:
    server = durable_server.start()
    # Fail fast while the server is down; the library never retries by itself.
    client = redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0), socket_timeout=5)
    mm = MultiMapWithTTL(client, "crash", ttl=600)
    acked: dict[str, set[int]] = {name: set() for name in NAMES}
    errors: list[Exception] = []
    counter = 0
    try:
        for _ in range(KILLS):
            killed = threading.Event()

            def kill(done: threading.Event = killed) -> None:
                server.kill()
                done.set()

            threading.Timer(0.3, kill).start()
            # Write until the kill lands: the call in flight then must raise.
            deadline = time.monotonic() + 10
            while True:
                assert time.monotonic() < deadline, "the kill never interrupted a call"
                batch = [(name, [counter + i]) for i, name in enumerate(NAMES[:5])]
                batch.append((NAMES[counter % len(NAMES)], [counter + 100_000]))
                try:
                    if counter % 2:
                        mm.add_many(batch)
                    else:
                        mm.add(batch[0][0], *batch[0][1])
                        batch = batch[:1]
                except redis.ConnectionError as error:
                    errors.append(error)
                    break
                for name, values in batch:
                    acked[name].update(values)
                counter += 1
            killed.wait(5)
            server.start()  # same port, same data directory, same library object
            wait_until_loaded(client)
            # The very same object works again.
            mm.add("after-restart", counter)
            assert counter in set(mm.get("after-restart"))
    finally:
        server.stop()
        server.start()
        wait_until_loaded(client)
        got = dict(zip(NAMES, (set(v) for v in mm.get_many(*NAMES)), strict=True))
        keys = list(client.scan_iter(match="crash:*"))
        ttls = [client.pttl(key) for key in keys]
        server.stop()

    assert len(errors) == KILLS  # every kill surfaced as a connection error, none swallowed
    assert sum(len(v) for v in acked.values()) > 100
    for name in NAMES:
        assert acked[name] <= got[name], name
    assert ttls
    assert all(ttl > 0 for ttl in ttls)


def wait_until_loaded(client: redis.Redis) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.ping():
                return
        except (redis.ConnectionError, redis.BusyLoadingError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
