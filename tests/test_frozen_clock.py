"""Exact expiry arithmetic under a frozen client clock (fakeredis: its clock is frozen too)."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest

from multimapwithttl import MultiMapWithTTL


@pytest.fixture
def client() -> Any:
    return fakeredis.FakeRedis()


@pytest.mark.freeze_time("2026-11-25 12:00:00.300")
def test_whole_second_scores_round_up_and_live_at_least_ttl(client: Any, freezer: Any) -> None:
    mm = MultiMapWithTTL(client, "f", ttl=10)
    mm.add("a", 1)
    ((_, score),) = client.zrange("f:a", 0, -1, withscores=True)
    now = 1795608000.3
    assert score == 1795608011  # ceil(now + 10)
    assert 10_700 <= client.pttl("f:a") <= 10_701  # to the ms, float rounding up
    freezer.tick(10.69)
    assert list(mm.get("a")) == [1]
    freezer.tick(0.02)  # now past 1795608011.0
    assert list(mm.get("a")) == []
    assert mm.count("a") == 0
    assert not client.exists("f:a")
    assert now + 10 <= score <= now + 11


@pytest.mark.freeze_time("2026-11-25 12:00:00.300")
def test_millisecond_scores(client: Any, freezer: Any) -> None:
    mm = MultiMapWithTTL(client, "ms", ttl=0.25, resolution=0.001)
    mm.add("a", 1)
    ((_, score),) = client.zrange("ms:a", 0, -1, withscores=True)
    assert score == 1795608000.55
    assert mm.get_with_expiry("a") == [(1, 1795608000.55)]
    freezer.tick(0.249)
    assert mm.contains("a", 1)
    freezer.tick(0.002)
    assert not mm.contains("a", 1)


@pytest.mark.freeze_time("2026-11-25 12:00:00")
def test_a_value_at_exactly_now_is_dead(client: Any) -> None:
    mm = MultiMapWithTTL(client, "edge")
    mm.add_many_with_ttl([("a", [(1795608000, "now"), (1795608001, "next")])])
    assert mm.count("a") == 1


@pytest.mark.freeze_time("2026-11-25 12:00:00")
def test_coarse_resolution(client: Any) -> None:
    mm = MultiMapWithTTL(client, "coarse", ttl=61, resolution=60)
    mm.add("a", 1)
    ((_, score),) = client.zrange("coarse:a", 0, -1, withscores=True)
    assert score == 1795608120  # the next minute boundary after now + 61 s
