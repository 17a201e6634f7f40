"""The exact command sequence of python-multimapwithttl 0.1.0, for format checks.

0.1.0 sends, per name in one non-transactional pipeline: EXPIREAT (before the
ZADD that creates the key, which is why its keys start without a TTL), ZADD
with score ``int(now) + ttl``, and ZREMRANGEBYSCORE 0..int(now); it reads
with ZRANGEBYSCORE from ``int(now) + 1``.
"""

from __future__ import annotations

import time
from typing import Any


class Old010:
    def __init__(self, client: Any, prefix: str, ttl: int = 3600) -> None:
        self.client, self.prefix, self.ttl = client, prefix, ttl

    def add_many(self, data: list[tuple[str, list[Any]]]) -> None:
        now = int(time.time())
        pipe = self.client.pipeline(transaction=False)
        for name, values in data:
            key = f"{self.prefix}:{name}"
            pipe.expireat(key, now + self.ttl + 1)
            if values:
                pipe.zadd(key, {v: now + self.ttl for v in values})
            pipe.zremrangebyscore(key, 0, now)
        pipe.execute()

    def get_many(self, *names: str) -> list[list[int]]:
        pipe = self.client.pipeline(transaction=False)
        for name in names:
            pipe.zrangebyscore(f"{self.prefix}:{name}", int(time.time()) + 1, "+inf")
        return [sorted(int(m) for m in members) for members in pipe.execute()]
