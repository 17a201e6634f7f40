"""A key's TTL follows its newest live value after every write, and no clock can cut a live value.

Each test failed on 0.2.0 (issue 9, points 1 and 2): keys kept an hour-long
TTL after their only value was rewritten to live a second, an 0.1.0 writer's
short TTL was never repaired, and a writer whose clock ran ahead collected
values the server still held live.
"""

from __future__ import annotations

import time
from typing import Any

from .clock import Span, ends_with_newest, lives, newest, quick
from .conftest import Factory
from .old010 import Old010


def pttl_s(raw: Any, key: str) -> float:
    return float(raw.pttl(key)) / 1000


def skewed(mm: Any, seconds: float) -> Any:
    """Make ``mm``'s own clock run ``seconds`` ahead of everyone else's (behind if negative)."""
    mm._now = lambda: time.time() + seconds
    return mm


def test_rewriting_the_only_value_shorter_shortens_the_key(make: Factory, raw: Any) -> None:
    mm = make("short")
    with Span() as span:
        assert mm.add("a", 1, ttl=3600) == 1
    assert lives(raw, "short:a", 3600, span)
    with Span() as span:
        assert mm.add("a", 1, ttl=5) == 0  # latest write wins: the value lives 5 s now
    assert lives(raw, "short:a", 5, span)
    with Span() as span:
        assert mm.add_many([("a", [1])], ttl=20) == 0
    assert lives(raw, "short:a", 20, span)
    at = time.time() + 10
    with Span() as span:
        mm.add_many_with_ttl([("a", [(at, 1)])])
    assert at <= newest(raw, "short:a") <= at + 1  # rounded up to the resolution
    assert ends_with_newest(raw, "short:a", span)


def test_removing_the_newest_value_shortens_the_key(make: Factory, raw: Any) -> None:
    mm = make("rm")
    mm.add("a", 1, ttl=3600)
    mm.add("a", 2, ttl=60)
    value_2_ends = raw.zscore("rm:a", "2")
    with Span() as span:
        assert mm.remove("a", 1) == 1
    assert newest(raw, "rm:a") == value_2_ends
    assert ends_with_newest(raw, "rm:a", span)
    assert mm.remove("a", 2) == 1
    assert raw.exists("rm:a") == 0  # went with its last value


def test_a_dead_name_is_no_longer_listed(make: Factory) -> None:
    mm = make("dead", resolution=0.001)
    mm.add("gone", 1, ttl=3600)
    mm.add("gone", 1, ttl=0.2)
    mm.add("kept", 1, ttl=3600)
    make.backend.advance(0.35)  # type: ignore[attr-defined]
    assert sorted(mm.names()) == ["kept"]


def test_an_0_1_0_writer_s_short_ttl_is_repaired_by_the_next_write(make: Factory, raw: Any) -> None:
    if make.backend.name == "fake":  # type: ignore[attr-defined]
        old = Old010(raw, "up", ttl=5)
    else:
        old = Old010(make.backend.sync_client(), "up", ttl=5)  # type: ignore[attr-defined]
    mm = make("up")
    mm.add("a", 1, ttl=3600)
    old.add_many([("a", [2])])  # 0.1.0 sets the key to expire in ~6 s
    assert pttl_s(raw, "up:a") <= 7
    hour_long = raw.zscore("up:a", "1")
    for write in (
        lambda: mm.add("a", 3, ttl=2),
        lambda: mm.remove("a", 2),
        lambda: mm.add_many_with_ttl([("a", [(time.time() + 2, 4)])]),
        lambda: mm.add("a", 5, ttl=2, nx=True),
    ):
        old.add_many([("a", [2])])
        with Span() as span:
            write()
        assert newest(raw, "up:a") == hour_long  # the hour-long value is safe
        assert ends_with_newest(raw, "up:a", span)


def test_a_writer_ahead_never_collects_what_the_server_holds_live(make: Factory, raw: Any) -> None:
    honest = make("skew")
    ahead = skewed(make("skew"), 100)
    with Span() as span:
        honest.add("a", 1, ttl=60)
    assert lives(raw, "skew:a", 60, span)
    with Span() as span:
        assert ahead.add("a", 2, ttl=2) == 1  # its "now" is past value 1's expiry
    assert raw.zscore("skew:a", "1") is not None
    assert sorted(honest.get("a")) == [1, 2]
    # Value 2 lives 102 s on the server's clock, and the key exactly as long.
    assert lives(raw, "skew:a", 102, span)
    assert ends_with_newest(raw, "skew:a", span)
    with Span() as span:
        assert ahead.remove("a", 2) == 1
    assert sorted(honest.get("a")) == [1]
    assert ends_with_newest(raw, "skew:a", span)  # now it ends with value 1


