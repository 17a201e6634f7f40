"""max_values over a name holding far more than the cap: bounded eviction, capped reads.

A name another writer (or 0.1.0, or a bulk load) filled with many more live
values than a capped multimap's ``max_values`` is brought down to the cap a
bounded number of values per write, never in one long command; meanwhile no
read of the capped multimap shows more than the cap: the ``max_values``
values that expire last (among equal expiries, those whose bytes sort last).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import Factory

CLOCKS = pytest.mark.parametrize("clock", ["client", "server"])

#: What one write call may evict at most: the write script's budget (shared
#: with collecting expired values) plus one per argument, with a margin for
#: the header's few arguments; far below any surplus these tests build.
PER_CALL = 1100


def fill(raw: Any, key: str, scores: dict[bytes, float]) -> None:
    """Store members as the library does (member bytes, score = expiry time), in chunks."""
    items = list(scores.items())
    for start in range(0, len(items), 10_000):
        raw.zadd(key, dict(items[start : start + 10_000]))


def big(make: Factory) -> int:
    # fakeredis runs in this process: a smaller surplus, still a few calls' worth.
    return 5_000 if make.backend.name == "fake" else 20_000


def shown(mm: Any, name: str) -> dict[str, list[Any]]:
    """What every read of ``name`` gives, each as a sorted list of values."""
    return {
        "get": sorted(mm.get(name)),
        "get_many": sorted(list(mm.get_many(name, name))[1]),
        "get_with_expiry": sorted(value for value, _ in mm.get_with_expiry(name)),
        "get_many_with_expiry": sorted(v for v, _ in mm.get_many_with_expiry(name)[0]),
        "iter_values": sorted(mm.iter_values(name, count=7)),  # pages through a scan
        "iter_values in one page": sorted(mm.iter_values(name, count=1000)),
    }


@CLOCKS
def test_a_big_surplus_goes_a_bounded_step_per_write_and_is_never_read(
    make: Factory, raw: Any, clock: str
) -> None:
    n = big(make)
    now = time.time()
    # Distinct expiries, value i expiring later as i grows.
    fill(raw, "big:a", {str(i).encode(): now + 1000 + i / 1000 for i in range(n)})
    mm = make("big", clock=clock, max_values=10)
    assert mm.add("a", n, ttl=3600) == 1  # the newest: kept, so counted
    left = raw.zcard("big:a")
    assert n + 1 - PER_CALL <= left < n + 1  # some evicted, not all at once
    kept = [*range(n - 9, n), n]  # the 9 latest preloaded, and the new one
    for read, values in shown(mm, "a").items():
        assert values == kept, read
    assert mm.count("a") == 10
    assert mm.contains("a", n)
    assert mm.contains("a", n - 9)
    # Live, but beyond the cap: not there for a capped multimap.
    assert not mm.contains("a", n - 10)
    assert not mm.contains("a", n // 2)
    at = mm.get_with_expiry("a")
    assert [value for value, _ in at] == kept  # lowest expiry first, as without a cap
    assert at[0][1] == pytest.approx(now + 1000 + (n - 9) / 1000)
    # Later writes take the rest down, a bounded step each, reads capped all along.
    calls = 1
    while left > 10:
        assert mm.add("a", n, ttl=3600) == 0  # live and kept: not new
        now_left = raw.zcard("big:a")
        assert left - PER_CALL <= now_left < left
        left = now_left
        calls += 1
        assert calls <= n // 1000 + 2
        if calls % 50 == 0:
            assert sorted(mm.get("a")) == kept
    assert left == 10
    for read, values in shown(mm, "a").items():
        assert values == kept, read
    assert raw.pttl("big:a") > 3500_000  # the key still ends with its newest value


@CLOCKS
def test_reads_of_a_capped_name_break_ties_as_the_cap_keeps(
    make: Factory, raw: Any, clock: str
) -> None:
    # One expiry for all: the cap keeps the values whose bytes sort last.
    at = float(int(time.time()) + 2000)
    members = [str(i).encode() for i in range(3000)]
    fill(raw, "tie:a", dict.fromkeys(members, at))
    mm = make("tie", clock=clock, max_values=5)
    expected = sorted(int(m) for m in sorted(members)[-5:])  # 995..999
    for read, values in shown(mm, "a").items():
        assert values == expected, read
    assert mm.count("a") == 5
    assert mm.contains("a", 999)
    assert not mm.contains("a", 2999)
    # A write with the same expiry: a value sorting after them all is kept and
    # counted; one sorting first, not (it is beyond the cap, evicted or not).
    assert mm.add_many_with_ttl([("a", [(at, 99999)])]) == 1
    assert mm.add_many_with_ttl([("a", [(at, 1000000)])]) == 0
    assert sorted(mm.get("a")) == [996, 997, 998, 999, 99999]
    assert raw.zcard("tie:a") > 5  # a surplus remains


@CLOCKS
def test_counts_while_a_surplus_remains(make: Factory, raw: Any, clock: str) -> None:
    now = time.time()
    # 10,000 live values (ten calls' eviction), value i expiring at now + 1000 + i/100.
    fill(raw, "cnt:a", {str(i).encode(): now + 1000 + i / 100 for i in range(10_000)})
    mm = make("cnt", clock=clock, resolution=0.01, max_values=3)

    def write(*values: int, ttl: float, **flags: bool) -> int:
        before = raw.zcard("cnt:a")
        result = mm.add("a", *values, ttl=ttl, **flags)
        assert before - PER_CALL <= raw.zcard("cnt:a") <= before + len(values)
        return int(result)

    assert write(10_001, ttl=5000) == 1  # new, the latest: kept
    # New, but among the surplus (not evicted by this call): beyond the cap.
    assert write(10_002, ttl=1080) == 0
    assert raw.zscore("cnt:a", b"10002") is not None
    assert not mm.contains("a", 10_002)
    # A live value beyond the cap, given again: not new, whatever the mode.
    assert write(9000, ttl=1010, nx=True) == 0
    assert write(9000, ttl=1085, ch=True) == 0  # changed, but still beyond the cap
    assert write(9000, ttl=1086, ch=True, gt=True) == 0
    # Moved above the cap: with ch, counted; a new value under xx: never.
    assert write(9900, ttl=6000, gt=True, ch=True) == 1
    assert write(10_003, ttl=7000, xx=True) == 0
    assert write(10_004, ttl=7000, nx=True) == 1
    assert sorted(mm.get("a")) == [9900, 10_001, 10_004]
    assert mm.count("a") == 3
    # lt on a kept value, to an expiry beyond the cap: it leaves the top, not counted.
    assert write(9900, ttl=1001, lt=True, ch=True) == 0
    assert sorted(mm.get("a")) == [9999, 10_001, 10_004]
    assert raw.zcard("cnt:a") > 3  # a surplus remained all along
    assert mm.remove("a", 10_001) == 1
    assert sorted(mm.get("a")) == [9998, 9999, 10_004]
    while raw.zcard("cnt:a") > 3:
        write(10_004, ttl=7000)
    assert sorted(mm.get("a")) == [9998, 9999, 10_004]
