"""Maintenance of a whole prefix: ``stats()`` and ``sweep()``.

SCAN finds the keys under the prefix (on a cluster, on every primary: the
client's ``scan_iter`` does that); they are deduplicated and cut into
batches, and each batch becomes one round trip of ``sweep.lua`` calls, as a
sans-I/O operation like the core's (see ``._protocol``). Every call holds
a bounded number of keys (of one hash slot on a cluster), and a sweep call
removes a bounded number of members, so no server command runs long however
big the prefix or its keys.

On a cluster a call holds keys of one slot, and a SCAN page holds keys of
thousands of slots: batched as they come, nearly every call would carry one
key, and the cost of a call (not of its keys) would set the rate. So keys
are held back (``CLUSTER_HOLD``) and batched by slot, and each node's calls
go on that node's own connection, all nodes at once (``SendToNodes``), not
through the cluster client's pipeline. ``stats()`` and ``sweep(dry_run=True)`` run the
script read-only (EVALSHA_RO where the server has it) and share its counts,
so a dry run reports exactly what a sweep finds.

``Maintenance`` (a base of both multimap classes) makes the ``Job`` that
the shells' ``stats()`` and ``sweep()`` run over the keys SCAN finds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._commands import Call
from ._encode import UTF8, Codec
from ._keys import key_filter, slot_of
from ._protocol import Conversation, Operation, Send, SendToNodes, raise_first_error
from ._reports import ACTIONS, EXAMPLES, Stats, SweepReport
from ._scripts import SWEEP

#: SCAN's COUNT hint: keys the server looks at per SCAN call.
SCAN_COUNT = 1000
#: Keys per round trip (the script calls of one batch go out together).
BATCH_KEYS = 1000
#: On a cluster, keys held back and sorted by slot before they are batched,
#: so that a call carries several keys of its slot (~8 a call when the keys
#: are spread over all 16,384 slots). They are the same objects as the keys
#: the Batcher remembers anyway, so holding them costs a pointer each.
CLUSTER_HOLD = 128 * BATCH_KEYS
#: Keys per script call: about 10 µs of server time each.
KEYS_PER_CALL = 100
#: Members one sweep call may remove (a few ms at most); a key holding more
#: expired members is collected over several calls.
MEMBERS_PER_CALL = 2000

#: Called with how many keys have been looked at so far, after each batch.
Progress = Callable[[int], object]
#: Called with ``(key, action)`` for each key a sweep changes (or would).
KeyListener = Callable[[str, str], object]
#: The key lists of the script's replies, in order: the examples' actions,
#: then the keys whose TTL runs long and is trimmed (listed, never counted).
LISTS = (*ACTIONS, "ttl_trimmed")
#: The actions ``sweep(on_key=...)`` is told of: the lists of keys a sweep
#: changes (foreign keys are left untouched).
CHANGES = tuple(action for action in LISTS if action != "foreign")
#: The client's clock (UNIX seconds); a module attribute so tests can skew it.
client_clock: Callable[[], float] = time.time

#: Why ``Stats.memory_bytes`` is None, by the script's code for it.
MEMORY_UNKNOWN = {
    -1: "the server has no MEMORY USAGE",
    -2: "no permission for MEMORY USAGE",
}
#: Glob patterns on full keys that ``sweep(exclude=...)`` takes.
Patterns = str | bytes | Iterable[str | bytes]


class Examples:
    """Up to ``EXAMPLES`` keys per action, gathered from the script's replies.

    Keys are shown as text decoded as the client decodes (``codec``), bytes
    it cannot decode escaped. With a ``listener``, every key of the lists of
    changes is passed on to it as it comes, and forgotten: a listing of
    millions of keys holds one reply's keys at a time.
    """

    def __init__(self, listener: KeyListener | None = None, codec: Codec = UTF8) -> None:
        self._keys: dict[str, list[str]] = {action: [] for action in ACTIONS}
        self.listener = listener
        self._codec = codec

    def add(self, lists: Sequence[Any]) -> None:
        """Add one reply's five lists (collected, ttl_fixed, deleted, foreign, ttl_trimmed)."""
        for action, keys in zip(LISTS, lists, strict=True):
            kept = self._keys.get(action)
            for key in keys:
                text = self._codec.shown(key)
                if kept is not None and len(kept) < EXAMPLES and text not in kept:
                    kept.append(text)
                if self.listener is not None and action in CHANGES:
                    self.listener(text, action)

    def frozen(self) -> dict[str, tuple[str, ...]]:
        """The examples as ``SweepReport.examples`` holds them."""
        return {action: tuple(keys) for action, keys in self._keys.items()}