def test_a_writer_ahead_by_under_a_second_never_collects_what_the_server_holds_live(
    make: Factory, raw: Any
) -> None:
    # Within one second the whole seconds of TIME cannot tell the clocks
    # apart: the exact server time must.
    honest = make("subsec", resolution=0.001)
    ahead = skewed(make("subsec", resolution=0.001), 0.95)
    # Value 1 must still be live on the server's clock when the ahead writer's call
    # runs, less than a second later: a machine too busy for that makes the round
    # tell nothing, and another round runs (never a failure for slowness).
    for name in (f"a{i}" for i in range(20)):
        at = time.time() + 0.9
        with Span() as span:
            honest.add_many_with_ttl([(name, [(at, 1)])])
            assert ahead.add(name, 2, ttl=60) == 1  # for it, value 1 has expired
        if span.end < at:
            break
    else:
        raise AssertionError("20 rounds too slow for a 0.9 s window: the machine is overloaded")
    assert raw.zscore(f"subsec:{name}", "1") is not None  # the server still holds it live


def test_a_writer_behind_keeps_the_key_for_its_own_values(make: Factory, raw: Any) -> None:
    behind = skewed(make("lag"), -100)
    with Span() as span:
        behind.add("a", 1, ttl=300)
    # The value expires 200 s from now on the server's clock; the key lives
    # until the lagging writer's clock reaches it: at most its lag longer.
    score = raw.zscore("lag:a", "1")
    assert span.start + 200 <= score <= span.end + 201
    assert ends_with_newest(raw, "lag:a", span, lag=100)
    honest = make("lag")
    with Span() as span:
        honest.add("b", 1, ttl=10)  # another key: untouched by the lag
    assert lives(raw, "lag:b", 10, span)
    assert ends_with_newest(raw, "lag:b", span)


def test_server_clock_clients_agree_whatever_their_own_clocks_say(make: Factory, raw: Any) -> None:
    fast = skewed(make("srv", cast_fn=str, clock="server"), 500)
    slow = skewed(make("srv", cast_fn=str, clock="server"), -500)
    with Span() as f_span:
        assert fast.add("a", "f", ttl=60) == 1
    with Span() as s_span:
        assert slow.add("a", "s", ttl=30) == 1
    assert slow.add("a", "f", ttl=60, nx=True) == 0  # live for everyone
    for mm in (fast, slow):
        assert sorted(mm.get("a")) == ["f", "s"]
        assert [sorted(v) for v in mm.get_many("a", "b")] == [["f", "s"], []]
        assert mm.count("a") == 2
        assert mm.contains("a", "s")
    assert fast.get_with_expiry("a") == slow.get_with_expiry("a")
    ((s, s_at), (f, f_at)) = fast.get_with_expiry("a")
    assert (s, f) == ("s", "f")
    assert s_span.start + 30 <= s_at <= s_span.end + 31  # the server's now + ttl, rounded up
    assert f_span.start + 60 <= f_at <= f_span.end + 61
    assert newest(raw, "srv:a") == f_at
    assert ends_with_newest(raw, "srv:a", s_span)
    assert slow.remove("a", "s", "x") == 1
    assert list(fast.get("a")) == ["f"]


def test_server_clock_values_expire_on_the_server_s_clock(make: Factory) -> None:
    ahead = skewed(make("srvx", clock="server", resolution=0.001), 1000)
    for i, span in quick(1.0):  # read back before their second is over
        name = f"a{i}"
        with span:
            ahead.add(name, 1, ttl=1)
            ahead.add_many_with_ttl([(name, [(time.time() + 1, 2)])])
            got = sorted(ahead.get(name))
    assert got == [1, 2]
    make.backend.advance(1.2)  # type: ignore[attr-defined]
    assert list(ahead.get(name)) == []
    assert ahead.count(name) == 0
    assert not ahead.contains(name, 1)
    assert ahead.add(name, 1, ttl=60) == 1  # expired, maybe uncollected: new again
