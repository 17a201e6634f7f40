"""Writes say how many values are new; nx / xx / gt decide what happens to live values."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .clock import Span, ends_with_newest, newest, pinned
from .conftest import Factory


def clocked(make: Factory, prefix: str) -> Any:
    """A multimap whose clock stands still on a whole second just past: exact expiries."""
    return pinned(make(prefix), float(int(time.time())))


def expiries(mm: Any, name: str) -> dict[Any, float]:
    """value -> seconds left on ``mm``'s (pinned) clock."""
    now = mm._now()
    return {value: at - now for value, at in mm.get_with_expiry(name)}


def key_ends_at(raw: Any, key: str, mm: Any, ttl: float) -> bool:
    """Does ``key`` end with its newest value, ``ttl`` after ``mm``'s pinned now?"""
    return newest(raw, key) == mm._now() + ttl and ends_with_newest(raw, key, Span.since(mm._now()))


def test_writes_return_how_many_values_are_new(make: Factory) -> None:
    mm = make("new")
    assert mm.add("a", 1, 2, 2) == 2  # a value given twice counts once
    assert mm.add("a", 2, 3) == 1
    assert mm.add("a") == 0
    assert mm.add_many([("a", [3, 4]), ("b", [4, 4])]) == 2
    assert mm.add_many({"c": [1], "d": []}) == 1
    assert mm.add_many_with_ttl([("a", [(time.time() + 50, 5), (time.time() + 60, 5)])]) == 1
    assert mm.add_many_with_ttl([("a", [(time.time() - 1, 9)])]) == 0  # already past


def test_an_expired_value_not_yet_collected_counts_as_new(make: Factory, raw: Any) -> None:
    mm = make("exp", resolution=0.001)
    # One call: a second write later than 0.2 s (a loaded machine) would
    # already collect value 1.
    mm.add_many_with_ttl([("a", [(time.time() + 0.2, 1), (time.time() + 60, 2)])])
    make.backend.advance(0.3)  # type: ignore[attr-defined]
    assert raw.zcard("exp:a") == 2  # 1 is dead but still stored
    assert mm.add("a", 1, 2) == 1


def test_nx_first_seen_wins(make: Factory, raw: Any) -> None:
    mm = clocked(make, "nx")
    mm.add("a", 1, ttl=100)
    assert mm.add("a", 1, 2, ttl=1000, nx=True) == 1
    assert expiries(mm, "a") == {1: 100, 2: 1000}  # 1 kept its first expiry
    assert key_ends_at(raw, "nx:a", mm, 1000)
    assert mm.add_many([("a", [2]), ("b", [2])], ttl=5, nx=True) == 1
    assert expiries(mm, "a")[2] > 999


def test_xx_only_touches_live_values(make: Factory, raw: Any) -> None:
    mm = clocked(make, "xx")
    mm.add("a", 1, ttl=100)
    assert mm.add("a", 1, 2, ttl=1000, xx=True) == 0
    assert expiries(mm, "a") == {1: 1000}
    assert key_ends_at(raw, "xx:a", mm, 1000)
    assert mm.add("a", 1, ttl=10, xx=True) == 0  # the latest write wins: shorter too
    assert key_ends_at(raw, "xx:a", mm, 10)
    assert mm.add_many([("nobody", [1])], xx=True) == 0
    assert raw.exists("xx:nobody") == 0  # nothing was created


def test_gt_only_lengthens(make: Factory, raw: Any) -> None:
    mm = clocked(make, "gt")
    mm.add("a", 1, ttl=1000)
    assert mm.add("a", 1, 2, ttl=100, gt=True) == 1
    assert expiries(mm, "a") == {1: 1000, 2: 100}  # 1 not shortened
    assert mm.add("a", 2, ttl=500, gt=True) == 0
    assert expiries(mm, "a")[2] == 500
    assert key_ends_at(raw, "gt:a", mm, 1000)


def test_xx_and_gt_together(make: Factory) -> None:
    mm = clocked(make, "xxgt")
    mm.add("a", 1, ttl=100)
    assert mm.add("a", 1, 2, ttl=50, xx=True, gt=True) == 0
    assert expiries(mm, "a") == {1: 100}
    assert mm.add("a", 1, ttl=500, xx=True, gt=True) == 0
    assert expiries(mm, "a") == {1: 500}


@pytest.mark.parametrize(
    ("flags", "new", "live_after"),
    [
        ({}, 1, True),
        ({"nx": True}, 1, True),
        ({"gt": True}, 1, True),
        ({"xx": True}, 0, False),
        ({"xx": True, "gt": True}, 0, False),
    ],
    ids=["default", "nx", "gt", "xx", "xx+gt"],
)
def test_every_mode_treats_an_expired_uncollected_value_as_not_live(
    make: Factory, flags: dict[str, bool], new: int, live_after: bool
) -> None:
    mm = make("dead", resolution=0.001)
    # Value 2 keeps the key alive, so 1 stays stored once dead (one call, so
    # no later write collects 1 first).
    mm.add_many_with_ttl([("a", [(time.time() + 0.2, 1), (time.time() + 60, 2)])])
    make.backend.advance(0.3)  # type: ignore[attr-defined]
    assert mm.add("a", 1, ttl=60, **flags) == new
    assert mm.contains("a", 1) is live_after


def test_a_past_expiry_ends_a_live_value_only_where_the_mode_applies_it(make: Factory) -> None:
    mm = make("past")
    past = time.time() - 10
    for flags, survives in (
        ({"nx": True}, True),
        ({"gt": True}, True),
        ({"xx": True, "gt": True}, True),
        ({"xx": True}, False),
        ({}, False),
    ):
        mm.add("a", 1, ttl=100)
        assert mm.add_many_with_ttl([("a", [(past, 1)])], **flags) == 0
        assert mm.contains("a", 1) is survives, flags


def test_modes_work_on_a_client_whose_clock_runs_ahead(make: Factory, raw: Any) -> None:
    honest = make("band")
    ahead = make("band")
    ahead._now = lambda: time.time() + 50
    honest.add("a", 1, ttl=20)  # live on the server; dead for the writer ahead
    honest.add("a", 2, ttl=500)
    two = raw.zscore("band:a", "2")
    before = time.time()
    assert ahead.add("a", 1, 2, ttl=100, nx=True) == 1  # 1 is not live for it
    assert raw.zscore("band:a", "2") == two  # 2 kept its expiry
    assert raw.zscore("band:a", "1") >= before + 150  # 1 re-added on its clock
    honest.add("a", 3, ttl=20)
    three = raw.zscore("band:a", "3")
    assert ahead.add("a", 3, ttl=900, xx=True) == 0
    assert raw.zscore("band:a", "3") == three  # not live for it: untouched
