"""Writes say how many values are new; nx / xx / gt decide what happens to live values."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import Factory


def expiries(mm: Any, name: str) -> dict[Any, float]:
    """value -> seconds left."""
    now = time.time()
    return {value: at - now for value, at in mm.get_with_expiry(name)}


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
    mm = make("nx")
    mm.add("a", 1, ttl=100)
    assert mm.add("a", 1, 2, ttl=1000, nx=True) == 1
    left = expiries(mm, "a")
    assert 99 < left[1] <= 101  # kept its first expiry
    assert 999 < left[2] <= 1001
    assert 999 < raw.pttl("nx:a") / 1000 <= 1001
    assert mm.add_many([("a", [2]), ("b", [2])], ttl=5, nx=True) == 1
    assert expiries(mm, "a")[2] > 999


def test_xx_only_touches_live_values(make: Factory, raw: Any) -> None:
    mm = make("xx")
    mm.add("a", 1, ttl=100)
    assert mm.add("a", 1, 2, ttl=1000, xx=True) == 0
    left = expiries(mm, "a")
    assert list(left) == [1]
    assert 999 < left[1] <= 1001
    assert 999 < raw.pttl("xx:a") / 1000 <= 1001
    assert mm.add("a", 1, ttl=10, xx=True) == 0  # the latest write wins: shorter too
    assert 9 < raw.pttl("xx:a") / 1000 <= 11
    assert mm.add_many([("nobody", [1])], xx=True) == 0
    assert raw.exists("xx:nobody") == 0  # nothing was created


def test_gt_only_lengthens(make: Factory, raw: Any) -> None:
    mm = make("gt")
    mm.add("a", 1, ttl=1000)
    assert mm.add("a", 1, 2, ttl=100, gt=True) == 1
    left = expiries(mm, "a")
    assert 999 < left[1] <= 1001  # not shortened
    assert 99 < left[2] <= 101
    assert mm.add("a", 2, ttl=500, gt=True) == 0
    assert 499 < expiries(mm, "a")[2] <= 501
    assert 999 < raw.pttl("gt:a") / 1000 <= 1001


def test_xx_and_gt_together(make: Factory) -> None:
    mm = make("xxgt")
    mm.add("a", 1, ttl=100)
    assert mm.add("a", 1, 2, ttl=50, xx=True, gt=True) == 0
    assert list(expiries(mm, "a")) == [1]
    assert 99 < expiries(mm, "a")[1] <= 101
    assert mm.add("a", 1, ttl=500, xx=True, gt=True) == 0
    assert 499 < expiries(mm, "a")[1] <= 501


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
    assert ahead.add("a", 1, 2, ttl=100, nx=True) == 1  # 1 is not live for it
    assert raw.zscore("band:a", "2") - time.time() < 501  # 2 kept its expiry
    assert raw.zscore("band:a", "1") - time.time() > 140  # 1 re-added on its clock
    honest.add("a", 3, ttl=20)
    assert ahead.add("a", 3, ttl=900, xx=True) == 0
    assert raw.zscore("band:a", "3") - time.time() < 21  # not live for it: untouched
