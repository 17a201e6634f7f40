"""Model-based: random sequences of every operation against a plain-Python model of live values.

Real time, millisecond resolution, short ttls. The model knows each value's
expiry only within the span of the call that wrote it, so it compares only
values that are clearly alive or clearly dead at the moment of a read.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from multimapwithttl import MultiMapWithTTL
from multimapwithttl._expiry import Grain

from ..servers import RedisServer

NAMES = st.sampled_from(["a", "b", "c", 7])
VALUES = st.sampled_from([1, 2, 3, 4, 5])
TTLS = st.sampled_from([0.03, 0.08, 0.2, 30.0])
MS = Grain(0.001)


class MultiMapModel(RuleBasedStateMachine):
    """name -> value -> (earliest, latest) possible expiry time."""

    port: int = 0

    def __init__(self) -> None:
        super().__init__()
        self.client = redis.Redis(port=self.port)
        self.client.flushall()
        self.mm = MultiMapWithTTL(self.client, "model", resolution=0.001)
        self.model: dict[str, dict[int, tuple[float, float]]] = {}

    def teardown(self) -> None:
        self.client.close()

    # -- helpers -----------------------------------------------------------

    def _write(self, items: list[tuple[Any, list[int]]], ttl: float, call: Any) -> None:
        before = time.time()
        call()
        after = time.time()
        for name, values in items:
            for value in values:
                self.model.setdefault(str(name), {})[value] = (before + ttl, after + ttl + 0.001)

    def _split(self, name: Any, start: float, end: float) -> tuple[set[int], set[int]]:
        """(clearly alive, possibly alive) values of ``name`` for a read between start and end."""
        alive, maybe = set(), set()
        for value, (low, high) in self.model.get(str(name), {}).items():
            if low > end:
                alive.add(value)
            if high > start:
                maybe.add(value)
        return alive, maybe

    # -- writes --------------------------------------------------------------

    @rule(name=NAMES, values=st.lists(VALUES, max_size=3), ttl=TTLS)
    def add(self, name: Any, values: list[int], ttl: float) -> None:
        self._write([(name, values)], ttl, lambda: self.mm.add(name, *values, ttl=ttl))

    @rule(
        data=st.lists(st.tuples(NAMES, st.lists(VALUES, max_size=3)), max_size=3),
        ttl=TTLS,
    )
    def add_many(self, data: list[tuple[Any, list[int]]], ttl: float) -> None:
        self._write(data, ttl, lambda: self.mm.add_many(data, ttl=ttl))

    @rule(name=NAMES, value=VALUES, ttl=TTLS)
    def add_many_with_ttl(self, name: Any, value: int, ttl: float) -> None:
        expire_at = time.time() + ttl
        self.mm.add_many_with_ttl([(name, [(expire_at, value)])])
        exact = MS.round_up(expire_at)
        self.model.setdefault(str(name), {})[value] = (exact, exact)

    @rule(name=NAMES, values=st.lists(VALUES, max_size=3, unique=True))
    def remove(self, name: Any, values: list[int]) -> None:
        start = time.time()
        removed = self.mm.remove(name, *values)
        end = time.time()
        alive, maybe = self._split(name, start, end)
        assert len(alive & set(values)) <= removed <= len(maybe & set(values))
        for value in values:
            self.model.get(str(name), {}).pop(value, None)

    @rule(name=NAMES)
    def delete(self, name: Any) -> None:
        self.mm.delete(name)
        self.model.pop(str(name), None)

    @rule(seconds=st.sampled_from([0.02, 0.1]))
    def wait(self, seconds: float) -> None:
        time.sleep(seconds)

    # -- reads -----------------------------------------------------------------

    @rule(name=NAMES)
    def get(self, name: Any) -> None:
        start = time.time()
        got = set(self.mm.get(name))
        end = time.time()
        alive, maybe = self._split(name, start, end)
        assert alive <= got <= maybe

    @rule(names=st.lists(NAMES, min_size=1, max_size=4))
    def get_many(self, names: list[Any]) -> None:
        start = time.time()
        got = [set(values) for values in self.mm.get_many(*names)]
        end = time.time()
        for name, values in zip(names, got, strict=True):
            alive, maybe = self._split(name, start, end)
            assert alive <= values <= maybe

    @rule(name=NAMES, value=VALUES)
    def contains(self, name: Any, value: int) -> None:
        start = time.time()
        found = self.mm.contains(name, value)
        end = time.time()
        alive, maybe = self._split(name, start, end)
        if value in alive:
            assert found
        if value not in maybe:
            assert not found

    @rule(name=NAMES)
    def count_and_expiry(self, name: Any) -> None:
        start = time.time()
        count = self.mm.count(name)
        pairs = self.mm.get_with_expiry(name)
        end = time.time()
        alive, maybe = self._split(name, start, end)
        assert len(alive) <= count <= len(maybe)
        for value, expire_at in pairs:
            assert value in maybe
            low, high = self.model[str(name)][value]
            assert low - 1e-6 <= expire_at <= high + 1e-6

    @invariant()
    def every_key_has_a_ttl(self) -> None:
        for key in self.client.scan_iter(match="model:*"):
            assert self.client.pttl(key) != -1

    @initialize()
    def start(self) -> None:
        self.started = time.time()


def test_library_matches_the_model(real_server: RedisServer) -> None:
    MultiMapModel.port = real_server.port
    run_state_machine_as_test(
        MultiMapModel,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.mark.parametrize("seed", [1])
def test_model_can_fail(real_server: RedisServer, seed: int) -> None:
    """The model is not vacuous: a library that forgets a value is caught."""
    client = redis.Redis(port=real_server.port)
    client.flushall()
    mm = MultiMapWithTTL(client, "model", resolution=0.001)
    mm.add("a", 1, ttl=30)
    client.zrem("model:a", 1)  # sabotage behind the library's back
    machine = MultiMapModel.__new__(MultiMapModel)
    machine.model = {"a": {1: (time.time() + 29, time.time() + 30)}}
    machine.mm = mm
    with pytest.raises(AssertionError):
        machine.get("a")
