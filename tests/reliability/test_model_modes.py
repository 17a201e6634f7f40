"""Model-based, exact: every write mode against a plain-Python model, on a frozen clock.

fakeredis follows the frozen clock (its TIME and its key expiry), so the
model can demand exact answers: which values are live, how many each write
made new, and that the key's TTL ends exactly with its newest live value.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import fakeredis
from freezegun import freeze_time
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from multimapwithttl import MultiMapWithTTL

NAMES = st.sampled_from(["a", "b", "c"])
VALUES = st.lists(st.sampled_from([1, 2, 3, 4]), max_size=4)
TTLS = st.sampled_from([1, 2.5, 5, 30])
MODES = st.sampled_from(
    [
        {},
        {"nx": True},
        {"xx": True},
        {"gt": True},
        {"xx": True, "gt": True},
        {"lt": True},
        {"xx": True, "lt": True},
    ]
)
CH = st.sampled_from([{}, {"ch": True}])
START = 1_800_000_000.3  # never on a whole second: no value expires at exactly "now"


class ModesModel(RuleBasedStateMachine):
    """name -> value -> stored score (collected only when the name is written)."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = freeze_time(datetime.datetime.fromtimestamp(START, datetime.timezone.utc))
        self.frozen: Any = self.clock.start()
        self.client = fakeredis.FakeRedis()
        self.mm = MultiMapWithTTL(
            self.client, "m", clock=self.pick_clock(), max_values=self.max_values
        )
        # Another writer on the same keys without the cap: names may then
        # hold more than it, until the next capped write.
        self.uncapped = MultiMapWithTTL(self.client, "m", clock=self.pick_clock())
        self.model: dict[str, dict[int, float]] = {}

    def pick_clock(self) -> Any:
        return "client"

    #: The multimap's cap (None: none).
    max_values: int | None = None

    def teardown(self) -> None:
        self.clock.stop()

    @property
    def now(self) -> float:
        return START + self.elapsed

    elapsed = 0.0

    def live(self, name: str) -> dict[int, float]:
        return {v: s for v, s in self.model.get(name, {}).items() if s > self.now}

    def visible(self, name: str) -> dict[int, float]:
        """What reads of the (capped) multimap show: the live values a cap keeps.

        Another writer may have left more than the cap (evicted on the next
        capped write); reads never show that surplus.
        """
        live = self.live(name)
        if self.max_values is None or len(live) <= self.max_values:
            return live
        order = sorted(live, key=lambda v: (live[v], str(v).encode()), reverse=True)
        return {v: live[v] for v in order[: self.max_values]}

    def apply(
        self,
        name: str,
        scored: list[tuple[int, float]],
        mode: dict[str, bool],
        capped: bool = True,
    ) -> int:
        """Apply one write to the model; return what it returns.

        How many values it made new; with ``ch``, plus the live values whose
        expiry changed (ended by a past one, too); with a cap, less those
        evicted at once.
        """
        nx, xx, gt, lt, ch = (mode.get(flag, False) for flag in ("nx", "xx", "gt", "lt", "ch"))
        stored = {v: s for v, s in self.model.get(name, {}).items() if s > self.now}
        latest = dict(scored)  # the last expiry given for a value wins
        result = 0
        counted = []  # values counted that a cap may evict at once
        for value, score in latest.items():
            was_live = value in stored
            if score <= self.now:  # an expiry already past: ends a live value
                if was_live and not nx and not gt:
                    del stored[value]
                    result += ch
                continue
            if not was_live:
                if not xx:
                    stored[value] = score
                    result += 1
                    counted.append(value)
            elif not nx:
                old = stored[value]
                new = max(old, score) if gt else min(old, score) if lt else score
                stored[value] = new
                if ch and new != old:
                    result += 1
                    counted.append(value)
        if capped and self.max_values is not None and len(stored) > self.max_values:
            # The earliest expiring go; among equals, the lower member bytes.
            order = sorted(stored, key=lambda v: (stored[v], str(v).encode()))
            for value in order[: len(stored) - self.max_values]:
                del stored[value]
                result -= value in counted
        self.model[name] = stored
        return result

    @rule(name=NAMES, values=VALUES, ttl=TTLS, mode=MODES, ch=CH)
    def add(
        self, name: str, values: list[int], ttl: float, mode: dict[str, bool], ch: dict[str, bool]
    ) -> None:
        mode = {**mode, **ch}
        score = float(math.ceil(self.now + ttl))
        expected = self.apply(name, [(v, score) for v in values], mode) if values else 0
        assert self.mm.add(name, *values, ttl=ttl, **mode) == expected

    @rule(name=NAMES, values=VALUES, ttl=TTLS)
    def add_uncapped(self, name: str, values: list[int], ttl: float) -> None:
        score = float(math.ceil(self.now + ttl))
        expected = self.apply(name, [(v, score) for v in values], {}, capped=False) if values else 0
        assert self.uncapped.add(name, *values, ttl=ttl) == expected

    @rule(
        name=NAMES,
        timed=st.lists(
            st.tuples(st.sampled_from([-3, -0.5, 0.5, 4, 40]), st.sampled_from([1, 2, 3, 4])),
            max_size=4,
        ),
        mode=MODES,
        ch=CH,
    )
    def add_with_ttl(
        self,
        name: str,
        timed: list[tuple[float, int]],
        mode: dict[str, bool],
        ch: dict[str, bool],
    ) -> None:
        mode = {**mode, **ch}
        pairs = [(self.now + offset, value) for offset, value in timed]
        scored = [(value, float(math.ceil(at))) for at, value in pairs]
        expected = self.apply(name, scored, mode) if pairs else 0
        assert self.mm.add_many_with_ttl([(name, pairs)], **mode) == expected

    @rule(name=NAMES, values=VALUES)
    def remove(self, name: str, values: list[int]) -> None:
        live = self.live(name)
        expected = len(set(values) & set(live))
        if values:
            self.model[name] = {v: s for v, s in live.items() if v not in values}
        assert self.mm.remove(name, *values) == expected

    @rule(seconds=st.sampled_from([0.25, 1, 3]))
    def tick(self, seconds: float) -> None:
        self.elapsed += seconds
        self.frozen.tick(seconds)

    @invariant()
    def reads_match_and_keys_end_with_their_newest_live_value(self) -> None:
        for name in ("a", "b", "c"):
            live = self.live(name)
            shown = self.visible(name)
            assert sorted(self.mm.get(name)) == sorted(shown)
            assert self.mm.count(name) == len(shown)
            assert dict(self.mm.get_with_expiry(name)) == shown
            assert sorted(self.mm.iter_values(name, count=1)) == sorted(shown)
            assert [v for v in (1, 2, 3, 4) if self.mm.contains(name, v)] == sorted(shown)
            pttl = self.client.pttl(f"m:{name}")
            if live:
                assert pttl == math.ceil((max(live.values()) - self.now) * 1000)
            else:
                assert pttl == -2  # no key: it went with its last live value
        assert sorted(self.mm.names()) == sorted(n for n in "abc" if self.live(n))


class ServerClockModel(ModesModel):
    """The same model with ``clock="server"``: fakeredis's TIME is the frozen clock."""

    def pick_clock(self) -> Any:
        return "server"


class CappedModel(ModesModel):
    """The same model with ``max_values=2``: every write keeps the two latest-expiring."""

    max_values = 2


class CappedServerClockModel(ModesModel):
    """``max_values=2`` on the server's clock."""

    max_values = 2

    def pick_clock(self) -> Any:
        return "server"


SETTINGS = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_every_mode_matches_the_model() -> None:
    run_state_machine_as_test(ModesModel, settings=SETTINGS)


def test_every_mode_matches_the_model_on_the_server_clock() -> None:
    run_state_machine_as_test(ServerClockModel, settings=SETTINGS)


def test_a_cap_matches_the_model() -> None:
    run_state_machine_as_test(CappedModel, settings=SETTINGS)


def test_a_cap_matches_the_model_on_the_server_clock() -> None:
    run_state_machine_as_test(CappedServerClockModel, settings=SETTINGS)