@dataclass
class SurveyTotals:
    """Running totals of survey replies, turned into a Stats or a dry-run report."""

    scanned: int = 0
    names: int = 0
    live: int = 0
    expired: int = 0
    no_ttl: int = 0
    foreign: int = 0
    short: int = 0
    dead: int = 0
    excluded: int = 0
    memory: int | None = 0
    memory_unknown: str | None = None
    soonest: float | None = None
    latest: float | None = None
    examples: Examples = field(default_factory=Examples)

    def add(self, reply: Sequence[Any]) -> None:
        """Add one survey reply (see ``sweep.lua``)."""
        done, names, live, expired, no_ttl, foreign, short, dead, memory = map(int, reply[:9])
        self.scanned += done
        self.names += names
        self.live += live
        self.expired += expired
        self.no_ttl += no_ttl
        self.foreign += foreign
        self.short += short
        self.dead += dead
        if memory < 0:
            # Refused by ACL wins over "not there": it is what the operator can fix.
            if self.memory_unknown != MEMORY_UNKNOWN[-2]:
                self.memory_unknown = MEMORY_UNKNOWN.get(memory, MEMORY_UNKNOWN[-1])
            self.memory = None
        elif self.memory is not None:
            self.memory += memory
        if reply[9] is not None:
            low = float(reply[9])
            self.soonest = low if self.soonest is None else min(self.soonest, low)
        if reply[10] is not None:
            high = float(reply[10])
            self.latest = high if self.latest is None else max(self.latest, high)
        self.examples.add(reply[11])

    def stats(self) -> Stats:
        """The totals as ``stats()`` reports them."""
        return Stats(
            names=self.names,
            live_values=self.live,
            expired_values=self.expired,
            keys_without_ttl=self.no_ttl,
            foreign_keys=self.foreign,
            memory_bytes=self.memory,
            soonest_expiry=self.soonest,
            latest_expiry=self.latest,
            memory_unknown=self.memory_unknown,
        )

    def dry_run(self) -> SweepReport:
        """The totals as ``sweep(dry_run=True)`` reports them: what a sweep would do."""
        return SweepReport(
            scanned=self.scanned,
            collected=self.expired,
            ttl_fixed=self.short,
            deleted=self.dead,
            foreign=self.foreign,
            excluded=self.excluded,
            examples=self.examples.frozen(),
        )


@dataclass
class SweepTotals:
    """Running totals of sweep replies."""

    scanned: int = 0
    collected: int = 0
    ttl_fixed: int = 0
    deleted: int = 0
    foreign: int = 0
    excluded: int = 0
    examples: Examples = field(default_factory=Examples)

    def report(self) -> SweepReport:
        """The totals as ``sweep()`` reports them."""
        return SweepReport(
            scanned=self.scanned,
            collected=self.collected,
            ttl_fixed=self.ttl_fixed,
            deleted=self.deleted,
            foreign=self.foreign,
            excluded=self.excluded,
            examples=self.examples.frozen(),
        )


Batch = list[bytes]


class Batcher:
    """Turns SCAN's stream of keys into batches of ``size`` keys, each key once.

    SCAN may return a key more than once (while the keyspace rehashes); a
    key is counted and handled the first time only. The set of keys seen
    costs about 100 bytes a key on the client.

    With ``hold`` (a cluster), up to that many keys are held back and handed
    out sorted by hash slot, so that keys of one slot share batches and
    calls; batches stay ``size`` keys each but the last.
    """

    def __init__(self, size: int = BATCH_KEYS, *, hold: int = 0) -> None:
        self._size = size
        self._hold = hold
        self._seen: set[bytes] = set()
        self._held: Batch = []

    def add(self, key: bytes) -> list[Batch]:
        """Take one key from SCAN; return the batches now ready (often none)."""
        if key in self._seen:
            return []
        self._seen.add(key)
        self._held.append(key)
        if len(self._held) < max(self._size, self._hold):
            return []
        return self.flush()

    def flush(self) -> list[Batch]:
        """Every key held, in batches (the last one partial); none when nothing is held."""
        held, self._held = self._held, []
        if self._hold:
            held.sort(key=slot_of)
        return [held[start : start + self._size] for start in range(0, len(held), self._size)]


