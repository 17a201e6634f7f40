"""The checker: is a recorded history explainable by the documented semantics?

The model is the multimap of the spec, with clock uncertainty. An operation took
effect at some instant between its invocation and its completion (real time); an
operation whose outcome is unknown may have taken effect at any instant from its
invocation until ``LAG`` seconds after it completed (a command queued in a stopped
server runs when the server resumes), or never.

Each write becomes *effects* on ``(name, value)`` pairs (table :data:`EFFECTS`): a
*store* with the range of scores it may have stored, a *remove*, or a *delete* of
the whole name. A store's score comes from the writer's clock (the client's, skewed
by a known amount, or the server's) plus its ttl, rounded up to the resolution; or
from the ``expire_at`` given.

For every read ``R`` (window ``[inv, comp]``, reader clock skew ``k``; 0 for the
server clock) and every value ``v`` of the name:

* ``v`` **must** be live when some acknowledged store ``A`` that certainly left a
  score ``>= s`` (plain or gt modes, nx when it reported every value new, 0.1.0's
  ZADD) completed before ``R`` began, ``s > comp + max(k, 0) + EPS`` (live by the
  reader's clock *and* by the server's, whose key expiry could otherwise take it),
  and every other operation that may have taken effect between ``A`` and ``R`` is
  safe: it cannot remove ``v`` or make its expiry earlier than that bound (a store
  whose smallest score is beyond the bound; a gt or nx store from a ttl, which only
  ever lengthens a life; xx with gt). remove, delete, plain/xx/lt stores with an
  earlier score are not safe.
* ``v`` **may** be live when some store that may have taken effect before ``R``
  ended may have stored a score ``> inv + k - EPS``, and no acknowledged remove,
  delete or plain store of an earlier score came entirely after it and before ``R``.

Conditional stores are modelled exactly: each ``nx``, ``xx`` and ``lt`` store is
judged as a read its writer made at the write's time (the script decides by the
writer's "now"), and one whose condition certainly failed is *inert*: it stored
nothing (``nx`` on a value that must be live; ``xx`` on one that cannot be;
``lt`` on one that must be live with every expiry it can hold earlier); one whose
condition certainly held is a plain store (an anchor, and a removal of an earlier
life). A decision rests on those of earlier writes; a concurrent one not yet decided
counts as possible, which only widens what may be live.

A name written with ``max_values=N`` returns, on a read, the N latest-expiring
live values (ties: the later member bytes). A value that must be live must be
returned only while fewer than N other values can have outranked it since it
was written (any store that may have given another value an expiry at or past
the lowest this value can hold: eviction then never reached it); a value
returned must not be outranked by N values that must be live. ``count`` lies
between the values that must be returned and ``min(N, may)``.

A read must contain every value that must be live and only values that may be;
``count`` lies between the two sizes, ``contains`` agrees with them, an expiry
returned lies within the score range of a store that may be live. A write's
result is checked the same way as a read made by the writer: ``add``'s "how many
are new" (nx values reported new twice within one life are caught here; on a
capped name a value counts only if it cannot have been evicted at once) and
``remove``'s "how many were live"; ``delete``'s "how many existed" lies between
the names holding a value that must be live and those whose key may exist.
``stats`` (``live_values``, ``names``, its expiries) and ``sweep`` (``deleted``
at most the keys holding no value that must be live, ``collected`` at most the
values that may be stored and expired, ``ttl_fixed`` only on names 0.1.0 wrote,
``scanned`` at least the names that must exist) are bounded likewise.

What concurrency allows: every bound above is as wide as the writes in flight
around the call (and an unknown outcome's ``LAG``): ``stats`` on a busy prefix
is uncertain by a few values per name, ``sweep``'s counts even more. The quiet
phase (a client reading alone once the others stop) makes them exact but for a
value expiring during the call.

A sampler looks at every key under the prefix a few times a second: a key
without a TTL is an anomaly (unless 0.1.0's writer, which leaks such keys by
design, wrote that name since the library last did), and so is a key whose TTL
ends before its newest live member (server clock), or after it by more than the
call that set it last allows: its writer's lag behind the server (the key
follows the earlier of both clocks, docs/semantics.md "Clocks"), plus the call's
length (the writer's "now" is read before sending), plus the millisecond of
rounding. The sampler also reads the members of small keys: each value that must
be live must be stored (the server's own state, between the reads of clients).

Every error (a refusal, an unknown outcome) must fall during a fault or within
``SETTLE`` seconds after one, or be a timeout while the server answered no one (a
stall of a busy machine, counted apart): none of the workload's calls is meant to
raise. A
batch refused part-way that says which names it wrote (``.written``; the names
it cannot tell about in ``.unknown``) is held to it: the names written were
written, the others untouched.

A value that must be live but is missing, when every store that made it so came
before a lossy fault that could have lost it, is counted as an acknowledged write
lost to that fault, not as an anomaly: a restart without persistence loses all
before it (the sampler's reads tell a value never stored from one lost); a
failover only what was acknowledged within ``REPLICATION_WINDOW`` before it or
during it. On a cluster such a fault names the slots of the master it hit: a
loss of any other name's value stays an anomaly.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .recorder import FAIL, OK, UNKNOWN, History
from .workload import MAX_SKEW, OLD_TTL, PREFIX, RESOLUTION

#: Slack for float rounding and for reading a clock just before or after the server.
EPS = 0.02
#: A millisecond: the grain of the server's key expiry times.
MS = 0.001
#: How long after an unknown outcome its operation may still take effect.
LAG = 10.0
#: How long a write acknowledged before a failover may still be missing on the
#: replica (asynchronous replication on one busy machine: milliseconds as a rule).
REPLICATION_WINDOW = 1.0
#: A call that waited this long for an answer timed out (the clients' socket timeout, 2 s).
STALL = 1.9
#: How long a replica may stay out of sync after its primary restarted (a full
#: resynchronisation, which the primary delays by repl-diskless-sync-delay, 5 s).
RESYNC = 15.0
#: Faults that restart a primary (its replica then resynchronises).
RESTARTS = ("kill-aof", "kill-noaof", "failover", "kill")
#: How long after a fault an error may still be its doing: a socket timeout (2 s)
#: begun during it, a pooled connection the fault cut found broken at next use.
SETTLE = 3.0
#: How far back a read looks for operations that can explain it.
WINDOW = LAG + OLD_TTL + 15.0
#: The longest life a library write gives (ttl 3 s or expire_at 2.5 s ahead, skew 1.5 s):
#: a quick acknowledged call that stored no later than this is looked for only in a
#: short window before each read; the others are kept in a list looked at every time.
FAST_LIFE = 4.6
FAST_WINDOW = FAST_LIFE + 1.0 + EPS
#: Modes of a store from a ttl (not a given expire_at) that never shorten a live value.
NEVER_SHORTEN = ({"nx"}, {"gt"}, {"xx", "gt"}, {"gt", "ch"}, {"nx", "ch"}, {"xx", "gt", "ch"})


@dataclass(slots=True)
class Effect:
    """What one operation may have done to one ``(name, value)`` (value None: all)."""

    op: dict[str, Any]
    name: str
    value: int | None
    kind: str  # "store" | "remove" | "delete"
    mode: frozenset[str] = frozenset()
    timed: bool = False  # the score was a given expire_at
    s_min: float = 0.0
    s_max: float = 0.0
    anchor: bool = False  # an acknowledged store that certainly left a score >= s_min
    ok: bool = False
    inv: float = 0.0
    comp: float = 0.0
    comp_eff: float = 0.0  # the latest instant the effect may have happened
    may_remove: bool = False  # an expire_at that may be past by the writer's clock: removes
    removes: bool = False  # an expire_at certainly past: removes the value (plain, xx, lt)
    inert: bool = False  # its mode's condition certainly failed: it changed nothing
    certain: bool = False  # its mode's condition certainly held: a plain store

    def __post_init__(self) -> None:
        self.ok = self.op["outcome"] == OK
        self.inv, self.comp = float(self.op["inv"]), float(self.op["comp"])
        # A refused call was answered: whatever it did, it did before its reply.
        self.comp_eff = self.comp + (LAG if self.op["outcome"] == UNKNOWN else 0.0)

    @property
    def slow(self) -> bool:
        """Outside the short window: unknown outcomes, long calls, 0.1.0's long lives."""
        return not self.ok or self.comp - self.inv > 1.0 or self.s_max - self.comp > FAST_LIFE

    def safe(self, bound: float) -> bool:
        """Can this effect not take a value live beyond ``bound`` below it?"""
        if self.kind != "store" or self.may_remove:
            return False
        if self.s_min > bound:
            return True
        if {"xx", "gt"} <= self.mode:
            return True
        return not self.timed and self.mode in NEVER_SHORTEN


