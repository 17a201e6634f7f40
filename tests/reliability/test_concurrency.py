"""Many OS processes writing and reading the same names at once lose nothing and leak nothing."""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from pathlib import Path
from typing import Any

import redis

from multimapwithttl import MultiMapWithTTL

from ..servers import RedisServer

WRITERS = 8
READERS = 2
VALUES_PER_WRITER = 400
NAMES = [f"n{i}" for i in range(30)]
LONG_TTL = 600.0
PREFIX = "conc"


def _writer(port: int, index: int, out: str) -> None:
    rng = random.Random(index)
    mm = MultiMapWithTTL(redis.Redis(port=port), PREFIX, cast_fn=str, resolution=0.001)
    acked: list[tuple[str, str]] = []
    written = 0
    while written < VALUES_PER_WRITER:
        ttl = LONG_TTL if rng.random() < 0.5 else rng.choice([0.05, 0.2, 0.5])
        if rng.random() < 0.5:
            name, value = rng.choice(NAMES), f"w{index}-{written}"
            mm.add(name, value, ttl=ttl)
            batch = [(name, [value])]
        else:
            batch = [
                (rng.choice(NAMES), [f"w{index}-{written + k}-{j}" for j in range(3)])
                for k in range(4)
            ]
            mm.add_many(batch, ttl=ttl)
        written += sum(len(values) for _, values in batch)
        if ttl == LONG_TTL:  # acknowledged: the call returned without raising
            acked.extend((name, value) for name, values in batch for value in values)
    Path(out).write_text(json.dumps(acked))


def _reader(port: int, stop: Any, out: str) -> None:
    mm = MultiMapWithTTL(redis.Redis(port=port), PREFIX, cast_fn=str, resolution=0.001)
    reads = stale = 0
    rng = random.Random(-1)
    while not stop.is_set():
        before = time.time()
        if rng.random() < 0.5:
            pairs = mm.get_with_expiry(rng.choice(NAMES))
            stale += sum(1 for _, expire_at in pairs if expire_at <= before)
        else:
            names = rng.sample(NAMES, 5)
            mm.get_many(*names)
            mm.count(names[0])
        reads += 1
    Path(out).write_text(json.dumps({"reads": reads, "stale": stale}))


def test_concurrent_writers_and_readers(real_server: RedisServer, tmp_path: Path) -> None:
    client = real_server.client()
    client.flushall()
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    writers = [
        ctx.Process(target=_writer, args=(real_server.port, i, str(tmp_path / f"w{i}.json")))
        for i in range(WRITERS)
    ]
    readers = [
        ctx.Process(target=_reader, args=(real_server.port, stop, str(tmp_path / f"r{i}.json")))
        for i in range(READERS)
    ]
    for process in readers + writers:
        process.start()
    for process in writers:
        process.join(120)
    stop.set()
    for process in readers:
        process.join(30)
    for process in readers + writers:
        if process.is_alive():  # bounded: never leave a child behind
            process.kill()
        assert process.exitcode == 0

    acked = [
        pair for i in range(WRITERS) for pair in json.loads((tmp_path / f"w{i}.json").read_text())
    ]
    assert len(acked) > WRITERS * VALUES_PER_WRITER * 0.3
    mm = MultiMapWithTTL(client, PREFIX, cast_fn=str, resolution=0.001)
    live = dict(zip(NAMES, (set(v) for v in mm.get_many(*NAMES)), strict=True))
    missing = [(name, value) for name, value in acked if value not in live[name]]
    assert missing == []

    keys = list(client.scan_iter(match=f"{PREFIX}:*"))
    assert len(keys) == len(NAMES)
    for key in keys:
        newest = client.zrange(key, -1, -1, withscores=True)[0][1]
        # Absolute (PEXPIRETIME), not a TTL read against a clock read before 30 keys:
        # the same however long this loop takes.
        ends = client.pexpiretime(key)
        assert ends > 0, key  # no key without TTL
        assert ends >= newest * 1000 - 1, key  # the TTL covers the newest value (to the ms)

    stats = [json.loads((tmp_path / f"r{i}.json").read_text()) for i in range(READERS)]
    assert all(s["reads"] > 0 for s in stats)
    assert sum(s["stale"] for s in stats) == 0  # readers never saw an expired value
