"""lt, ch and max_values: the rest of ZADD's flags and a cap per name, on every backend."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

from .clock import MS, Span, ends_with_newest, key_end, newest, quick, within
from .conftest import Factory
from .test_write_safety import WRITER, exact_state
from .test_write_safety import acl_user as acl_user  # a fixture, used by name

CLOCKS = pytest.mark.parametrize("clock", ["client", "server"])


def expiries(mm: Any, name: str) -> dict[Any, float]:
    """value -> when it expires."""
    return dict(mm.get_with_expiry(name))


# -- lt ------------------------------------------------------------------------


@CLOCKS
def test_lt_only_shortens_and_adds_what_is_not_live(make: Factory, raw: Any, clock: str) -> None:
    mm = make("lt", clock=clock)
    mm.add("a", 1, ttl=1000)
    with Span() as first:
        mm.add("a", 2, ttl=100)
    with Span() as span:
        assert mm.add("a", 1, 2, 3, ttl=500, lt=True) == 1  # 3 is new
    got = expiries(mm, "a")
    assert within(got[1], span, 500)  # shortened
    assert within(got[2], first, 100)  # not lengthened
    assert got[3] == got[1]
    # The newest value was shortened: the key ends with the new newest.
    assert newest(raw, "lt:a") == got[3]
    assert ends_with_newest(raw, "lt:a", span)
    with Span() as span:
        assert mm.add("a", 1, 3, ttl=50, lt=True) == 0
    assert newest(raw, "lt:a") == got[2]  # 2 is the newest now
    assert ends_with_newest(raw, "lt:a", span)


@CLOCKS
def test_xx_and_lt_together_only_shorten_live_values(make: Factory, raw: Any, clock: str) -> None:
    mm = make("xxlt", clock=clock)
    mm.add("a", 1, ttl=1000)
    with Span() as span:
        assert mm.add("a", 1, 2, ttl=100, xx=True, lt=True) == 0
    got = expiries(mm, "a")
    assert list(got) == [1]
    assert within(got[1], span, 100)
    with Span() as span:
        assert mm.add("a", 1, ttl=500, xx=True, lt=True) == 0
    assert expiries(mm, "a") == got
    assert newest(raw, "xxlt:a") == got[1]
    assert ends_with_newest(raw, "xxlt:a", span)


def test_lt_with_a_past_expiry_ends_a_live_value(make: Factory) -> None:
    mm = make("ltpast")
    mm.add("a", 1, 2, ttl=100)
    past = time.time() - 10
    assert mm.add_many_with_ttl([("a", [(past, 1)])], lt=True) == 0
    assert mm.add_many_with_ttl([("a", [(past, 2)])], lt=True, ch=True) == 1  # ended: changed
    assert mm.count("a") == 0


@pytest.mark.parametrize(
    "flags",
    [{"lt": True, "gt": True}, {"lt": True, "nx": True}, {"lt": True, "gt": True, "xx": True}],
    ids=["lt+gt", "lt+nx", "lt+gt+xx"],
)
def test_lt_conflicts_raise_before_writing(make: Factory, raw: Any, flags: dict[str, bool]) -> None:
    mm = make("ltbad")
    for write in (
        lambda: mm.add("a", 1, **flags),
        lambda: mm.add_many([("a", [1])], **flags),
        lambda: mm.add_many_with_ttl([("a", [(time.time() + 60, 1)])], **flags),
    ):
        with pytest.raises(ValueError, match="lt=True"):
            write()
    assert raw.exists("ltbad:a") == 0


# -- ch ------------------------------------------------------------------------


@CLOCKS
def test_ch_also_counts_live_values_whose_expiry_changed(make: Factory, clock: str) -> None:
    mm = make("ch", clock=clock)
    mm.add("a", 1, 2, ttl=100)
    assert mm.add("a", 1, 2, 3, ttl=200, ch=True) == 3  # 2 changed, 1 new
    # The same expiry again changes nothing. It is given as a time: two ttl=200 calls land on
    # different whole seconds whenever a second begins between them.
    same = [("a", [(time.time() + 250, value) for value in (1, 2, 3)])]
    assert mm.add_many_with_ttl(same, ch=True) == 3
    assert mm.add_many_with_ttl(same, ch=True) == 0
    assert mm.add("a", 1, ttl=50, gt=True, ch=True) == 0  # gt: not shortened
    assert mm.add("a", 1, ttl=500, gt=True, ch=True) == 1
    assert mm.add("a", 1, ttl=50, lt=True, ch=True) == 1
    assert mm.add("a", 1, 4, ttl=900, nx=True, ch=True) == 1  # nx changes no live value
    assert mm.add_many([("a", [1, 2]), ("b", [1])], ttl=300, ch=True) == 3
    at = time.time() + 400
    assert mm.add_many_with_ttl([("a", [(at, 1), (at, 9)]), ("b", [(at, 1)])], ch=True) == 3


@CLOCKS
def test_xx_with_ch_tells_refreshed_from_expired(make: Factory, raw: Any, clock: str) -> None:
    mm = make("sess", clock=clock)
    mm.add("user", "s1", "s2", ttl=100)
    with Span() as span:
        assert mm.add("user", "s1", "s2", "gone", ttl=200, xx=True, ch=True) == 2
    refreshed = newest(raw, "sess:user")
    assert within(refreshed, span, 200)
    with Span() as span:
        assert mm.add("user", "gone", ttl=200, xx=True, ch=True) == 0
    assert mm.add("nobody", "s1", ttl=200, xx=True, ch=True) == 0
    assert raw.exists("sess:nobody") == 0
    assert newest(raw, "sess:user") == refreshed
    assert ends_with_newest(raw, "sess:user", span)


def test_ch_counts_an_expired_uncollected_value_as_new_not_changed(make: Factory, raw: Any) -> None:
    mm = make("chdead", resolution=0.001)
    mm.add_many_with_ttl([("a", [(time.time() + 1, 1), (time.time() + 60, 2)])])
    make.backend.advance(1.5)  # type: ignore[attr-defined]
    assert raw.zcard("chdead:a") == 2  # 1 is dead but still stored
    assert mm.add("a", 1, ttl=60, xx=True, ch=True) == 0  # not live: xx leaves it
    assert mm.add("a", 1, ttl=60, ch=True) == 1  # new, counted once
    assert mm.contains("a", 1)


# -- max_values ------------------------------------------------------------------


@pytest.mark.parametrize("cls", [MultiMapWithTTL, AsyncMultiMapWithTTL])
@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-3, ValueError), (True, TypeError), (2.0, TypeError), ("3", TypeError)],
)
def test_max_values_must_be_a_positive_int(
    cls: Callable[..., Any], bad: object, error: type[Exception]
) -> None:
    import fakeredis

    client = fakeredis.FakeAsyncRedis() if cls is AsyncMultiMapWithTTL else fakeredis.FakeRedis()
    with pytest.raises(error, match="max_values"):
        cls(client, "p", max_values=bad)
    with pytest.raises(error, match="max_values"):
        cls.from_url("redis://127.0.0.1:1", "p", max_values=bad)  # type: ignore[attr-defined]


def test_max_values_is_shown_and_read_only(make: Factory) -> None:
    mm = make("show", max_values=3)
    assert mm.max_values == 3
    assert "max_values=3" in repr(getattr(mm, "_inner", mm))  # the async one, unwrapped
    plain = make("plain")
    assert "max_values" not in repr(getattr(plain, "_inner", plain))
    assert make("plain").max_values is None


@CLOCKS
def test_a_cap_keeps_the_latest_expiring_values(make: Factory, raw: Any, clock: str) -> None:
    mm = make("cap", clock=clock, max_values=2)
    with Span() as first:
        assert mm.add("a", 1, ttl=300) == 1
    assert mm.add("a", 2, ttl=100) == 1
    assert mm.add("a", 3, ttl=200) == 1  # 2 expires first: evicted
    assert sorted(mm.get("a")) == [1, 3]
    with Span() as span:
        assert mm.add("a", 4, ttl=50) == 0  # evicted at once: not new
    assert sorted(mm.get("a")) == [1, 3]
    assert raw.zcard("cap:a") == 2
    assert within(newest(raw, "cap:a"), first, 300)
    assert ends_with_newest(raw, "cap:a", span)
    # Ties: the members whose bytes sort last are kept (ZRANGE's order).
    assert mm.add("b", 5, 7, 6, ttl=100) == 2
    assert sorted(mm.get("b")) == [6, 7]


@CLOCKS
@pytest.mark.parametrize(
    "flags",
    [{}, {"nx": True}, {"xx": True}, {"gt": True}, {"lt": True}, {"xx": True, "gt": True}],
    ids=["default", "nx", "xx", "gt", "lt", "xx+gt"],
)
def test_every_mode_respects_the_cap(
    make: Factory, raw: Any, clock: str, flags: dict[str, bool]
) -> None:
    mm = make("capmode", clock=clock, max_values=3)
    mm.add("a", 1, 2, ttl=100)
    mm.add("a", 3, ttl=500)
    mm.add("a", 4, 5, ttl=300, **flags)
    with Span() as span:
        mm.add("a", 1, 2, 6, ttl=1000, **flags)
    assert raw.zcard("capmode:a") <= 3
    assert mm.count("a") <= 3
    assert ends_with_newest(raw, "capmode:a", span)


def test_a_cap_counts_with_ch_and_over_many_names(make: Factory) -> None:
    mm = make("capch", max_values=2)
    mm.add("a", 1, 2, ttl=100)
    # 1 changed (kept), 3 new (kept), 2 evicted: it was not counted anyway.
    assert mm.add("a", 1, 3, ttl=200, ch=True) == 2
    assert sorted(mm.get("a")) == [1, 3]
    # 1 changed to the earliest expiry, then evicted at once: not counted.
    at = time.time()
    assert mm.add_many_with_ttl([("a", [(at + 150, 1), (at + 300, 4)])], lt=True, ch=True) == 1
    assert sorted(mm.get("a")) == [3, 4]
    data = [(name, [1, 2, 3, 4]) for name in "bcd"]
    assert mm.add_many(data, ttl=60) == 6
    assert [mm.count(name) for name in "bcd"] == [2, 2, 2]
    at = time.time()
    pairs = [(at + 10, 1), (at + 40, 2), (at + 30, 3), (at - 5, 4)]
    assert mm.add_many_with_ttl([("e", pairs)]) == 2
    assert sorted(mm.get("e")) == [2, 3]


def test_a_cap_uncounts_a_new_value_evicted_by_a_tie_at_its_expiry(make: Factory) -> None:
    # Two values already at the very expiry a capped write gives: the write's
    # new value ties with them and, its bytes sorting first, is evicted at once.
    now = float(int(time.time())) + 0.25
    plain, capped = make("captie"), make("captie", max_values=2)
    plain._now = capped._now = lambda: now
    assert plain.add("a", 5, 6, ttl=100) == 2
    assert capped.add("a", 1, ttl=100) == 0
    assert sorted(capped.get("a")) == [5, 6]
    assert capped.add("a", 7, ttl=100) == 1  # 5 goes: 7 sorts last, is kept
    assert sorted(capped.get("a")) == [6, 7]


@CLOCKS
def test_a_cap_holds_when_an_expired_value_is_given_again(
    make: Factory, raw: Any, clock: str
) -> None:
    mm = make("capagain", clock=clock, resolution=0.001, max_values=2)
    # Two live values and a third about to expire, stored without the cap (while
    # still ahead: a round slower than that stores two).
    plain = make("capagain", resolution=0.001)
    for i, span in quick(1.0):
        with span:
            now = time.time()
            plain.add_many_with_ttl([(f"a{i}", [(now + 1, 1), (now + 50, 2), (now + 60, 3)])])
    make.backend.advance(1.5)  # type: ignore[attr-defined]
    assert raw.zcard(f"capagain:a{i}") == 3  # 1 is dead but still stored
    assert mm.add(f"a{i}", 1, ttl=100) == 1  # new again, and 2 (the earliest) goes
    assert sorted(mm.get(f"a{i}")) == [1, 3]
    assert raw.zcard(f"capagain:a{i}") == 2


def test_a_cap_with_expired_uncollected_values_keeps_the_key_ttl(make: Factory, raw: Any) -> None:
    mm = make("capdead", resolution=0.001, max_values=2)
    now = time.time()
    mm.add_many_with_ttl([("a", [(now + 1, "d1"), (now + 50, 1), (now + 60, 2)])])
    make.backend.advance(1.5)  # type: ignore[attr-defined]
    honest = make("capdead", resolution=0.001, max_values=2)
    ahead = make("capdead", resolution=0.001, max_values=2)
    ahead._now = lambda: time.time() + 55  # 1 is dead for it, live on the server
    before = time.time()
    assert ahead.add("a", 3, ttl=100) == 1
    # For the writer ahead, 2 and 3 are its two live values: 1, dead for it
    # but live on the server, is neither counted nor evicted.
    assert make("capdead", resolution=0.001).count("a") == 3
    assert honest.count("a") == 2  # a capped read shows no more than the cap
    assert sorted(ahead.get("a")) == [2, 3]
    # The key lives until 3's expiry on the writer's clock, never cut (absolute
    # times: the same however long this took).
    three = raw.zscore("capdead:a", "3")
    assert three >= before + 155
    assert key_end(raw, "capdead:a") >= three - MS
    # A plain writer then caps on its own clock.
    assert honest.add("a", 4, ttl=10) == 0  # 4 expires first: evicted at once
    assert sorted(honest.get("a")) == [2, 3]
    assert newest(raw, "capdead:a") == three
    assert key_end(raw, "capdead:a") >= three - MS


@pytest.mark.backends_except("fake")  # no ACL checks in its scripts
@pytest.mark.parametrize("ttl", [300, 900], ids=["below-the-newest", "the-newest"])
def test_a_capped_write_without_zremrangebyrank_is_refused_untouched(
    make: Factory, raw: Any, acl_user: Callable[..., None], ttl: float
) -> None:
    now = time.time()
    raw.zadd("acl:a", {"live": now + 600, "old": now + 60})
    acl_user(*WRITER, "+hello", "+command", "+info", "+pexpire", "-zremrangebyrank")
    mm = make("acl", username="mmuser", password="pw", max_values=2)
    before = exact_state(make.backend)
    with pytest.raises(make.backend.exceptions.ResponseError, match="ZREMRANGEBYRANK"):
        mm.add("a", "new", ttl=ttl)
    assert exact_state(make.backend) == before
