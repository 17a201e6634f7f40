"""The sans-I/O core on its own: expiry arithmetic, key names, command plans, the protocol."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import NoScriptError, ResponseError

from multimapwithttl import _commands
from multimapwithttl._commands import Call, KeyWrite, delete_calls, read_calls, write_calls
from multimapwithttl._expiry import Grain, lifetime_ms, live_bound
from multimapwithttl._keys import key_of, name_of, scan_pattern, slot_of
from multimapwithttl._protocol import Conversation, Load, Send, raise_first_error
from multimapwithttl._scripts import READ, WRITE

GRAINS = st.sampled_from([1.0, 0.001, 0.01, 0.25, 0.5, 5.0, 60.0, 0.1])
TIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)


@given(grain=GRAINS, when=TIMES)
def test_round_up_lands_on_the_grain_at_or_after(grain: float, when: float) -> None:
    score = Grain(grain).round_up(when)
    assert when <= score < when + grain + 1e-6
    ticks = score / grain
    assert math.isclose(ticks, round(ticks), rel_tol=1e-12, abs_tol=1e-6)


@given(when=TIMES)
def test_whole_seconds_send_ints(when: float) -> None:
    grain = Grain(1.0)
    arg = grain.score_arg(grain.round_up(when))
    assert isinstance(arg, int)
    assert arg == math.ceil(when)


def test_sub_second_scores_are_sent_exactly() -> None:
    grain = Grain(0.001)
    assert grain.score_arg(grain.round_up(1795608000.3001)) == "1795608000.301"
    assert Grain(0.25).score_arg(Grain(0.25).round_up(10.1)) == "10.25"
    assert not Grain(0.5).whole
    assert Grain(60.0).whole
    assert Grain(1e-7).round_up(1.00000001) >= 1.00000001


def test_lifetimes_and_bounds() -> None:
    assert lifetime_ms(100.0, 90.5) == 9500
    assert lifetime_ms(100.0, 100.5) == 0
    assert live_bound(12.5) == "(12.5"


def test_keys_names_and_scan_patterns() -> None:
    assert key_of("p", "n") == "p:n"
    assert name_of("p", b"p:a:b") == "a:b"
    assert name_of("p", "p:x") == "x"
    assert scan_pattern("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\:*"
    assert slot_of("{tag}:x") == slot_of("{tag}:y")


@given(sizes=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=40))
def test_write_calls_respect_bounds_and_keep_every_value(sizes: list[int]) -> None:
    writes = [
        KeyWrite(f"k{i}", list(range(n)), score=100, lifetime_ms=5)
        for i, n in enumerate(sizes)
        if n
    ]
    calls = write_calls(writes, 1.5, cluster=False)
    seen: dict[str, int] = {}
    for call in calls:
        assert call.args[:2] == ("EVALSHA", WRITE.sha)
        assert call.script is WRITE
        nkeys = call.args[2]
        keys = call.args[3 : 3 + nkeys]
        argv = list(call.args[3 + nkeys :])
        assert argv.pop(0) == "1.5"
        total = 0
        for key in keys:
            lifetime, nadd, score = argv.pop(0), argv.pop(0), argv.pop(0)
            assert lifetime == 5
            assert score == 100
            del argv[:nadd]
            seen[key] = seen.get(key, 0) + nadd
            total += nadd
            assert argv.pop(0) == 0
        assert argv == []
        assert total <= _commands.MAX_VALUES_PER_CALL
        assert total + _commands.KEY_WEIGHT * nkeys <= max(
            _commands.MAX_WEIGHT_PER_CALL, _commands.MAX_VALUES_PER_CALL + _commands.KEY_WEIGHT
        )
    assert seen == {f"k{i}": n for i, n in enumerate(sizes) if n}


def test_split_spreads_groups_and_removals() -> None:
    write = KeyWrite("k", [1, 1, 1, 2, 1, 3, 2, 4, 2, 5], removals=[6, 7, 8], lifetime_ms=9)
    pieces = write.split(3)
    assert [p.adds for p in pieces] == [[1, 1, 1, 2, 1, 3], [2, 4, 2, 5], []]
    assert [p.removals for p in pieces] == [[], [6], [7, 8]]
    assert [p.argv()[:3] for p in pieces] == [[9, 3, ""], [9, 2, ""], [9, 0, ""]]
    assert write.split(100) == [write]
    shared = KeyWrite("k", [1, 2, 3, 4, 5], score=7, lifetime_ms=9).split(2)
    assert [p.argv() for p in shared] == [
        [9, 2, 7, 1, 2, 0],
        [9, 2, 7, 3, 4, 0],
        [9, 1, 7, 5, 0],
    ]


def test_cluster_plans_never_mix_slots() -> None:
    keys = [f"p:{i}" for i in range(300)] + [f"{{t}}:{i}" for i in range(300)]
    writes = [KeyWrite(k, [1], score=1) for k in keys]
    for call in write_calls(writes, 0.0, cluster=True):
        n = call.args[2]
        assert len({slot_of(k) for k in call.args[3 : 3 + n]}) == 1
    plan = read_calls(keys, "(0", cluster=True, scripts=True)
    assert sorted(i for _, positions in plan for i in positions) == list(range(600))
    for call, positions in plan:
        assert len({slot_of(keys[i]) for i in positions}) == 1
        assert (call.script is READ) == (len(positions) > 1)
    for call in delete_calls(keys, cluster=True):
        assert len({slot_of(k) for k in call.args[1:]}) == 1


def test_read_plans_without_scripts_use_plain_commands() -> None:
    plan = read_calls(["a", "b", "c"], "(5", cluster=False, scripts=False)
    assert [call.args for call, _ in plan] == [("ZRANGEBYSCORE", k, "(5", "+inf") for k in "abc"]
    ((script_call, positions),) = read_calls(["a", "b"], "(5", cluster=False, scripts=True)
    assert script_call.args == ("EVALSHA_RO", READ.sha, 2, "a", "b", "(5")
    assert positions == [0, 1]
    assert len(script_call.fallback) == 2


def _drive(conversation: Conversation, calls: list[Call], answer: Any) -> tuple[Any, list[Any]]:
    """Run ``conversation.send`` against ``answer(request) -> result``, logging requests."""
    log: list[Any] = []
    op = conversation.send(calls)
    reply: Any = None
    try:
        while True:
            request = op.send(reply)
            log.append(request)
            reply = answer(request)
    except StopIteration as done:
        return done.value, log


def test_noscript_loads_and_resends_only_the_failed_calls() -> None:
    calls = [Call(("EVALSHA", WRITE.sha, 0), script=WRITE), Call(("PING",))]
    first = [True]

    def answer(request: Any) -> Any:
        if isinstance(request, Load):
            return None
        if first[0]:
            first[0] = False
            return [NoScriptError("NOSCRIPT"), "PONG"]
        return [7]

    replies, log = _drive(Conversation(), calls, answer)
    assert replies == [7, "PONG"]
    assert log == [Send(calls), Load(WRITE), Send([calls[0]])]


def test_noscript_forever_gives_up_with_the_error() -> None:
    calls = [Call(("EVALSHA", WRITE.sha, 0), script=WRITE)]

    def answer(request: Any) -> Any:
        return None if isinstance(request, Load) else [NoScriptError("NOSCRIPT")]

    replies, log = _drive(Conversation(), calls, answer)
    assert isinstance(replies[0], NoScriptError)
    assert sum(isinstance(r, Load) for r in log) == 3
    with pytest.raises(NoScriptError):
        raise_first_error(replies)


def test_a_server_without_evalsha_ro_gets_plain_reads_from_then_on() -> None:
    conversation = Conversation()
    ((call, _),) = read_calls(["a", "b"], "(0", cluster=False, scripts=True)

    def answer(request: Any) -> Any:
        if request.calls[0].args[0] == "EVALSHA_RO":
            return [ResponseError("unknown command 'evalsha_ro'")]
        return [[b"1"], [b"2"]]

    replies, _ = _drive(conversation, [call], answer)
    assert replies == [[[b"1"], [b"2"]]]
    assert conversation.read_scripts is False
