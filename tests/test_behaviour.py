"""What a user of either class sees, on every backend (fake, real, cluster) and flavour."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from .clock import MS, Span, ends_with_newest, key_end, lives, newest, quick
from .conftest import Factory
from .errors import response_error


def test_add_then_get_round_trips_ints(make: Factory) -> None:
    mm = make("rt")
    mm.add("a", 1, 2, 3)
    assert sorted(mm.get("a")) == [1, 2, 3]


def test_get_many_answers_in_the_order_asked(make: Factory) -> None:
    mm = make("order")
    mm.add_many([("b", (4, 5)), ("a", [1]), (7, [70, 71])])
    got = [sorted(values) for values in mm.get_many("a", "nobody", 7, "b", "a")]
    assert got == [[1], [], [70, 71], [4, 5], [1]]


def test_get_returns_a_next_able_iterator_like_0_1_0(make: Factory) -> None:
    mm = make("iter")
    mm.add("a", 5)
    assert list(mm.get("a")) == [5]
    if mm.__class__.__name__ == "MultiMapWithTTL":
        assert next(mm.get("a")) == 5
        assert [list(x) for x in mm.get_many("a")] == [[5]]


def test_add_with_no_values_writes_nothing(make: Factory, raw: Any) -> None:
    mm = make("none")
    mm.add("a")
    mm.add_many([("a", [])])
    mm.add_many([])
    assert make.backend.all_keys() == []  # type: ignore[attr-defined]


def test_str_bytes_and_float_values_read_back_with_their_cast(make: Factory) -> None:
    words = make("w", cast_fn=str)
    words.add("a", "héllo", "wörld")
    assert sorted(words.get("a")) == ["héllo", "wörld"]
    blobs = make("b", cast_fn=bytes)
    blobs.add("a", b"\x00\xff", b"plain")
    assert sorted(blobs.get("a")) == [b"\x00\xff", b"plain"]
    floats = make("f", cast_fn=float)
    floats.add("a", 1.5, 0.1)
    assert sorted(floats.get("a")) == [0.1, 1.5]


def test_decode_responses_client_works(make: Factory) -> None:
    mm = make("dec", cast_fn=str, decode_responses=True)
    mm.add("a", "x")
    assert list(mm.get("a")) == ["x"]
    assert list(mm.names()) == ["a"]
    assert [v for v, _ in mm.get_with_expiry("a")] == ["x"]


def test_int_names_are_decimal_and_share_keys_with_str_names(make: Factory, raw: Any) -> None:
    mm = make("n")
    mm.add(42, 1)
    assert list(mm.get("42")) == [1]
    assert raw.exists("n:42")


def test_delete_whole_names_and_no_names_is_a_no_op(make: Factory) -> None:
    mm = make("del")
    mm.add_many([("a", [1]), ("b", [2]), ("c", [3])])
    mm.delete()
    mm.delete("a", "c", "never")
    assert [list(v) for v in mm.get_many("a", "b", "c")] == [[], [2], []]


def test_remove_counts_only_live_values(make: Factory) -> None:
    mm = make("rm", resolution=0.001)
    mm.add("a", 1, 2, 3, ttl=60)
    mm.add("a", 4, ttl=0.2)
    make.backend.advance(0.35)  # type: ignore[attr-defined]
    assert mm.remove("a", 1, 1, 4, 99) == 1  # 1 once, 4 expired, 99 absent
    assert sorted(mm.get("a")) == [2, 3]
    assert mm.remove("a") == 0


def test_contains_and_count_see_only_live_values(make: Factory) -> None:
    mm = make("cc", resolution=0.001)
    for i, span in quick(0.6):  # 3 must be read back before its 0.6 s are over
        name = f"a{i}"
        with span:
            mm.add(name, 1, 2, ttl=60)
            mm.add(name, 3, ttl=0.6)
            counted, contained = mm.count(name), mm.contains(name, 3)
    assert counted == 3
    assert contained
    make.backend.advance(0.75)  # type: ignore[attr-defined]
    assert mm.count(name) == 2
    assert not mm.contains(name, 3)
    assert mm.contains(name, 1)
    assert not mm.contains("nobody", 1)
    assert mm.count("nobody") == 0


def test_get_with_expiry_gives_float_expiry_times_in_order(make: Factory) -> None:
    mm = make("gwe", cast_fn=str)
    before = time.time()
    mm.add("a", "late", ttl=100)
    mm.add("a", "soon", ttl=10)
    got = mm.get_with_expiry("a")
    assert [v for v, _ in got] == ["soon", "late"]
    assert all(isinstance(at, float) for _, at in got)
    assert before + 10 <= got[0][1] <= time.time() + 11
    assert before + 100 <= got[1][1] <= time.time() + 101


def test_names_lists_this_prefix_only_with_glob_characters_escaped(make: Factory) -> None:
    odd = make("we:*[?ird")
    odd.add_many([("x", [1]), (5, [2]), ("with:colon", [3])])
    other = make("weXYZird")  # would match an unescaped "we*[?ird"-style glob
    other.add("y", 1)
    plain = make("we*")  # "we*:..." keys must not show up under "we:*[?ird" and back
    plain.add("z", 1)
    assert sorted(odd.names()) == ["5", "with:colon", "x"]
    assert sorted(plain.names()) == ["z"]


def test_values_expire_one_by_one(make: Factory) -> None:
    mm = make("exp", resolution=0.001)
    mm.add("a", "short", ttl=0.2)
    mm.add("a", "long", ttl=30)
    make.backend.advance(0.35)  # type: ignore[attr-defined]
    assert mm.count("a") == 1
    assert mm.contains("a", "long")


def test_re_adding_a_value_sets_its_expiry_to_the_latest_write(make: Factory) -> None:
    mm = make("readd", resolution=0.001)
    mm.add("a", 1, ttl=30)
    mm.add("a", 1, ttl=0.2)  # the latest write wins, even when shorter
    make.backend.advance(0.35)  # type: ignore[attr-defined]
    assert list(mm.get("a")) == []


def test_every_key_gets_a_ttl_on_its_first_write(make: Factory, raw: Any) -> None:
    mm = make("ttl", ttl=100)
    with Span() as span:
        mm.add("a", 1)
        mm.add_many([("b", [1]), ("c", [2])], ttl=50)
        mm.add_many_with_ttl([("d", [(time.time() + 20, 1)])])
    for key, ttl in [("ttl:a", 100), ("ttl:b", 50), ("ttl:c", 50), ("ttl:d", 20)]:
        assert lives(raw, key, ttl, span), key


def test_a_shorter_write_never_cuts_the_key_ttl(make: Factory, raw: Any) -> None:
    mm = make("cut", cast_fn=str)
    mm.add("a", "long", ttl=1000)
    long_ends = raw.zscore("cut:a", "long")
    with Span() as span:
        mm.add("a", "short", ttl=5)
    assert newest(raw, "cut:a") == long_ends
    assert ends_with_newest(raw, "cut:a", span)
    assert sorted(mm.get_with_expiry("a"), key=lambda p: p[1])[-1] == ("long", long_ends)


def test_the_key_disappears_soon_after_its_last_value_expires(make: Factory, raw: Any) -> None:
    mm = make("gone", resolution=0.001)
    for i, span in quick(0.6):  # the key must be seen before its 0.6 s are over
        with span:
            mm.add(f"a{i}", 1, 2, ttl=0.6)
            existed = raw.exists(f"gone:a{i}")
        make.backend.advance(0.8)  # type: ignore[attr-defined]
    assert existed
    assert not raw.exists(f"gone:a{i}")
    assert list(mm.names()) == []


def test_expired_members_are_collected_on_write(make: Factory, raw: Any) -> None:
    mm = make("gc", resolution=0.001)
    mm.add("a", 4, ttl=60)
    mm.add("a", 1, 2, 3, ttl=0.2)
    make.backend.advance(0.35)  # type: ignore[attr-defined]
    assert raw.zcard("gc:a") == 4  # reads never write, so the dead are still stored
    mm.add("a", 5)
    assert sorted(int(m) for m in raw.zrange("gc:a", 0, -1)) == [4, 5]


def test_default_resolution_stores_whole_seconds_rounded_up(make: Factory, raw: Any) -> None:
    mm = make("res1", ttl=10)
    before = time.time()
    mm.add("a", 1)
    after = time.time()
    ((_, score),) = raw.zrange("res1:a", 0, -1, withscores=True)
    assert score == int(score)
    assert math.ceil(before + 10) <= score <= math.ceil(after + 10)


def test_millisecond_resolution_rounds_up_to_the_millisecond(make: Factory, raw: Any) -> None:
    mm = make("res3", ttl=1.5, resolution=0.001)
    before = time.time()
    mm.add("a", 1)
    after = time.time()
    ((_, score),) = raw.zrange("res3:a", 0, -1, withscores=True)
    assert before + 1.5 <= score <= after + 1.5 + 0.001
    assert abs(score * 1000 - round(score * 1000)) < 1e-3


def test_add_many_with_ttl_uses_given_times_last_duplicate_wins(make: Factory, raw: Any) -> None:
    mm = make("abs")
    now = time.time()
    mm.add_many_with_ttl(
        [
            ("a", [(now + 100, 1), (now + 200, 2), (now - 5, 3), (now + 50, 1)]),
            ("b", ((now + 30.2, "x"),)),
            ("c", [(now - 1, "dead")]),
        ]
    )
    scores = dict(raw.zrange("abs:a", 0, -1, withscores=True))
    assert scores == {b"1": math.ceil(now + 50), b"2": math.ceil(now + 200)}
    assert key_end(raw, "abs:a") >= math.ceil(now + 200) - MS  # ends with 2
    assert raw.zrange("abs:b", 0, -1, withscores=True) == [(b"x", math.ceil(now + 30.2))]
    assert not raw.exists("abs:c")


def test_add_many_accepts_a_mapping_and_a_per_call_ttl(make: Factory, raw: Any) -> None:
    mm = make("map", ttl=3600)
    with Span() as span:
        mm.add_many({"a": [1, 2], "b": (3,)}, ttl=7)
    assert [sorted(v) for v in mm.get_many("a", "b")] == [[1, 2], [3]]
    assert lives(raw, "map:a", 7, span)


def test_attributes_are_read_at_call_time(make: Factory, raw: Any) -> None:
    mm = make("first", ttl=10)
    mm.key_prefix = "second"
    mm.ttl = 500
    mm.cast_fn = str
    with Span() as span:
        mm.add("a", "v")
    assert raw.exists("second:a")
    assert not raw.exists("first:a")
    assert lives(raw, "second:a", 500, span)
    assert list(mm.get("a")) == ["v"]


def test_a_five_thousand_name_batch(make: Factory) -> None:
    mm = make("big")
    data = [(f"name{i}", [i, i + 1]) for i in range(5000)]
    mm.add_many(data)
    got = list(mm.get_many(*(name for name, _ in data)))
    assert [sorted(v) for v in got] == [[i, i + 1] for i in range(5000)]
    assert len(list(mm.names())) == 5000
    assert all(node.pttl(k) > 0 for node in make.backend.raw_nodes() for k in node.scan_iter())  # type: ignore[attr-defined]


def test_many_values_on_one_key_in_one_call(make: Factory, raw: Any) -> None:
    mm = make("wide")
    mm.add("a", *range(7000))
    assert mm.count("a") == 7000
    assert mm.remove("a", *range(0, 7000, 2)) == 3500
    assert sorted(mm.get("a")) == list(range(1, 7000, 2))


def test_wrongtype_raises_and_leaves_the_foreign_key_untouched(make: Factory, raw: Any) -> None:
    mm = make("wt")
    mm.add("ok3", 1)
    raw.set("wt:foreign", "theirs", ex=1000)
    raw.set("wt:forever", "theirs")
    foreign_ends = raw.pexpiretime("wt:foreign")  # absolute: the same however long the calls take
    for call in (
        lambda: mm.add("foreign", 1),
        lambda: mm.add_many([("ok", [1]), ("forever", [2]), ("ok2", [3])]),
        lambda: mm.add_many_with_ttl([("foreign", [(time.time() + 10, 1)])]),
        lambda: mm.remove("foreign", 1),
        lambda: mm.get("foreign"),
        lambda: mm.get_many("ok", "foreign"),
        lambda: mm.count("foreign"),
        lambda: mm.contains("forever", 1),
        lambda: mm.get_with_expiry("foreign"),
        lambda: mm.delete("ok3", "foreign", "forever"),
    ):
        # The client's own error class: valkey-py clients raise valkey's.
        with pytest.raises(response_error(mm), match="WRONGTYPE"):
            call()
    assert raw.get("wt:foreign") == b"theirs"
    assert raw.pexpiretime("wt:foreign") == foreign_ends
    assert raw.get("wt:forever") == b"theirs"
    assert raw.ttl("wt:forever") == -1
    assert sorted(mm.get("ok")) == [1]
    assert sorted(mm.get("ok2")) == [3]
    assert list(mm.get("ok3")) == []  # deleted beside the foreign keys


def test_scripts_flushed_from_the_server_are_loaded_again(make: Factory) -> None:
    mm = make("flush")
    mm.add_many([("a", [1]), ("b", [2])])
    for node in make.backend.raw_nodes():  # type: ignore[attr-defined]
        node.script_flush()
    mm.add_many([("a", [3]), ("c", [4])])
    assert [sorted(v) for v in mm.get_many("a", "b", "c")] == [[1, 3], [2], [4]]
    for node in make.backend.raw_nodes():  # type: ignore[attr-defined]
        node.script_flush()
    assert [sorted(v) for v in mm.get_many("a", "b", "c")] == [[1, 3], [2], [4]]
