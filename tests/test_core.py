"""The sans-I/O core on its own: expiry arithmetic, key names, command plans, the protocol."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.exceptions import NoPermissionError, NoScriptError, ResponseError

from multimapwithttl import _commands
from multimapwithttl._commands import (
    Call,
    KeyWrite,
    WriteMode,
    delete_calls,
    read_calls,
    read_script_call,
    write_calls,
)
from multimapwithttl._encode import UTF8, codec
from multimapwithttl._expiry import Grain, live_bound
from multimapwithttl._keys import name_of, scan_pattern, slot_of
from multimapwithttl._protocol import (
    Conversation,
    Load,
    Send,
    raise_batch_error,
    raise_first_error,
)
from multimapwithttl._scripts import DELETE, READ, READ_PLAIN, WRITE

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


def test_bounds_and_grain_digits() -> None:
    assert live_bound(12.5) == "(12.5"
    assert (Grain(1.0).digits, Grain(60.0).digits, Grain(0.001).digits, Grain(0.25).digits) == (
        0,
        0,
        3,
        2,
    )


def test_modes_as_the_script_takes_them() -> None:
    assert WriteMode().arg() == ""
    assert WriteMode(nx=True).arg() == "NX"
    assert WriteMode(xx=True, gt=True).arg() == "XXGT"
    assert WriteMode(gt=True).arg() == "GT"


def test_keys_names_and_scan_patterns() -> None:
    assert UTF8.key("p", b"p", "n") == b"p:n"
    assert codec("latin-1").key("pé", b"p\xe9", "é") == b"p\xe9:\xe9"
    # UTF-16 puts a byte order mark before each piece: the key is encoded whole.
    assert codec("utf-16").key("p", "p".encode("utf-16"), "n") == "p:n".encode("utf-16")
    assert name_of("p", UTF8.shown(b"p:a:b\xff")) == "a:b\\xff"
    assert name_of("p", "p:x") == "x"
    assert scan_pattern("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\:*"
    assert slot_of("{tag}:x") == slot_of(b"{tag}:y")


HEADER = ["1.5", "", "s", 100, 98500]


@settings(deadline=None)  # up to 200,000 values per example: its time varies with the load
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=40),
    width=st.sampled_from([1, 100, 5000, 150_000]),
)
def test_write_calls_respect_bounds_and_keep_every_value(sizes: list[int], width: int) -> None:
    writes = [KeyWrite(f"k{i}".encode(), [b"x" * width] * n) for i, n in enumerate(sizes) if n]
    calls = write_calls(writes, HEADER, cluster=False)
    seen: dict[bytes, int] = {}
    for call in calls:
        assert call.args[:2] == ("EVALSHA", WRITE.sha)
        assert call.script is WRITE
        nkeys = call.args[2]
        keys = call.args[3 : 3 + nkeys]
        argv = list(call.args[3 + nkeys :])
        assert argv[: len(HEADER)] == HEADER
        del argv[: len(HEADER)]
        total = nbytes = 0
        for key in keys:
            nadd = argv.pop(0)
            nbytes += sum(map(len, argv[:nadd]))
            del argv[:nadd]
            seen[key] = seen.get(key, 0) + nadd
            total += nadd
        assert argv == []
        assert total <= _commands.MAX_VALUES_PER_CALL
        assert total + _commands.KEY_WEIGHT * nkeys <= max(
            _commands.MAX_WEIGHT_PER_CALL, _commands.MAX_VALUES_PER_CALL + _commands.KEY_WEIGHT
        )
        # Bounded in bytes too: only a single value bigger than the bound travels alone.
        assert nbytes <= _commands.MAX_BYTES_PER_CALL or total == 1
    assert seen == {f"k{i}".encode(): n for i, n in enumerate(sizes) if n}


def test_split_spreads_members_and_pairs() -> None:
    pairs = KeyWrite(b"k", [b"1", b"a", b"1", b"b", b"2", b"c"], pairs=True)
    assert [p.argv() for p in pairs.split(2, 10**6)] == [
        [2, b"1", b"a", b"1", b"b"],
        [1, b"2", b"c"],
    ]
    assert pairs.split(100, 10**6) == [pairs]
    shared = KeyWrite(b"k", [b"1", b"2", b"3", b"4", b"5"]).split(2, 10**6)
    assert [p.argv() for p in shared] == [[2, b"1", b"2"], [2, b"3", b"4"], [1, b"5"]]
    big = KeyWrite(b"k", [b"x" * 1000] * 10).split(100, 2500)
    assert [len(p.items) for p in big] == [2, 2, 2, 2, 2]


def test_cluster_plans_never_mix_slots() -> None:
    keys = [f"p:{i}".encode() for i in range(300)] + [f"{{t}}:{i}".encode() for i in range(300)]
    writes = [KeyWrite(k, [b"1"]) for k in keys]
    for call in write_calls(writes, HEADER, cluster=True):
        n = call.args[2]
        assert len({slot_of(k) for k in call.args[3 : 3 + n]}) == 1
    plan = read_calls(keys, None, cluster=True)
    assert sorted(i for _, positions in plan for i in positions) == list(range(600))
    for call, positions in plan:
        assert len({slot_of(keys[i]) for i in positions}) == 1
        assert call.script is READ
    for call in delete_calls(keys, cluster=True):
        assert call.script is DELETE
        n = call.args[2]
        assert len({slot_of(k) for k in call.args[3 : 3 + n]}) == 1


def test_reads_on_the_client_clock_are_plain_commands_one_key_each() -> None:
    plan = read_calls([b"a", b"b", b"c"], "(5", cluster=False)
    assert [call.args for call, _ in plan] == [
        ("ZRANGEBYSCORE", k, "(5", "+inf") for k in (b"a", b"b", b"c")
    ]
    assert [positions for _, positions in plan] == [[0], [1], [2]]


def test_reads_on_the_server_clock_are_read_only_scripts_with_a_fallback() -> None:
    ((call, positions),) = read_calls([b"a", b"b"], None, cluster=False)
    assert call.args == ("EVALSHA_RO", READ.sha, 2, b"a", b"b", "members", 128 * 1024)
    assert positions == [0, 1]
    assert call.fallback is not None
    assert call.fallback.args[:2] == ("EVALSHA", READ_PLAIN.sha)
    assert READ.source.startswith("#!lua flags=no-writes\n")
    assert not READ_PLAIN.source.startswith("#!")


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


def test_write_calls_are_never_resent_unseen() -> None:
    (call,) = write_calls([KeyWrite(b"k", [b"1"])], HEADER, cluster=False)
    assert call.resend is False  # its reply counts new values: a rerun would lie
    read = read_script_call([b"k"], "count")
    log: list[Any] = []
    _drive(Conversation(), [call, read], lambda request: log.append(request) or [1, 2])
    assert log == [Send([call, read], resend=False)]
    _drive(Conversation(), [read], lambda request: log.append(request) or [2])
    assert log[-1] == Send([read], resend=True)


def test_noscript_forever_gives_up_with_the_error() -> None:
    calls = [Call(("EVALSHA", WRITE.sha, 0), script=WRITE)]

    def answer(request: Any) -> Any:
        return None if isinstance(request, Load) else [NoScriptError("NOSCRIPT")]

    replies, log = _drive(Conversation(), calls, answer)
    assert isinstance(replies[0], NoScriptError)
    assert sum(isinstance(r, Load) for r in log) == 3
    with pytest.raises(NoScriptError):
        raise_first_error(replies)


def test_a_server_without_evalsha_ro_gets_evalsha_from_then_on() -> None:
    conversation = Conversation()
    call = read_script_call([b"a"], "count")
    sent: list[str] = []

    def answer(request: Any) -> Any:
        if isinstance(request, Load):
            return None
        sent.append(request.calls[0].args[0])
        if request.calls[0].args[0] == "EVALSHA_RO":
            return [ResponseError("unknown command 'evalsha_ro', with args beginning with:")]
        return [3]

    replies, _ = _drive(conversation, [call], answer)
    assert replies == [3]
    assert conversation.read_only_scripts is False
    _drive(conversation, [call], answer)
    assert sent == ["EVALSHA_RO", "EVALSHA", "EVALSHA"]


def test_noscript_is_recognised_from_any_client_library() -> None:
    class NoScriptError(Exception):  # as valkey-py names its own class
        pass

    calls = [Call(("EVALSHA", WRITE.sha, 0), script=WRITE)]
    answers = iter([[NoScriptError("No matching script.")], None, [1]])
    replies, log = _drive(Conversation(), calls, lambda _request: next(answers))
    assert replies == [1]
    assert Load(WRITE) in log


def test_every_script_refuses_an_old_server_before_writing() -> None:
    for script in (READ, DELETE):
        body = script.source.split("local function too_old", 1)[1]
        # The check is defined, then called before anything else runs.
        assert "local old = too_old(KEYS[1])" in body
    # write.lua spells the same check out (a closure per call costs the
    # server), ahead of its first command.
    source = WRITE.source
    check = source.index("if redis.REDIS_VERSION_NUM == nil then")
    assert "local function too_old" not in source
    assert check < source.index("redis.pcall('TIME')")
    block = source[check : source.index("\nend\n", check)]
    assert "redis.pcall('PEXPIRETIME', KEYS[1])" in block
    assert "needs Redis 7.0+ or Valkey 7.2+" in block
    assert "nothing was written" in block


def test_both_packers_speak_the_redis_protocol() -> None:
    commands = [
        ("EVALSHA", WRITE.sha, 1, b"p:a", "1.5", "", "s", 1795662363, 3600000, 1, b"\xff\x00x"),
        ("ZRANGEBYSCORE", b"p:\xc3\xa9", "(1795656314.8468392", "+inf"),
        ("TIME",),
    ]
    plain = _commands.pack_plain(commands)
    assert plain == [
        b"*11\r\n$7\r\nEVALSHA\r\n$40\r\n" + WRITE.sha.encode() + b"\r\n$1\r\n1\r\n"
        b"$3\r\np:a\r\n$3\r\n1.5\r\n$0\r\n\r\n$1\r\ns\r\n$10\r\n1795662363\r\n"
        b"$7\r\n3600000\r\n$1\r\n1\r\n$3\r\n\xff\x00x\r\n"
        b"*4\r\n$13\r\nZRANGEBYSCORE\r\n$4\r\np:\xc3\xa9\r\n$19\r\n(1795656314.8468392\r\n"
        b"$4\r\n+inf\r\n"
        b"*1\r\n$4\r\nTIME\r\n"
    ]
    assert _commands.pack(commands) == plain


def test_calls_packed_ahead_go_out_as_packed_and_small_buffers_are_joined() -> None:
    big, medium = b"x" * 100_000, b"y" * 10_000
    writes = [_commands.KeyWrite(b"p:a", [big]), _commands.KeyWrite(b"p:b", [medium])]
    calls = [
        _commands.Call(("MULTI",)),
        *_commands.zadd_calls(writes, "1795662363"),
        _commands.Call(("PEXPIRE", b"p:b", 5000)),
        _commands.Call(("EXEC",)),
    ]
    assert all(call.packed for call in calls[1:3])
    buffers = _commands.pack_calls(calls)
    assert b"".join(buffers) == b"".join(_commands.pack_plain([call.args for call in calls]))
    # One send for what comes before the big member, the member as it is,
    # one for all the rest: a send per buffer would be a system call each.
    assert len(buffers) == 3
    assert buffers[1] is big


def test_a_big_argument_is_sent_as_it_is() -> None:
    # Joining a 100 KB member into one buffer with the rest copies it again.
    big = b"x" * 100_000
    commands = [("MULTI",), ("ZADD", b"p:a", "1795662363", big), ("EXEC",)]
    plain = _commands.pack_plain(commands)
    assert any(part is big for part in plain)
    assert b"".join(plain) == (
        b"*1\r\n$5\r\nMULTI\r\n*4\r\n$4\r\nZADD\r\n$3\r\np:a\r\n$10\r\n1795662363\r\n"
        b"$100000\r\n" + big + b"\r\n*1\r\n$4\r\nEXEC\r\n"
    )
    packed = _commands.pack(commands)
    assert b"".join(packed) == b"".join(plain)
    assert max(map(len, packed)) < 100_100  # the big command not joined with the others


def test_a_batch_refused_part_way_never_says_nothing_was_written() -> None:
    # The script's refusal speaks of its own call; the batch wrote the call before.
    calls = [
        Call(("EVALSHA", WRITE.sha, 1, b"p:a", "x"), script=WRITE),
        Call(("EVALSHA", WRITE.sha, 2, b"p:b", b"p:c", "x"), script=WRITE),
    ]
    refusal = NoPermissionError(
        "this user may not run ZREMRANGEBYRANK on key p:b, which multimapwithttl needs "
        '(see "Permissions" in the docs); nothing was written'
    )
    names = {b"p:a": "a", b"p:b": "b", b"p:c": "c"}
    with pytest.raises(NoPermissionError) as raised:
        raise_batch_error(calls, [1, refusal], names, "written")
    message = str(raised.value)
    assert "nothing was written" not in message
    assert "the call refused wrote nothing" in message
    assert "1 of 3 names were written before this error" in message
    assert raised.value.written == ["a"]  # type: ignore[attr-defined]
    with pytest.raises(NoPermissionError) as alone:
        raise_batch_error(calls[1:], [refusal], names, "written")
    assert str(alone.value).endswith("nothing was written")  # true of a batch of one call