def _calls_keys(keys: Sequence[bytes | str], cluster: bool) -> list[list[bytes | str]]:
    """Keys cut into script calls: at most KEYS_PER_CALL each, one hash slot each on a cluster."""
    groups: Iterable[list[bytes | str]]
    if cluster:
        by_slot: dict[int, list[bytes | str]] = {}
        for key in keys:
            by_slot.setdefault(slot_of(key), []).append(key)
        groups = by_slot.values()
    else:
        groups = [list(keys)]
    return [
        group[start : start + KEYS_PER_CALL]
        for group in groups
        for start in range(0, len(group), KEYS_PER_CALL)
    ]


def _survey_call(keys: Sequence[bytes | str], now: str, memory: bool, examples: int) -> Call:
    args = (SWEEP.sha, len(keys), *keys, "survey", now, "1" if memory else "0", examples)
    # Read-only: EVALSHA_RO (replicas take it too), EVALSHA where it is missing.
    return Call(("EVALSHA_RO", *args), script=SWEEP, fallback=Call(("EVALSHA", *args), SWEEP))


def _sweep_call(keys: Sequence[bytes | str], now: str, examples: int) -> Call:
    args = ("EVALSHA", SWEEP.sha, len(keys), *keys, "sweep", now, MEMBERS_PER_CALL, examples)
    return Call(args, script=SWEEP)


def survey(
    keys: Sequence[bytes | str],
    totals: SurveyTotals,
    *,
    now: str,
    cluster: bool,
    memory: bool,
    conversation: Conversation,
    examples: int = EXAMPLES,
) -> Operation[None]:
    """Look at ``keys`` without writing; add what was found to ``totals``.

    ``now`` is the client's clock as text, or ``""`` for the server's only;
    each call's replies hold up to ``examples`` keys per action.
    """
    chunks = _calls_keys(keys, cluster)
    calls = [_survey_call(chunk, now, memory, examples) for chunk in chunks]
    replies = yield from conversation.send(calls)
    raise_first_error(replies)
    for reply in replies:
        totals.add(reply)


def sweep(
    keys: Sequence[bytes | str],
    totals: SweepTotals,
    *,
    now: str,
    cluster: bool,
    conversation: Conversation,
    examples: int = EXAMPLES,
) -> Operation[None]:
    """Sweep ``keys``; add what was done to ``totals``.

    A call that ran out of its removal budget answers how far it got; the
    rest of its keys go out again in the next round trip, until every key
    is done (a key is in a reply's lists once, when it is done).
    """
    pending = _calls_keys(keys, cluster)
    while pending:
        calls = [_sweep_call(chunk, now, examples) for chunk in pending]
        replies = yield from conversation.send(calls)
        raise_first_error(replies)
        unfinished = []
        for chunk, reply in zip(pending, replies, strict=True):
            done, collected, ttl_fixed, deleted, foreign = map(int, reply[:5])
            totals.examples.add(reply[5])
            totals.collected += collected
            totals.ttl_fixed += ttl_fixed
            totals.deleted += deleted
            totals.foreign += foreign
            if done < len(chunk):
                unfinished.append(chunk[done:])
        pending = unfinished
    totals.scanned += len(keys)


def _to_nodes(operation: Operation[None]) -> Operation[None]:
    """``operation`` with each of its sends made a ``SendToNodes``."""
    reply: Any = None
    while True:
        try:
            request = operation.send(reply)
        except StopIteration:
            return  # a batch's operation answers nothing: its totals hold the results
        if isinstance(request, Send):
            request = SendToNodes(request.calls, request.resend)
        reply = yield request


