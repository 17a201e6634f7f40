"""Wire compatibility with python-multimapwithttl 0.1.0, both directions.

``Old010`` issues exactly the commands 0.1.0 sends (its pipeline order
included: EXPIREAT before ZADD, ZREMRANGEBYSCORE 0..now, ZRANGEBYSCORE from
int(now) + 1), so this checks the format against 0.1.0's own reading of it.
"""

from __future__ import annotations

import time
from typing import Any

from .conftest import Factory
from .old010 import Old010


def test_new_reads_what_0_1_0_wrote(make: Factory, raw: Any) -> None:
    Old010(raw, "shared").add_many([("a", [1, 2]), ("b", [3])])
    mm = make("shared")
    assert [sorted(v) for v in mm.get_many("a", "b")] == [[1, 2], [3]]
    assert mm.count("a") == 2
    assert mm.contains("b", 3)


def test_0_1_0_reads_what_new_wrote(make: Factory, raw: Any) -> None:
    mm = make("shared", ttl=100)
    mm.add_many([("a", [1, 2]), ("b", [3])])
    mm.add("c", 4)
    mm.add_many_with_ttl([("d", [(time.time() + 50, 5)])])
    assert Old010(raw, "shared").get_many("a", "b", "c", "d") == [[1, 2], [3], [4], [5]]
    # Whole-second integer scores, as 0.1.0 stores them.
    for _, score in raw.zrange("shared:a", 0, -1, withscores=True):
        assert score == int(score)


def test_both_write_the_same_key_and_agree(make: Factory, raw: Any) -> None:
    old = Old010(raw, "mix", ttl=100)
    mm = make("mix", ttl=200)
    old.add_many([("a", [1])])
    mm.add("a", 2)
    old.add_many([("a", [3])])
    mm.add("a", 4)
    assert sorted(mm.get("a")) == [1, 2, 3, 4]
    assert old.get_many("a") == [[1, 2, 3, 4]]
    assert raw.pttl("mix:a") > 0


def test_a_0_1_0_key_without_ttl_gets_one_on_the_next_write(make: Factory, raw: Any) -> None:
    # 0.1.0's first add: EXPIREAT hits a missing key, then ZADD creates it: no TTL.
    Old010(raw, "leak", ttl=300).add_many([("a", [1]), ("b", [2])])
    assert raw.pttl("leak:a") == -1
    assert raw.pttl("leak:b") == -1
    mm = make("leak", ttl=5)
    before = time.time()
    mm.add("a", 9)  # shorter than the old value: the TTL must still cover it
    assert mm.remove("b", 42) == 0  # even a write that only removes repairs the key
    for key in ("leak:a", "leak:b"):
        newest = raw.zrange(key, -1, -1, withscores=True)[0][1]  # 0.1.0's int(now) + 300
        pttl = raw.pttl(key)
        # Lives until the newest value expires: not less, and not more than the
        # time the write took (the lifetime is relative to the write's "now").
        assert (newest - time.time()) * 1000 - 50 <= pttl <= (newest - before) * 1000 + 5


def test_0_1_0_import_path_keeps_working() -> None:
    # 0.1.0's users wrote ``from multimapwithttl.multimapwithttl import MultiMapWithTTL``.
    from multimapwithttl import MultiMapWithTTL
    from multimapwithttl.multimapwithttl import MultiMapWithTTL as Old

    assert Old is MultiMapWithTTL