#: Effects sorted by invocation time, and those times (for bisection).
Window = tuple[list[float], list["Effect"]]


@dataclass
class Anomaly:
    kind: str
    message: str
    op: dict[str, Any] | None
    name: str | None = None
    value: int | None = None
    since: float | None = None  # where the sub-history that shows it starts


@dataclass
class Verdict:
    ops: int = 0
    reads: int = 0
    write_results: int = 0
    samples: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)
    #: fault kind -> the acknowledged stores ``(op id, name, value)`` it was seen to lose
    lost: dict[str, set[tuple[str, str, int]]] = field(default_factory=dict)
    fault_kinds: list[str] = field(default_factory=list)
    unknown: int = 0
    failed: int = 0
    explained_errors: int = 0  # errors (refusals, unknown outcomes) during or just after a fault
    stalls: int = 0  # timeouts while the server answered no one (a busy machine), outside faults


class Writer:
    """The clock facts of the client that ran an operation."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.server_clock = header.get("clock") == "server" and header["kind"] != "old010"
        self.skew = 0.0 if self.server_clock else float(header.get("skew", 0.0))
        self.kind = header["kind"]


def _ceil(x: float) -> float:
    return math.ceil(x / RESOLUTION - 1e-9) * RESOLUTION


def _ttl_range(op: dict[str, Any], who: Writer, ttl: float) -> tuple[float, float]:
    late = op["comp"] + (LAG if op["outcome"] == UNKNOWN and who.server_clock else 0.0)
    return op["inv"] + who.skew + ttl, late + who.skew + ttl + RESOLUTION


def _mode(op: dict[str, Any]) -> frozenset[str]:
    return frozenset(flag for flag, on in op["args"].get("mode", {}).items() if on)


def _anchor_mode(op: dict[str, Any], mode: frozenset[str], values: int) -> bool:
    if op["outcome"] != OK:
        return False
    if mode in (frozenset(), frozenset({"ch"}), frozenset({"gt"}), frozenset({"gt", "ch"})):
        return True
    # nx leaves a live value's earlier expiry; only when every value was new is each one stored.
    return mode == frozenset({"nx"}) and op["result"] == values


def _stores(
    op: dict[str, Any], who: Writer, data: Iterable[tuple[str, list[int]]], ttl: float
) -> list[Effect]:
    pairs = [(name, v) for name, values in data for v in values]
    mode = _mode(op)
    low, high = _ttl_range(op, who, ttl)
    anchor = _anchor_mode(op, mode, len(pairs))
    return [Effect(op, n, v, "store", mode, False, low, high, anchor) for n, v in pairs]


def _effects_add(op: dict[str, Any], who: Writer) -> list[Effect]:
    a = op["args"]
    return _stores(op, who, [(a["name"], a["values"])], a["ttl"])


def _effects_add_many(op: dict[str, Any], who: Writer) -> list[Effect]:
    return _stores(op, who, op["args"]["data"], op["args"]["ttl"])


def _effects_add_many_with_ttl(op: dict[str, Any], who: Writer) -> list[Effect]:
    mode = _mode(op)
    # An expire_at already past by the writer's clock removes a value in the modes that
    # replace (plain, xx without gt, lt); it is ignored with nx and gt.
    removing = not ({"nx", "gt"} & mode)
    out = []
    for name, pairs in op["args"]["data"]:
        for at, v in pairs:
            ahead = at > op["comp"] + who.skew + EPS  # certainly still ahead when it ran
            past = at <= op["inv"] + who.skew - EPS  # certainly past already
            anchor = ahead and op["outcome"] == OK and mode in (frozenset(), frozenset({"gt"}))
            effect = Effect(op, name, v, "store", mode, True, at, at + RESOLUTION, anchor)
            effect.may_remove = removing and not ahead
            # Certainly removed only in plain mode: xx removes it only if the writer saw it live.
            effect.removes = past and mode <= {"ch"}
            out.append(effect)
    return out


def _effects_remove(op: dict[str, Any], who: Writer) -> list[Effect]:
    a = op["args"]
    return [Effect(op, a["name"], v, "remove") for v in a["values"]]


def _effects_delete(op: dict[str, Any], who: Writer) -> list[Effect]:
    return [Effect(op, name, None, "delete") for name in op["args"]["names"]]


def _effects_old_add(op: dict[str, Any], who: Writer) -> list[Effect]:
    # 0.1.0: ZADD score int(now) + ttl, now from the writer's clock; a plain overwrite.
    low = int(op["inv"] + who.skew) + OLD_TTL
    high = int(op["comp"] + who.skew) + OLD_TTL
    return [
        Effect(op, name, v, "store", frozenset(), False, low, high, op["outcome"] == OK)
        for name, values in op["args"]["data"]
        for v in values
    ]


def _partial(op: dict[str, Any]) -> bool:
    """May a write the server refused have done part of its work?

    A write of several names is several calls (one per key, per node on a
    cluster): the error of one (a MOVED or TRYAGAIN that outlived the library's
    redirections, a CLUSTERDOWN) is raised after the others ran, each key fully
    written or untouched. 0.1.0's pipeline is not atomic even for one name.
    """
    names = {name for name, _ in op["args"].get("data", ())} | set(op["args"].get("names", ()))
    return op["op"] == "old_add" or len(names) > 1


def _told_partial(
    op: dict[str, Any], effects: list[Effect], as_ok: list[Effect] | None = None
) -> list[Effect]:
    """A refused batch that said which names it wrote (``.written``, ``.unknown``).

    The names written were written at some instant of the call; those it cannot tell
    about may have been, even later; the others were not touched. A build whose
    exception says nothing leaves every name possibly written. ``as_ok``: the same
    effects made as if the call had been acknowledged, whose anchors a written name's
    effects take (a name written is as certain as an acknowledged write of it).
    """
    if op["outcome"] != FAIL or op.get("written") is None:
        return effects
    written, unknown = set(op["written"]), set(op.get("unknown_names") or ())
    kept = []
    for effect, acknowledged in zip(effects, as_ok or effects, strict=True):
        if effect.name in written:
            effect.ok, effect.comp_eff = True, effect.comp
            effect.anchor = acknowledged.anchor
        elif effect.name in unknown:
            effect.comp_eff = effect.comp + LAG
        else:
            continue
        kept.append(effect)
    return kept


#: How the model applies each operation: op name -> its effects. Reads have none.
EFFECTS: dict[str, Callable[[dict[str, Any], Writer], list[Effect]]] = {
    "add": _effects_add,
    "add_many": _effects_add_many,
    "add_many_with_ttl": _effects_add_many_with_ttl,
    "remove": _effects_remove,
    "delete": _effects_delete,
    "old_add": _effects_old_add,
    "add_big": _effects_add,
}


@dataclass
class Bounds:
    """What one reader may see of one value."""

    must: bool  # certainly live
    lost_to: str | None  # would be certainly live but for this lossy fault
    anchor: Effect | None
    alive: list[Effect]  # stores that may explain the value being live
    revived: list[Effect]  # stores that may be live again if a lossy fault undid a removal
    floor: float = 0.0  # when certainly live: its expiry is at least this

    @property
    def may(self) -> bool:
        return bool(self.alive or self.revived)


class Model:
    def __init__(self, history: History) -> None:
        self.history = history
        self.writers = {label: Writer(h) for label, h in history.clients.items()}
        self.by_pair: dict[tuple[str, int], list[Effect]] = defaultdict(list)
        self.deletes: dict[str, list[Effect]] = defaultdict(list)
        self.values: dict[str, set[int]] = defaultdict(set)
        self.old_touched: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.lib_writes: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.lossy = sorted((f for f in history.faults if f["lossy"]), key=lambda f: f["start"])
        self.lossy_starts = [f["start"] for f in self.lossy]
        # Since when a failover's replica may lack writes: REPLICATION_WINDOW before it,
        # or since a restart of the primary shortly before (the replica then waits for a
        # full resynchronisation, holding what it had: a restart's wipe included).
        restarts = [f for f in history.faults if f["kind"] in RESTARTS]
        self.stale_since: dict[int, float] = {}
        for fault in self.lossy:
            since = fault["start"] - REPLICATION_WINDOW
            for earlier in restarts:
                if (
                    earlier is not fault
                    and fault["start"] - RESYNC < earlier["end"] <= fault["start"]
                ):
                    since = min(since, earlier["start"])
            self.stale_since[id(fault)] = since
        self.slots: dict[str, int] = {}  # name -> its key's hash slot (cluster faults)
        # Names a capped client writes: values may be evicted, so none is certainly live,
        # and every read holds at most the cap.
        self.caps: dict[str, int] = {}
        for header in history.clients.values():
            if header.get("max_values") and "max_values" in header.get("features", ()):
                for name in header.get("names") or ():
                    self.caps[name] = header["max_values"]
        for op in history.ops:
            make = EFFECTS.get(op["op"])
            told = "written" in op  # the error said which names were written
            if make is None or (op["outcome"] == FAIL and not told and not _partial(op)):
                continue
            writer = self.writers[op["proc"]]
            effects = make(op, writer)
            # A written name's effects are an acknowledged call's (anchors included).
            as_ok = make({**op, "outcome": OK}, writer) if told else None
            for effect in _told_partial(op, effects, as_ok):
                if effect.kind == "delete":
                    self.deletes[effect.name].append(effect)
                else:
                    assert effect.value is not None
                    self.by_pair[(effect.name, effect.value)].append(effect)
                    self.values[effect.name].add(effect.value)
                written = self.old_touched if op["op"] == "old_add" else self.lib_writes
                if not written[effect.name] or written[effect.name][-1] is not op:
                    written[effect.name].append(op)
        # Per pair, two lists sorted by invocation: quick acknowledged calls, looked for in
        # a short window before each read, and the rest (unknown outcomes, long calls, long
        # lives) in a long one; both found by bisection, so a long history checks in linear time.
        self.index: dict[tuple[str, int], tuple[Window, Window]] = {}
        for (name, value), effects in self.by_pair.items():
            merged = sorted(effects + self.deletes.get(name, []), key=lambda e: e.inv)
            fast = [e for e in merged if not e.slow]
            slow = [e for e in merged if e.slow]
            self.index[(name, value)] = (
                ([e.inv for e in fast], fast),
                ([e.inv for e in slow], slow),
            )
        # Per capped name, its stores sorted by invocation: the values that may outrank one.
        self.by_name: dict[str, tuple[list[float], list[Effect]]] = {}
        for name in self.caps:
            stores = sorted(
                (e for (n, _), es in self.by_pair.items() if n == name for e in es),
                key=lambda e: e.inv,
            )
            self.by_name[name] = ([e.inv for e in stores], stores)
        self._resolve_conditions()

    def _resolve_conditions(self) -> None:
        """Mark the conditional stores whose condition certainly failed: they did nothing.

        ``nx`` stores only a value not live (by the writer's "now"), ``xx`` only a
        live one, ``lt`` only an earlier expiry than a live value's. Each is judged
        as a read the writer made at the write's time, oldest first, so a decision
        rests on the decisions before it (a concurrent one not yet decided counts as
        possible, which only widens what may be live).
        """
        conditional = sorted(
            (
                e
                for es in self.by_pair.values()
                for e in es
                if e.kind == "store" and e.mode & {"nx", "xx", "lt"}
            ),
            key=lambda e: e.inv,
        )
        for e in conditional:
            assert e.value is not None
            who = self.writers[e.op["proc"]]
            b = self.bounds(e.name, e.value, e.op, who.skew)
            if "nx" in e.mode:
                e.inert = b.must
            elif "xx" in e.mode and not b.may:
                e.inert = True
            if "lt" in e.mode and not e.inert and b.must and not e.may_remove:
                # Certainly live, every score it may hold earlier than this one's.
                current = b.alive + b.revived
                e.inert = bool(current) and all(c.s_max + EPS < e.s_min for c in current)
            # The condition certainly held: the store applied as a plain one would.
            ahead = not e.timed or e.s_min > e.comp + who.skew + EPS
            plain_like = e.mode - {"ch"}
            if not e.inert and ahead and not e.may_remove:
                if plain_like == {"nx"}:
                    e.certain = not b.may
                elif plain_like == {"xx"}:
                    e.certain = b.must
                elif plain_like in ({"lt"}, {"xx", "lt"}) and b.must:
                    current = b.alive + b.revived
                    e.certain = bool(current) and all(c.s_min > e.s_max + EPS for c in current)
                if e.certain and e.ok:
                    e.anchor = True

    def outranking(self, name: str, value: int, score: float, op: dict[str, Any]) -> int:
        """How many other values of a capped name may have outranked ``score`` up to ``op``.

        A value kept live by no write is evicted only when ``max_values`` others rank
        above it (a later expiry, or the same and later bytes); while fewer than that
        can ever have, it is never evicted and every read returns it.
        """
        times, stores = self.by_name[name]
        lo = bisect.bisect_left(times, op["inv"] - WINDOW)
        hi = bisect.bisect_left(times, op["comp"])
        return len(
            {
                e.value
                for e in stores[lo:hi]
                if e.value != value and not e.inert and e.s_max + EPS >= score
            }
        )

    def window(
        self, name: str, value: int, op: dict[str, Any], since: float | None = None
    ) -> list[Effect]:
        """The effects on ``(name, value)`` that may bear on what ``op`` saw.

        A quick call's store ends soon, so it is looked for only in a short
        window before ``op``, as a store that may still be live. ``since``
        widens that window back to an instant: a quick call also overrides
        or removes what an earlier, longer-lived store gave the value (0.1.0's,
        or a given expire_at), however long ago it ran.
        """
        empty: Window = ([], [])
        (fast_times, fast), (slow_times, slow) = self.index.get((name, value), (empty, empty))
        end = op["comp"]
        start = op["inv"] - FAST_WINDOW
        if since is not None:
            start = min(start, since)
        lo = bisect.bisect_left(fast_times, start)
        hi = bisect.bisect_left(fast_times, end)
        slow_lo = bisect.bisect_left(slow_times, op["inv"] - WINDOW)
        slow_hi = bisect.bisect_left(slow_times, end)
        chosen = fast[lo:hi] + slow[slow_lo:slow_hi]
        return [e for e in chosen if e.op is not op and not e.inert]

    def _anchor(
        self, effects: list[Effect], inv: float, comp: float, high: float, low: float
    ) -> tuple[Effect | None, float, float]:
        """The latest store that leaves the value live past ``high``, and the last kills.

        The kills: the latest invocation of an acknowledged call that removed
        the value (or left it dead before ``low``), and of one no lossy fault
        can have undone.
        """
        anchor: Effect | None = None
        kill_after = kill_kept = -math.inf  # all killers; those no lossy fault can undo
        for e in effects:
            later = anchor is None or e.inv > anchor.inv
            if e.anchor and e.comp < inv and e.s_min > high and later:
                anchor = e
            if e.ok and e.comp < inv and self._kills(e, low):
                kill_after = max(kill_after, e.inv)
                if self._undone_by(e, comp) is None:
                    kill_kept = max(kill_kept, e.inv)
        return anchor, kill_after, kill_kept

    def bounds(
        self,
        name: str,
        value: int,
        op: dict[str, Any],
        skew: float,
        lower_skew: float | None = None,
    ) -> Bounds:
        """``must``/``may`` of ``value`` for a reader whose clock is ``skew`` off the server's."""
        inv, comp = op["inv"], op["comp"]
        high = comp + max(skew, 0.0) + EPS  # live beyond this by the reader's and server's clock
        low = inv + (skew if lower_skew is None else lower_skew) - EPS  # expired before
        effects = self.window(name, value, op)
        anchor, kill_after, kill_kept = self._anchor(effects, inv, comp, high, low)
        if anchor is not None and anchor.inv - STALL < inv - FAST_WINDOW:
            # A long-lived store: every quick call since may have overridden or
            # removed it (one that began a call's length before it included).
            effects = self.window(name, value, op, since=anchor.inv - STALL)
            anchor, kill_after, kill_kept = self._anchor(effects, inv, comp, high, low)
        must = anchor is not None
        floor = 0.0
        if anchor is not None:
            floor = anchor.s_min
            for e in effects:
                if e is not anchor and e.comp_eff > anchor.inv:
                    if not e.safe(high):
                        must = False
                        break
                    floor = min(floor, e.s_min)
        lost_to = self._undone_by(anchor, comp) if must and anchor is not None else None
        stores = [e for e in effects if e.kind == "store" and e.s_max > low]
        alive = [e for e in stores if e.comp_eff >= kill_after]
        revived = [e for e in stores if e.comp_eff >= kill_kept and e not in alive]
        cap = self.caps.get(name)
        # Capped: certainly live only while fewer than the cap can have outranked it.
        if (
            must
            and anchor is not None
            and cap is not None
            and self.outranking(name, value, floor, op) >= cap
        ):
            must, lost_to = False, None
        return Bounds(must and lost_to is None, lost_to, anchor, alive, revived, floor)

    def _undone_by(self, e: Effect, before: float) -> str | None:
        """The lossy fault (if any) that may have undone ``e`` before ``before``."""
        # The nemesis injects one fault at a time: among those begun before ``before``, the
        # later ones end later; only those ending after ``e`` began can have undone it, and
        # on a cluster only one that hit the master serving ``e``'s name.
        last = bisect.bisect_left(self.lossy_starts, before) - 1
        while last >= 0 and self.lossy[last]["end"] > e.inv:
            fault = self.lossy[last]
            if self._hit(fault, e.name) and self._could_lose(fault, e):
                return str(fault["kind"])
            last -= 1
        return None

    def _could_lose(self, fault: dict[str, Any], e: Effect) -> bool:
        """Was ``e`` within what ``fault`` can lose by the server's design?

        A restart without persistence loses everything before it (the sampler's
        reads of the server catch a value that was never stored at all). A
        failover loses only what the replica had not received: writes acknowledged
        within :data:`REPLICATION_WINDOW` before it, or during it (a master taken
        over acknowledges until it learns it was replaced), or since a restart of
        the primary within :data:`RESYNC` before it (the replica was out of sync).
        A fault that failed half-way may have done anything.
        """
        kind = str(fault["kind"])
        if kind == "kill-noaof" or kind.endswith("(failed)"):
            return True
        return e.comp > self.stale_since[id(fault)]

    def _hit(self, fault: dict[str, Any], name: str) -> bool:
        """Did ``fault`` hit the node holding ``name`` (a cluster fault names its slots)?"""
        ranges = fault.get("slots")
        if ranges is None:
            return True  # one server: every name
        if name not in self.slots:
            from redis.crc import key_slot

            self.slots[name] = key_slot(f"{PREFIX}:{name}".encode())
        return any(low <= self.slots[name] <= high for low, high in ranges)

    @staticmethod
    def _kills(e: Effect, low: float) -> bool:
        if e.kind in ("remove", "delete") or e.removes:
            return True
        return e.kind == "store" and (not e.mode or e.certain) and e.s_max <= low


class Checker:
    def __init__(self, history: History) -> None:
        self.history = history
        self.model = Model(history)
        self.verdict = Verdict()
        self.checks: dict[str, Callable[[dict[str, Any], Writer], None]] = {
            "get": self._get,
            "get_many": self._get_many,
            "iter_values": self._iter,
            "count": self._count,
            "contains": self._contains,
            "get_with_expiry": self._get_with_expiry,
            "get_many_with_expiry": self._get_many_with_expiry,
            "names": self._names,
            "stats": self._stats,
            "sweep": self._sweep,
            "add": self._add,
            "add_many": self._add,
            "add_many_with_ttl": self._add,
            "remove": self._remove,
            "delete": self._delete,
            "add_big": self._add,
            "iter_big": self._iter,
            "get_big": self._get,
        }
        self.starts = [op["inv"] for op in history.ops]
        # A client-clock writer running d s behind keeps a key d s past its newest
        # value (docs/semantics.md, "Clocks"); one ahead, or on the server's clock, not.
        self.lag_behind = {
            label: max(0.0, -w.skew) if not w.server_clock else 0.0
            for label, w in self.model.writers.items()
        }
        # Per name, for _old_since_library by bisection (a long history's stats, sweeps and
        # names() ask it for every name): 0.1.0's writes by invocation with the latest end
        # so far, and the library's acknowledged writes by invocation with the earliest
        # completion from there on.
        self.old_ends: dict[str, tuple[list[float], list[float]]] = {}
        for name, olds in self.model.old_touched.items():
            olds = sorted(olds, key=lambda op: op["inv"])
            ends = list(
                itertools.accumulate(
                    (op["comp"] + (LAG if op["outcome"] == UNKNOWN else 0) for op in olds), max
                )
            )
            self.old_ends[name] = ([op["inv"] for op in olds], ends)
        self.lib_ok: dict[str, tuple[list[float], list[float]]] = {}
        for name, writes in self.model.lib_writes.items():
            done = sorted((op for op in writes if op["outcome"] == OK), key=lambda op: op["inv"])
            earliest = list(itertools.accumulate((op["comp"] for op in reversed(done)), min))
            self.lib_ok[name] = ([op["inv"] for op in done], earliest[::-1])
        # Per name, the calls that set its key's TTL (library writes, and every sweep).
        sweeps = [op for op in history.ops if op["op"] == "sweep" and op["outcome"] != FAIL]
        self.ttl_setters: dict[str, tuple[list[float], list[dict[str, Any]]]] = {}
        for name, writes in self.model.lib_writes.items():
            merged = sorted(writes + sweeps, key=lambda op: op["inv"])
            self.ttl_setters[name] = ([op["inv"] for op in merged], merged)

    def run(self) -> Verdict:
        v = self.verdict
        v.ops = len(self.history.ops)
        v.fault_kinds = sorted({f["kind"] for f in self.history.faults})
        for op in self.history.ops:
            if op["outcome"] == UNKNOWN:
                v.unknown += 1
            elif op["outcome"] == FAIL:
                v.failed += 1
            check = self.checks.get(op["op"])
            if check is not None and op["outcome"] == OK:
                check(op, self.model.writers[op["proc"]])
            elif op["outcome"] != OK:
                self._error(op)
        for sample in self.history.samples:
            self._sample(sample)
        return v

    # -- helpers -----------------------------------------------------------------------

    def _error(self, op: dict[str, Any]) -> None:
        """An error must be a fault's doing: none of the workload's calls is meant to raise.

        Explained when the call overlaps a fault, or began within :data:`SETTLE`
        seconds after one ended; any other error (an exception where an answer was
        due, in a quiet moment) is an anomaly.
        """
        if any(
            f["start"] - EPS <= op["comp"] and op["inv"] <= f["end"] + SETTLE
            for f in self.history.faults
        ):
            self.verdict.explained_errors += 1
            return
        if self._stalled(op):
            self.verdict.stalls += 1
            return
        name = op["args"].get("name") or next(iter(op["args"].get("names", ())), None)
        message = f"{op['op']} ended in {op['outcome']} ({op['result']}) with no fault about"
        self._anomaly("error", message, op, name)

    def _anomaly(
        self,
        kind: str,
        message: str,
        op: Any,
        name: Any = None,
        value: Any = None,
        since: float | None = None,
    ) -> None:
        self.verdict.anomalies.append(Anomaly(kind, message, op, name, value, since))

    def _stalled(self, op: dict[str, Any]) -> bool:
        """A timeout while the server answered no one: the machine stalled it, not the build.

        A call that waited a whole socket timeout, while no other client's call was
        answered in the last second of that wait: the server (or the machine under
        it) was serving no one when it gave up. A build that raises where it should
        answer raises at once, or while others are served.
        """
        if op["outcome"] != UNKNOWN or op["comp"] - op["inv"] < STALL:
            return False
        quiet_from = op["comp"] - 1.0
        lo = bisect.bisect_left(self.starts, quiet_from - 2 * STALL)
        hi = bisect.bisect_left(self.starts, op["comp"])
        return not any(
            other["outcome"] == OK
            and quiet_from <= other["comp"] < op["comp"]
            and other["proc"] != op["proc"]
            for other in self.history.ops[lo:hi]
        )

    def _lost(self, bounds: Bounds, name: str, value: int) -> None:
        if bounds.lost_to and bounds.anchor is not None:
            lost = self.verdict.lost.setdefault(bounds.lost_to, set())
            lost.add((bounds.anchor.op["id"], name, value))

    def _revived(self, bounds: Bounds, op: dict[str, Any], name: str, value: int) -> None:
        """A value back after its acknowledged removal: the removal was lost to a fault."""
        killers = [
            e
            for e in self.model.window(name, value, op)
            if e.ok and e.comp < op["inv"] and Model._kills(e, -math.inf)
        ]
        for killer in killers[-1:]:
            fault = self.model._undone_by(killer, op["comp"])
            if fault is not None:
                lost = self.verdict.lost.setdefault(fault, set())
                lost.add((killer.op["id"], name, value))

    def _all_bounds(self, name: str, op: dict[str, Any], who: Writer) -> dict[int, Bounds]:
        return {v: self.model.bounds(name, v, op, who.skew) for v in self.model.values[name]}

    def _check_set(
        self, name: str, got: list[Any], op: dict[str, Any], who: Writer, complete: bool = True
    ) -> dict[int, Bounds]:
        """Check a read of ``name``; with ``complete`` False, only what it returned."""
        values = [int(v) for v in got]
        cap = self.model.caps.get(name)
        if cap is not None and len(values) > cap:
            self._anomaly("cap", f"{name}: {len(values)} values, over max_values={cap}", op, name)
        if len(set(values)) != len(values):
            self._anomaly("duplicate", f"{name}: a value returned twice: {values}", op, name)
        bounds = self._all_bounds(name, op, who)
        for v, b in bounds.items():
            if v not in values and complete:
                if b.must and b.anchor is not None:
                    message = f"{name}: live value {v} not returned"
                    self._anomaly("missing", message, op, name, v, since=b.anchor.inv)
                else:
                    self._lost(b, name, v)
        for v in values:
            if v in bounds and not bounds[v].alive and bounds[v].revived:
                self._revived(bounds[v], op, name, v)
            elif v not in bounds or not bounds[v].may:
                self._anomaly("unexpected", f"{name}: value {v} cannot be live", op, name, v)
        if cap is not None:
            self._check_top(name, cap, values, bounds, op)
        return bounds

    def _check_top(
        self, name: str, cap: int, values: list[int], bounds: dict[int, Bounds], op: dict[str, Any]
    ) -> None:
        """A capped read returns the latest-expiring live values: none outranked by ``cap``."""
        certain = [(u, b.floor) for u, b in bounds.items() if b.must]
        for v in values:
            b = bounds.get(v)
            if b is None or not b.may:
                continue
            latest = max(e.s_max for e in b.alive + b.revived)
            above = [u for u, score in certain if u != v and score > latest + EPS]
            if len(above) >= cap:
                self._anomaly(
                    "cap-order",
                    f"{name}: {v} returned, yet {sorted(above)} certainly expire later "
                    f"(max_values={cap})",
                    op,
                    name,
                    v,
                )

    # -- reads ---------------------------------------------------------------------------

    def _get(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        self._check_set(op["args"]["name"], op["result"], op, who)

    def _iter(self, op: dict[str, Any], who: Writer) -> None:
        """``iter_values``: as ``get``, but its pages are ZSCAN calls, and a cursor is one
        node's: pages read across a failover (or a slot's move) from another node may
        skip members, as SCAN may (the docs say so). Such a read is held only to what
        it returned."""
        self.verdict.reads += 1
        name = op["args"]["name"]
        moved = any(
            f["kind"].startswith(("failover", "kill", "migrate", "sigstop-", "client-pause-"))
            and f["start"] - EPS <= op["comp"]
            and op["inv"] <= f["end"] + EPS
            and self.model._hit(f, name)
            for f in self.history.faults
        )
        self._check_set(name, op["result"], op, who, complete=not moved)

    def _get_many(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        names = op["args"]["names"]
        if len(op["result"]) != len(names):
            self._anomaly("shape", f"{len(op['result'])} answers for {len(names)} names", op)
            return
        for name, got in zip(names, op["result"], strict=True):
            self._check_set(name, got, op, who)

    def _count(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        name = op["args"]["name"]
        bounds = self._all_bounds(name, op, who).values()
        low, high = sum(b.must for b in bounds), sum(b.may for b in bounds)
        high = min(high, self.model.caps.get(name, high))
        if not low <= op["result"] <= high:
            self._anomaly("count", f"{name}: count {op['result']} not in [{low}, {high}]", op, name)

    def _contains(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        name, value = op["args"]["name"], op["args"]["value"]
        b = self.model.bounds(name, value, op, who.skew)
        if b.must and not op["result"]:
            self._anomaly("missing", f"{name}: contains({value}) False while live", op, name, value)
        if op["result"] and not b.may:
            self._anomaly(
                "unexpected", f"{name}: contains({value}) True, cannot be live", op, name, value
            )
        if not op["result"]:
            self._lost(b, name, value)

    def _check_expiry(
        self, name: str, pairs: list[list[Any]], op: dict[str, Any], who: Writer
    ) -> None:
        bounds = self._check_set(name, [v for v, _ in pairs], op, who)
        for v, at in pairs:
            b = bounds.get(int(v))
            if (
                b is not None
                and b.may
                and not any(e.s_min - EPS <= at <= e.s_max + EPS for e in b.alive + b.revived)
            ):
                self._anomaly(
                    "expiry", f"{name}: {v} expires at {at:.3f}, no write gave that", op, name, v
                )

    def _get_with_expiry(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        self._check_expiry(op["args"]["name"], op["result"], op, who)

    def _get_many_with_expiry(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        for name, pairs in zip(op["args"]["names"], op["result"], strict=True):
            self._check_expiry(name, pairs, op, who)

    def _names(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        got = set(op["result"]) - {"probe"}
        # SCAN is per node: a key that moves between masters while they are scanned
        # one after the other (a resharding) can be missed, as the docs say. Only a
        # names() that overlaps no slot migration must list every live name.
        moving = any(
            f["kind"] == "migrate" and f["start"] - EPS <= op["comp"] and op["inv"] <= f["end"]
            for f in self.history.faults
        )
        for name in self.model.values:
            if (
                not moving
                and name not in got
                and any(self.model.bounds(name, v, op, 0.0).must for v in self.model.values[name])
            ):
                self._anomaly(
                    "missing", f"names() lacks {name!r}, which holds live values", op, name
                )
        for name in got:
            if not self._may_exist(name, op):
                self._anomaly(
                    "unexpected", f"names() lists {name!r}, which holds no live value", op, name
                )

    def _stats(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.reads += 1
        stats = op["result"]
        if stats["foreign_keys"]:
            self._anomaly("stats", f"stats found {stats['foreign_keys']} foreign keys", op)
        if stats["keys_without_ttl"] > len(self.model.old_touched):
            self._anomaly("no-ttl", f"stats: {stats['keys_without_ttl']} keys without a TTL", op)
        low = high = 0
        named_low = named_high = 0
        for name in set(self.model.values) | set(self.model.old_touched):
            held = False
            for v in self.model.values.get(name, ()):
                # stats counts a value live until expired by both clocks.
                b = self.model.bounds(name, v, op, who.skew, lower_skew=min(who.skew, 0.0))
                low += b.must
                high += b.may
                held = held or b.must
            named_low += held
            named_high += self._may_exist(name, op)
        if not low <= stats["live_values"] <= high:
            self._anomaly(
                "stats", f"stats live_values {stats['live_values']} not in [{low}, {high}]", op
            )
        if not named_low <= stats["names"] <= named_high:
            self._anomaly(
                "stats", f"stats names {stats['names']} not in [{named_low}, {named_high}]", op
            )
        if (stats["live_values"] == 0) != (stats["latest_expiry"] is None) or (
            stats["latest_expiry"] is not None and stats["soonest_expiry"] > stats["latest_expiry"]
        ):
            self._anomaly("stats", f"stats expiries disagree with its counts: {stats}", op)

    def _sweep(self, op: dict[str, Any], who: Writer) -> None:
        """``sweep``'s counts, bounded by what may be stored (exact only without writers).

        ``deleted`` keys held only expired values: at most the keys that may exist
        holding no value that must be live; ``collected``, at most the values that
        may be stored and expired; ``ttl_fixed``, only keys 0.1.0 may have left last
        (no TTL, or its short one); ``scanned`` at least the names that must exist.
        """
        report = op["result"]
        if report["foreign"]:
            self._anomaly("sweep", f"sweep found {report['foreign']} foreign keys", op)
        self.verdict.write_results += 1
        must_names = deletable = dead = fixable = 0
        for name in set(self.model.values) | set(self.model.old_touched):
            if not self._may_exist(name, op):
                continue
            values = self.model.values.get(name, ())
            live = any(self.model.bounds(name, v, op, who.skew).must for v in values)
            must_names += live
            deletable += not live
            fixable += name in self.model.old_touched
            old = name in self.model.old_touched
            dead += sum(old or self._may_be_dead(name, v, op) for v in values)
        checks = (
            ("deleted", 0, deletable),
            ("collected", 0, dead),
            ("ttl_fixed", 0, fixable),
            ("scanned", must_names, math.inf),
        )
        for field_name, low, high in checks:
            if not low <= report[field_name] <= high:
                self._anomaly(
                    "sweep", f"sweep {field_name} {report[field_name]} not in [{low}, {high}]", op
                )

    def _may_be_dead(self, name: str, value: int, op: dict[str, Any]) -> bool:
        """May ``value`` be stored with an expiry past by both clocks during ``op``?"""
        effects = self.model.by_pair.get((name, value))
        if not effects or effects[0].inv >= op["comp"]:
            return False  # never written yet
        if effects[0].inv < op["inv"] - WINDOW:
            return True  # written long ago: any such store has expired
        # Every store since: a quick one long before the op may have stored it
        # (a value's quick stores are few in WINDOW, as are its values).
        return any(
            e.kind == "store" and e.s_min < op["comp"] + MAX_SKEW + EPS
            for e in self.model.window(name, value, op, since=op["inv"] - WINDOW)
        )

    # -- write results ---------------------------------------------------------------------

    def _add(self, op: dict[str, Any], who: Writer) -> None:
        """ "How many are new" (with ``ch``: new or changed) of add/add_many/add_many_with_ttl."""
        mode = _mode(op)
        a = op["args"]
        timed = op["op"] == "add_many_with_ttl"
        # (name, value) -> the expire_at given for it (None: a ttl, live once written)
        given: dict[tuple[str, int], list[float | None]] = defaultdict(list)
        if op["op"] in ("add", "add_big"):
            for v in a["values"]:
                given[(a["name"], v)].append(None)
        elif timed:
            for name, pairs in a["data"]:
                for at, v in pairs:
                    given[(name, v)].append(float(at))
        else:
            for name, values in a["data"]:
                for v in values:
                    given[(name, v)].append(None)
        self.verdict.write_results += 1
        low = high = 0
        surely_new: tuple[str, int] | None = None  # a value certainly not live before
        for (name, v), ats in given.items():
            b = self.model.bounds(name, v, op, who.skew)
            # Live once written: a ttl, or an expire_at still ahead when the write ran.
            stays = all(at is None or at > op["comp"] + who.skew + EPS for at in ats)
            may_stay = any(at is None or at > op["inv"] + who.skew - EPS for at in ats)
            new_low = "xx" not in mode and not b.may and stays
            cap = self.model.caps.get(name)
            if new_low and cap is not None:
                # Counted only if not evicted at once: fewer than the cap may outrank it.
                score = min(op["inv"] + who.skew + a["ttl"] if at is None else at for at in ats)
                new_low = self.model.outranking(name, v, score, op) < cap
            new_high = "xx" not in mode and not b.must and may_stay
            # ch also counts a live value whose expiry the write changed (never with nx).
            changed = "ch" in mode and "nx" not in mode and b.may
            low += new_low
            high += new_high or changed
            if new_low and surely_new is None:
                surely_new = (name, v)
        if not low <= op["result"] <= high:
            what = f"{op['op']} {sorted(mode) if mode else ''} reported {op['result']} new"
            name, value = surely_new or next(iter(given))
            self._anomaly(
                "new-count",
                f"{what}, not in [{low}, {high}]",
                op,
                name,
                value,
                since=op["inv"] - 1.0,
            )

    def _delete(self, op: dict[str, Any], who: Writer) -> None:
        """``delete`` answers how many of the names existed (a key, live values or not)."""
        self.verdict.write_results += 1
        low = high = 0
        for name in set(op["args"]["names"]):
            values = self.model.values.get(name, set())
            bounds = [self.model.bounds(name, v, op, who.skew) for v in values]
            low += any(b.must for b in bounds)
            high += self._may_exist(name, op)
        if not low <= op["result"] <= high:
            self._anomaly(
                "delete-count",
                f"delete reported {op['result']} names existed, not in [{low}, {high}]",
                op,
                op["args"]["names"][0],
            )

    def _may_exist(self, name: str, op: dict[str, Any]) -> bool:
        """May the key of ``name`` exist at some instant of ``op``?

        A key ends with its newest member, measured by the call that set its TTL
        last from the lower of its writer's "now" (read when the call began) and
        the server's: up to that writer's lag behind the server plus the call's
        length after it (see :meth:`_ttl_slack`; 0.1.0's EXPIREAT a second more).
        A key 0.1.0 created has no TTL: it stays until a library write or delete
        certainly came after 0.1.0's last write.
        """
        if self._old_since_library(name, op):
            return True
        slack = self._ttl_slack(name, op) + RESOLUTION
        return any(
            e.kind == "store"
            and e.s_max + slack + (1.0 if e.op["op"] == "old_add" else 0.0) > op["inv"]
            for v in self.model.values.get(name, ())
            for e in self.model.window(name, v, op)
        )

    def _remove(self, op: dict[str, Any], who: Writer) -> None:
        self.verdict.write_results += 1
        name = op["args"]["name"]
        low = high = 0
        for v in set(op["args"]["values"]):
            b = self.model.bounds(name, v, op, who.skew)
            low += b.must
            high += b.may
        if not low <= op["result"] <= high:
            self._anomaly(
                "remove-count",
                f"{name}: remove reported {op['result']} live, not in [{low}, {high}]",
                op,
                name,
            )

    # -- key TTL samples ------------------------------------------------------------------

    def _sample(self, s: dict[str, Any]) -> None:
        self.verdict.samples += 1
        name = s["key"].split(":", 1)[1]
        if s["pttl"] == -1:
            if not self._old_since_library(name, s):
                self._anomaly("no-ttl", f"key {s['key']} has no TTL", _sample_op(s), name)
        elif s["pttl"] >= 0 and s["newest"] is not None and s["newest"] > s["server"]:
            # PTTL ran between the two TIME readings (milliseconds apart on a busy
            # machine; PTTL counts from the server's whole millisecond, at or before
            # it): the key ends at the second reading plus PTTL at the latest. Counting
            # from the first reading took that delay for a short TTL.
            ends = s.get("server_after", s["server"]) + s["pttl"] / 1000
            # 0.1.0's pipeline is not atomic: its ZADD can land after a library write's TTL
            # step (its own EXPIREAT went first), leaving a short TTL the library never set.
            # The library's PEXPIRE counts whole milliseconds from the server's whole
            # millisecond: the key may end up to one before its newest value.
            if ends < s["newest"] - MS and not self._old_since_library(name, s):
                self._anomaly(
                    "short-ttl",
                    f"key {s['key']} ends at {ends:.3f}, before its newest value {s['newest']:.3f}",
                    _sample_op(s),
                    name,
                )
        if s["pttl"] >= 0 and s["newest"] is not None:
            ends = s["server"] + s["pttl"] / 1000
            slack = self._ttl_slack(name, s)
            if ends > s["newest"] + slack and not self._old_since_library(name, s):
                self._anomaly(
                    "long-ttl",
                    f"key {s['key']} ends at {ends:.3f}, {ends - s['newest']:.3f} s after its "
                    f"newest value {s['newest']:.3f} (at most {slack:.3f} s)",
                    _sample_op(s),
                    name,
                )
        if s.get("members") is not None and s["pttl"] != -2:
            self._sample_members(name, s)

    def _ttl_slack(self, name: str, s: dict[str, Any]) -> float:
        """How long after its newest member the key of ``name`` may end at sample ``s``.

        The write (or sweep) that set the TTL last measured it from the earlier of
        its writer's "now" and the server's: its writer's lag behind the server, plus
        the time from reading that "now" to the script running (the call's length),
        plus PEXPIRE's rounding up to the millisecond. Each candidate for the last
        write counts: those not certainly followed by another before the sample.
        """
        setters = self.ttl_setters.get(name, ([], []))
        times, ops = setters
        hi = bisect.bisect_left(times, s["comp"])
        window = ops[max(0, hi - 200) : hi]
        # A lossy fault on the name's node (a forced failover, a kill) may undo a write
        # acknowledged before it: such a write is not certainly the last TTL setter.
        since = window[0]["inv"] if window else s["inv"]
        lossy = [
            f
            for f in self.model.lossy
            if f["start"] <= s["comp"] and f["end"] >= since and self.model._hit(f, name)
        ]
        settled = -math.inf  # the latest invocation of a write certainly done before s
        for op in window:
            # A library write always ends by setting the TTL; a sweep only when wrong.
            if (
                op["outcome"] == OK
                and op["comp"] < s["inv"]
                and op["op"] != "sweep"
                and not any(f["end"] >= op["inv"] for f in lossy)
            ):
                settled = max(settled, op["inv"])
        worst = 0.0
        for op in window:
            late = op["comp"] + (LAG if op["outcome"] == UNKNOWN else 0.0)
            if late >= settled:
                worst = max(worst, late - op["inv"] + self.lag_behind[op["proc"]])
        return worst + 0.002 + EPS

    def _sample_members(self, name: str, s: dict[str, Any]) -> None:
        """The sampler's read of the server: every value that must be live is stored."""
        stored = set(s["members"])
        op = _sample_op(s)
        for v in self.model.values.get(name, ()):
            if str(v) in stored:
                continue
            b = self.model.bounds(name, v, op, 0.0)
            if b.must and b.anchor is not None:
                message = f"{name}: live value {v} not stored (the sampler's read of the server)"
                self._anomaly("missing", message, op, name, v, since=b.anchor.inv)
            else:
                self._lost(b, name, v)

    def _old_since_library(self, name: str, s: dict[str, Any]) -> bool:
        """Did 0.1.0 write ``name`` with no library write since (the key's TTL is 0.1.0's)?"""
        invs, ends = self.old_ends.get(name, ([], []))
        before = bisect.bisect_left(invs, s["comp"])  # 0.1.0's writes begun before s ended
        if not before:
            return False
        last_old = ends[before - 1]
        lib_invs, earliest = self.lib_ok.get(name, ([], []))
        after = bisect.bisect_right(lib_invs, last_old)  # library writes begun after it
        if after < len(lib_invs) and earliest[after] < s["inv"]:
            # One ended before s began; unless a lossy fault on the name's node (a
            # forced failover, a kill) may have undone it, as it may any write.
            return any(
                f["start"] <= s["comp"] and f["end"] >= last_old and self.model._hit(f, name)
                for f in self.model.lossy
            )
        return True


def _sample_op(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "sampler",
        "proc": "sampler",
        "op": "sample",
        "args": {"key": s["key"]},
        "inv": s["inv"],
        "comp": s["comp"],
        "outcome": OK,
        "result": {"pttl": s["pttl"], "newest": s["newest"], "server": s["server"]},
    }


def check(history: History) -> Verdict:
    """Check a whole history; the verdict lists every anomaly and every counted loss."""
    return Checker(history).run()