class Job:
    """One run over a prefix: ``"stats"``, ``"dry-run"`` or ``"sweep"``.

    The shell scans, hands each batch of keys to ``batch()`` (an operation
    it drives) and at the end asks for ``stats()`` or ``report()``.
    """

    def __init__(
        self,
        mode: str,
        *,
        server_clock: bool,
        cluster: bool,
        exclude: Patterns = (),
        on_key: KeyListener | None = None,
        codec: Codec = UTF8,
    ) -> None:
        if on_key is not None and not callable(on_key):
            raise TypeError(f"on_key must be callable or None, got {on_key!r}")
        self.mode = mode
        self._server_clock = server_clock
        self._cluster = cluster
        self._codec = codec
        self._excluded = key_filter(exclude, codec)
        self._conversation = Conversation()
        self._looked = SurveyTotals(examples=Examples(on_key, codec))
        self._swept = SweepTotals(examples=Examples(on_key, codec))
        # Listing: every key of a call comes back (a call holds at most
        # KEYS_PER_CALL), else the examples only.
        self._examples = EXAMPLES if on_key is None else KEYS_PER_CALL

    def wanted(self, key: bytes | str) -> bytes | None:
        """``key`` as bytes, or None for a key an exclude pattern matches (counted, never read).

        A key SCAN gave as text (``decode_responses=True``) is encoded back
        as the client encodes: the library sends keys as bytes, and its slot
        and the exclude patterns are those of its bytes.
        """
        raw = self._codec.raw(key)
        if self._excluded is None or not self._excluded(raw):
            return raw
        self._looked.excluded += 1
        self._swept.excluded += 1
        return None

    def batcher(self) -> Batcher:
        """What batches SCAN's keys for this run."""
        return Batcher(hold=CLUSTER_HOLD if self._cluster else 0)

    def batch(self, keys: Sequence[bytes | str]) -> Operation[None]:
        """The operation that handles one batch of keys."""
        # The client's "now" is read per batch (a sweep may take minutes), or
        # left to the server's clock ("").
        now = "" if self._server_clock else repr(client_clock())
        operation: Operation[None]
        if self.mode == "sweep":
            operation = sweep(
                keys, self._swept, now=now, cluster=self._cluster,
                conversation=self._conversation, examples=self._examples,
            )  # fmt: skip
        else:
            operation = survey(
                keys, self._looked, now=now, cluster=self._cluster,
                memory=self.mode == "stats", conversation=self._conversation,
                examples=self._examples,
            )  # fmt: skip
        return _to_nodes(operation) if self._cluster else operation

    def stats(self) -> Stats:
        """The result of a ``"stats"`` run."""
        return self._looked.stats()

    def report(self) -> SweepReport:
        """The result of a ``"sweep"`` or ``"dry-run"`` run."""
        if self.mode == "sweep":
            return self._swept.report()
        return self._looked.dry_run()


class Maintenance:
    """The base of both multimap classes for ``stats()`` and ``sweep()``: the job each runs."""

    if TYPE_CHECKING:
        redis: Any
        key_prefix: str

        @property
        def _cluster(self) -> bool: ...

        @property
        def _codec(self) -> Codec: ...

        def _scan_pattern(self) -> bytes: ...

    def _job(self, mode: str, exclude: Patterns = (), on_key: KeyListener | None = None) -> Job:
        server_clock = getattr(self, "clock", "client") == "server"
        return Job(
            mode,
            server_clock=server_clock,
            cluster=self._cluster,
            exclude=exclude,
            on_key=on_key,
            codec=self._codec,
        )


def scan_refused(error: Exception) -> Exception | None:
    """The client's own error type, saying SCAN is missing, when ACL refused SCAN."""
    text = str(error)
    if type(error).__name__ != "NoPermissionError" and not text.startswith("NOPERM"):
        return None
    try:
        return type(error)(
            f"SCAN refused: this Redis user needs the permission to run SCAN (+scan) "
            f"for stats(), sweep() and names() (server said: {text})"
        )
    except TypeError:  # pragma: no cover - an error type with another signature
        return None
