"""Command building: the few shapes of Redis command this library ever sends.

Writes go through one Lua script (``write.lua``) in chunks of keys. Reads on
the client's clock are plain commands (ZRANGEBYSCORE and friends), one per
key; reads on the server's clock go through one read-only script
(``read.lua``). Every call is bounded in members AND bytes, so no single call
keeps the server busy for long whatever the batch or value size, and on a
cluster every call holds keys of a single hash slot.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._keys import slot_of
from ._scripts import (
    CHECK,
    DELETE,
    DELETE_PLAIN,
    PAGE,
    PAGE_PLAIN,
    READ,
    READ_PLAIN,
    REMOVE,
    WRITE,
    WRITE_PLAIN,
    Script,
)

_hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
try:
    from hiredis import pack_command as _hiredis_pack_command
except ImportError:  # pragma: no cover - hiredis is optional
    _hiredis_pack = None
else:
    _hiredis_pack = _hiredis_pack_command

# Per write-script call: at most this many members (the script unpacks twice
# as many ZADD arguments, and Lua's stack holds ~8000), ...
MAX_VALUES_PER_CALL = 1000
# ... at most this much work, counting a key as this many members (a call of
# 100 names x 10 values runs ~12 M server instructions, 2-4 ms; a call costs
# ~0.03 M on top of its keys, so smaller calls would cost little more), ...
KEY_WEIGHT = 4
MAX_WEIGHT_PER_CALL = 2000
# ... and at most this many bytes of members: copying and hashing big values
# is what makes a call long once they pass a few hundred bytes.
MAX_BYTES_PER_CALL = 128 * 1024
# What one member costs on top of its bytes (its score, the reply's framing).
MEMBER_OVERHEAD = 16
# A plain write of a key whose members come to at least this many bytes goes
# without a script (see ``transaction_chunks``): Redis's Lua hashes every byte
# a script is given, ~11 instructions a byte. Measured (200 names x one value,
# a refresh, interleaved): at 1 KB the server's CPU is the same either way and
# the client's wall time 1.4x the script's (a round trip more, and a QUEUED
# reply per command to read); at 2 KB the server's CPU is 0.75x, wall time
# about the same; at 4 KB 0.6x, and faster.
BIG_KEY_BYTES = 2048
# Per transaction of such writes: at most this many keys, members and bytes
# (the server runs a transaction's commands in one go, as it does a script's:
# 1 MB of ZADDs takes it 1-4 ms).
MAX_KEYS_PER_TRANSACTION = 1000
MAX_VALUES_PER_TRANSACTION = 1000
MAX_BYTES_PER_TRANSACTION = 1024 * 1024
# Per read-script call: at most this many keys, and a reply of about this
# many bytes (the script stops early and is asked again for the rest).
MAX_KEYS_PER_READ = 500
MAX_READ_BYTES = 128 * 1024
# Per delete-script call: at most this many keys.
MAX_KEYS_PER_DELETE = 500
# Plain commands (reads, one key each) packed and sent to the socket together,
# this many at a time: one system call per group, not per command.
SEND_GROUP = 128


@dataclass(slots=True)
class Call:
    """One Redis command, as ``execute_command`` arguments.

    ``script`` names the script an EVALSHA needs (to load it on NOSCRIPT);
    ``fallback`` is the call to make instead on a server that lacks the
    command (EVALSHA_RO on fakeredis). ``resend`` is False for a call whose
    reply tells what it did (how many values were new): after a lost reply
    it must not run again unseen, or the count it returns is wrong.
    ``each_node`` marks a call that follows the others (last in a send) on
    every connection they went out on, one per node on a cluster (``WAIT``):
    its reply is then a ``NodeReplies``, one reply per node.
    ``packed`` is the call already in the Redis protocol (``prepared``), for
    the transactions' big ZADDs: packed while the server works on the
    exchange before theirs.
    """

    args: tuple[Any, ...]
    script: Script | None = None
    fallback: Call | None = None
    resend: bool = True
    each_node: bool = False
    packed: tuple[bytes, ...] | None = None


class NodeReplies(list[Any]):
    """The replies of an ``each_node`` call on a cluster: one per node it went to."""


@dataclass(frozen=True, slots=True)
class WriteMode:
    """What a write call does with members that are already live (ZADD's flags)."""

    nx: bool = False
    xx: bool = False
    gt: bool = False
    lt: bool = False
    #: Count live members whose expiry changed too (ZADD's CH).
    ch: bool = False
    #: The multimap's ``max_values``: live members a key keeps at most.
    cap: int | None = None
    #: ``touch``: (with ``xx``) count the given members that were live.
    touch: bool = False
    #: ``add_new``: (with ``nx``) reply with, per given member, whether it was new.
    report: bool = False

    def arg(self) -> str:
        """The mode as ``write.lua`` takes it.

        ``""``, ``NX``, ``XX``, ``GT``, ``XXGT``, ``LT`` or ``XXLT``; then,
        only when set, ``|``, ``C`` for ``ch``, ``T`` for ``touch`` or ``N``
        for ``report``, and the cap's digits.
        """
        base = (
            ("NX" if self.nx else "")
            + ("XX" if self.xx else "")
            + ("GT" if self.gt else "")
            + ("LT" if self.lt else "")
        )
        if not (self.ch or self.touch or self.report) and self.cap is None:
            return base
        flags = "C" if self.ch else ""
        flags += "T" if self.touch else "N" if self.report else ""
        return f"{base}|{flags}{'' if self.cap is None else self.cap}"


class KeyWrite:
    """Everything one write call does to one key: its part of ``write.lua``'s ARGV.

    ``items`` are members (to add with the call's one score, or to remove) or,
    with ``pairs``, flat ``[score, member, score, member, ...]`` pairs
    (``add_many_with_ttl``); the call's header says which. Every member is
    already encoded.
    """

    __slots__ = ("items", "key", "nbytes", "size", "width")

    def __init__(self, key: bytes, items: list[Any], *, pairs: bool = False) -> None:
        #: The sorted set.
        self.key = key
        #: Members, or flat score/member pairs.
        self.items = items
        #: 2 for pairs, else 1.
        self.width = 2 if pairs else 1
        #: How many members this touches.
        self.size = len(items) // self.width
        members = items[1::2] if pairs else items
        #: About how many bytes this sends and the server copies.
        self.nbytes = len(key) + sum(map(len, members)) + MEMBER_OVERHEAD * self.size

    def split(self, count: int, nbytes: int) -> list[KeyWrite]:
        """Pieces of at most ``count`` members and about ``nbytes`` bytes each.

        Most keys fit whole and come back as themselves.
        """
        if self.size <= count and self.nbytes <= nbytes:
            return [self]
        width = self.width
        pieces: list[KeyWrite] = []
        items: list[Any] = []
        size = weight = 0
        for i in range(0, len(self.items), width):
            cost = len(self.items[i + width - 1]) + MEMBER_OVERHEAD
            if size and (size + 1 > count or weight + cost > nbytes):
                pieces.append(KeyWrite(self.key, items, pairs=width == 2))
                items, size, weight = [], 0, 0
            items.extend(self.items[i : i + width])
            size += 1
            weight += cost
        pieces.append(KeyWrite(self.key, items, pairs=width == 2))
        return pieces

    def argv(self) -> list[Any]:
        """This key's part of the write script's ARGV (see ``write.lua``)."""
        return [self.size, *self.items]


_T = TypeVar("_T")


def _group(items: Sequence[_T], key_of: Callable[[_T], bytes], cluster: bool) -> list[list[_T]]:
    """Items in one list, or on a cluster one list per hash slot (keeping order)."""
    if not cluster:
        return [list(items)]
    by_slot: dict[int, list[_T]] = {}
    for item in items:
        by_slot.setdefault(slot_of(key_of(item)), []).append(item)
    return list(by_slot.values())


def _chunks(items: list[_T], size: int) -> Iterator[list[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_calls(
    writes: Iterable[KeyWrite], header: Sequence[Any], cluster: bool, script: Script = WRITE
) -> list[Call]:
    """Write-script calls applying ``writes``, bounded in size, one slot per call.

    ``header`` is the first part of every call's ARGV (see ``write.lua``);
    ``script`` is ``WRITE``, ``REMOVE`` or (servers that cannot read a
    ``#!lua`` line) ``WRITE_PLAIN``.
    """
    pieces = [
        piece for write in writes for piece in write.split(MAX_VALUES_PER_CALL, MAX_BYTES_PER_CALL)
    ]
    calls: list[Call] = []
    for group in _group(pieces, lambda piece: piece.key, cluster):
        keys: list[bytes] = []
        argv: list[Any] = list(header)
        weight = values = nbytes = 0
        for piece in group:
            cost = KEY_WEIGHT + piece.size
            full = (
                weight + cost > MAX_WEIGHT_PER_CALL
                or values + piece.size > MAX_VALUES_PER_CALL
                or nbytes + piece.nbytes > MAX_BYTES_PER_CALL
            )
            if keys and full:
                calls.append(_script_call(script, keys, argv))
                keys, argv, weight, values, nbytes = [], list(header), 0, 0, 0
            keys.append(piece.key)
            argv.extend(piece.argv())
            weight += cost
            values += piece.size
            nbytes += piece.nbytes
        if keys:
            calls.append(_script_call(script, keys, argv))
    return calls


def transaction_chunks(writes: Iterable[KeyWrite], cluster: bool) -> list[list[KeyWrite]]:
    """``writes`` (each within a transaction's bounds) in transactions: bounded, one slot each."""
    chunks: list[list[KeyWrite]] = []
    for group in _group(list(writes), lambda write: write.key, cluster):
        chunk: list[KeyWrite] = []
        values = nbytes = 0
        for write in group:
            if chunk and (
                len(chunk) >= MAX_KEYS_PER_TRANSACTION
                or values + write.size > MAX_VALUES_PER_TRANSACTION
                or nbytes + write.nbytes > MAX_BYTES_PER_TRANSACTION
            ):
                chunks.append(chunk)
                chunk, values, nbytes = [], 0, 0
            chunk.append(write)
            values += write.size
            nbytes += write.nbytes
        if chunk:
            chunks.append(chunk)
    return chunks


def fits_transaction(write: KeyWrite) -> bool:
    """Whether a plain write of ``write`` goes without a script: big, one transaction's worth."""
    return (
        write.width == 1
        and write.nbytes >= BIG_KEY_BYTES
        and write.size <= MAX_VALUES_PER_TRANSACTION
        and write.nbytes <= MAX_BYTES_PER_TRANSACTION
    )


def check_calls(keys: Sequence[bytes], now: str, score: str, budget: int) -> list[Call]:
    """``WATCH`` of ``keys`` and ``check.lua``'s reads of them (see there)."""
    return [
        Call(("WATCH", *keys)),
        Call(("EVALSHA", CHECK.sha, len(keys), *keys, now, score, budget), script=CHECK),
    ]


def zadd_calls(writes: Sequence[KeyWrite], score: str) -> list[Call]:
    """Each write's ``ZADD`` of its members at ``score``, already packed (see ``Call.packed``).

    A transaction's commands wait on its check's reply, but these do not:
    packing them while the server runs the check (or the transaction
    before) takes most of the client's work off the time a write takes.
    """
    calls: list[Call] = []
    for write in writes:
        args: list[Any] = ["ZADD", write.key]
        for member in write.items:
            args += (score, member)
        command = tuple(args)
        calls.append(Call(command, packed=tuple(pack_plain([command]))))
    return calls


def transaction_calls(
    writes: Sequence[KeyWrite],
    verdicts: Sequence[int],
    score: str,
    base: Any,
    ttl_ms: Any,
    zadds: Sequence[Call] | None = None,
) -> tuple[list[Call], list[int]]:
    """``MULTI``, each key's commands, ``EXEC``; and where each ZADD's reply is in EXEC's.

    ``verdicts`` are ``check.lua``'s per key: how many of its members expired
    (collected first, up to ``base``), or -1 for a key left out (-1 in the
    positions too). ``zadds``: ``zadd_calls(writes, score)``, if made already.
    """
    if zadds is None:
        zadds = zadd_calls(writes, score)
    calls = [Call(("MULTI",))]
    positions: list[int] = []
    for write, verdict, zadd in zip(writes, verdicts, zadds, strict=True):
        if verdict < 0:
            positions.append(-1)
            continue
        if verdict > 0:
            calls.append(Call(("ZREMRANGEBYSCORE", write.key, "-inf", base)))
        positions.append(len(calls) - 1)
        calls.append(zadd)
        calls.append(Call(("PEXPIRE", write.key, ttl_ms)))
    calls.append(Call(("EXEC",)))
    return calls, positions


def transaction_marker(keys: Sequence[bytes]) -> Call:
    """A stand-in for a transaction among a batch's script calls, shaped as one (its keys).

    ``raise_batch_error`` reads a call's keys from EVALSHA's shape; a
    transaction is all or nothing for its keys, as a script call without
    ``[not written: ...]`` is.
    """
    return Call(("EXEC", "", len(keys), *keys))


#: An argument (or, packed by hiredis, a whole command) this long goes out as
#: a buffer of its own: joining it with the others would copy it once more,
#: which for 100 KB values cost the client more than the server's work.
OWN_BUFFER_BYTES = 16 * 1024


def pack(commands: Iterable[tuple[Any, ...]]) -> list[bytes]:
    """``commands`` in the Redis protocol, as buffers for ``send_packed_command``.

    Arguments are bytes (keys, members: encoded by the core), str (ASCII
    numbers and command names) or int; hiredis's packer, where it is
    installed, or this module's, packs them a few times faster than the
    client library's general one, which matters for reads of many names: one
    command per name. Small commands are joined into one buffer; a big one
    stays a buffer of its own.
    """
    if _hiredis_pack is None:
        return pack_plain(commands)
    return _joined(map(_hiredis_pack, commands))


def _joined(parts: Iterable[bytes]) -> list[bytes]:
    """``parts`` with each run of buffers shorter than ``OWN_BUFFER_BYTES`` joined into one.

    The client sends each buffer with a system call of its own; a longer
    one stays apart (joining would copy it once more).
    """
    buffers: list[bytes] = []
    run: list[bytes] = []
    for part in parts:
        if len(part) < OWN_BUFFER_BYTES:
            run.append(part)
            continue
        if run:
            buffers.append(b"".join(run))
            run = []
        buffers.append(part)
    if run:
        buffers.append(b"".join(run))
    return buffers


#: Shorter arguments are formatted with their header; longer ones are joined
#: as they are (formatting would copy them once more).
_FORMATTED_BYTES = 256


def pack_plain(commands: Iterable[Sequence[Any]]) -> list[bytes]:
    """``pack`` without hiredis; a big argument is sent as it is, never copied."""
    buffers: list[bytes] = []
    run: list[bytes] = []
    append = run.append
    for args in commands:
        append(b"*%d\r\n" % len(args))
        for arg in args:
            if type(arg) is not bytes:
                arg = (repr(arg) if isinstance(arg, float) else str(arg)).encode()
            size = len(arg)
            if size < _FORMATTED_BYTES:
                append(b"$%d\r\n%b\r\n" % (size, arg))
                continue
            append(b"$%d\r\n" % size)
            if size < OWN_BUFFER_BYTES:
                append(arg)
                append(b"\r\n")
                continue
            buffers += (b"".join(run), arg)
            run = [b"\r\n"]
            append = run.append
    buffers.append(b"".join(run))
    return buffers


def pack_calls(calls: Sequence[Call]) -> list[bytes]:
    """``calls`` as ``pack`` packs them, using what each has ``packed`` already."""
    parts: list[bytes] = []
    pending: list[tuple[Any, ...]] = []
    for call in calls:
        if call.packed is None:
            pending.append(call.args)
            continue
        parts += _each_packed(pending)
        pending = []
        parts += call.packed
    parts += _each_packed(pending)
    return _joined(parts)


def _each_packed(commands: list[tuple[Any, ...]]) -> list[bytes]:
    """``commands`` packed, not yet joined (``pack_calls`` joins them with the rest once)."""
    if not commands:
        return []
    if _hiredis_pack is None:
        return pack_plain(commands)
    return [_hiredis_pack(args) for args in commands]


# Scripts whose reply tells what they did (see ``Call.resend``): delete's too,
# how many names existed (a rerun after a lost reply finds them gone: 0).
_COUNTED = frozenset({WRITE, REMOVE, WRITE_PLAIN, DELETE, DELETE_PLAIN})


def _script_call(script: Script, keys: Sequence[bytes], argv: Sequence[Any]) -> Call:
    args = ("EVALSHA", script.sha, len(keys), *keys, *argv)
    return Call(args, script=script, resend=script not in _COUNTED)


def read_script_call(keys: Sequence[bytes], *argv: Any) -> Call:
    """A read on the server's clock (``read.lua``): EVALSHA_RO, or EVALSHA where it is missing."""
    args = (len(keys), *keys, *argv)
    return Call(
        ("EVALSHA_RO", READ.sha, *args),
        script=READ,
        fallback=Call(("EVALSHA", READ_PLAIN.sha, *args), script=READ_PLAIN),
    )


def plain_reads(keys: Sequence[bytes], bound: str, cap: int | None = None) -> list[Call]:
    """One ZRANGEBYSCORE per key, live members above ``bound``, answered in key order.

    With a ``cap``, one ZRANGE ... BYSCORE REV LIMIT per key: only the ``cap``
    live members ranked highest, highest first (the caller reverses them).
    """
    if cap is not None:
        return [
            Call(("ZRANGE", key, "+inf", bound, "BYSCORE", "REV", "LIMIT", 0, cap)) for key in keys
        ]
    return [Call(("ZRANGEBYSCORE", key, bound, "+inf")) for key in keys]


def read_calls(
    keys: Sequence[bytes], bound: str | None, cluster: bool, cap: int | None = None
) -> list[tuple[Call, list[int]]]:
    """Calls reading the live members of ``keys``, each with the key positions it answers.

    With a ``bound`` (the client's clock, or the server's read by ``TIME``
    just before), one plain ZRANGEBYSCORE per key: the cheapest read for the
    server, and no call holds more than one key's members. With ``bound``
    None (the server's clock where one call must read it and the keys),
    ``read.lua`` calls of many keys; such a call may answer fewer positions
    than it was given (see ``members_per_key()``), and the caller asks again
    for the rest. With a ``cap``, each key's ``cap`` live members ranked
    highest, highest first.
    """
    if bound is not None:
        return [(call, [i]) for i, call in enumerate(plain_reads(keys, bound, cap))]
    extra = () if cap is None else (cap,)
    return [
        (read_script_call([keys[i] for i in chunk], "members", MAX_READ_BYTES, *extra), chunk)
        for group in _group(range(len(keys)), lambda i: keys[i], cluster)
        for chunk in _chunks(group, MAX_KEYS_PER_READ)
    ]


#: The server's clock, for reads on it that then go as plain commands.
TIME = Call(("TIME",))


def time_bound(reply: Any) -> str:
    """The live bound of a ``TIME`` reply, as exact text (the scripts' ``time_text``).

    The reply is ``[seconds, microseconds]`` as bytes, str or int (redis-py
    turns it into ints where its response callbacks run).
    """
    seconds, micros = (int(part) for part in reply)
    return f"({seconds}.{micros:06d}"


def members_per_key(call: Call, reply: Any) -> list[list[Any]]:
    """The lists of members ``call`` answered, in key order; maybe fewer than its keys."""
    if call.script is None:
        return [list(reply)]
    return [list(members) for members in reply]


def delete_calls(keys: Sequence[bytes], cluster: bool, script: Script = DELETE) -> list[Call]:
    """Delete-script calls for ``keys``: sorted sets only, one slot per call on a cluster.

    ``script`` is ``DELETE`` or (servers that cannot read ``#!lua``) ``DELETE_PLAIN``.
    """
    return [
        _script_call(script, chunk, ())
        for group in _group(list(keys), lambda key: key, cluster)
        for chunk in _chunks(group, MAX_KEYS_PER_DELETE)
    ]


# -- API additions: iter_values pages, reads with expiry times of many keys ----


def page_call(
    key: bytes, cursor: int, count: int, server_clock: bool, cap: int | None = None
) -> Call:
    """One page of ``iter_values``: ZSCAN from ``cursor``, about ``count`` members.

    Without ``server_clock``, plain ZSCAN (members with their scores; the
    core keeps the live ones). With it, ``page.lua`` (EVALSHA_RO, EVALSHA
    where it is missing), which keeps those live by its node's TIME: for a
    cluster, where a TIME sent beside the ZSCAN could reach another node;
    with a ``cap`` it returns the scores and the lowest kept member too.
    """
    if not server_clock:
        return Call(("ZSCAN", key, cursor, "COUNT", count))
    args: tuple[Any, ...] = (1, key, cursor, count)
    if cap is not None:
        args += (cap,)
    return Call(
        ("EVALSHA_RO", PAGE.sha, *args),
        script=PAGE,
        fallback=Call(("EVALSHA", PAGE_PLAIN.sha, *args), script=PAGE_PLAIN),
    )


def plain_reads_with_scores(
    keys: Sequence[bytes], bound: str, cap: int | None = None
) -> list[Call]:
    """One ZRANGEBYSCORE ... WITHSCORES per key, live members above ``bound``, in key order.

    With a ``cap``, as ``plain_reads``: the ``cap`` ranked highest, highest first.
    """
    if cap is not None:
        return [
            Call(("ZRANGE", key, "+inf", bound, "BYSCORE", "REV", "LIMIT", 0, cap, "WITHSCORES"))
            for key in keys
        ]
    return [Call(("ZRANGEBYSCORE", key, bound, "+inf", "WITHSCORES")) for key in keys]


# -- max_values: what reads with a cap need on top ----------------------------


def top_with_scores(key: bytes, cap: int) -> Call:
    """The ``cap`` members of ``key`` ranked highest, with scores, highest first.

    Live members rank above every expired one: these are the live ones a cap
    keeps, plus expired ones when fewer are live (the caller drops those).
    """
    return Call(("ZRANGE", key, 0, cap - 1, "REV", "WITHSCORES"))


def lowest_kept(key: bytes, cap: int) -> Call:
    """The member ranked ``cap``-th highest, with its score: the lowest a cap keeps if live."""
    return Call(("ZRANGE", key, cap - 1, cap - 1, "REV", "WITHSCORES"))


def rank_from_top(key: bytes, member: bytes) -> Call:
    """ZREVRANK: how many members rank above ``member`` (None if absent)."""
    return Call(("ZREVRANK", key, member))


# -- durability on request: WAIT / WAITAOF after a write, on its connection ----

# WAIT's timeout is in milliseconds, 0 meaning "for ever": the largest a
# setting may give is a day (a write call blocking longer is a mistake).
MAX_WAIT_TIMEOUT = 86400.0


@dataclass(frozen=True, slots=True)
class Durability:
    """What to ask after each write call: ``replicas`` (and with ``aof``, the AOF fsynced)."""

    replicas: int
    timeout: float
    aof: bool

    @property
    def command(self) -> str:
        """The command sent: ``WAIT`` or ``WAITAOF``."""
        return "WAITAOF" if self.aof else "WAIT"

    def call(self) -> Call:
        """The call following a write's calls on each connection they used.

        ``WAIT replicas ms``, or ``WAITAOF 1 replicas ms`` (the primary's own
        AOF fsynced too). Never resent: a lost reply leaves the durability
        unknown, and a second WAIT on another connection would not tell.
        """
        ms = max(1, math.ceil(self.timeout * 1000))  # 0 would wait for ever
        head = ("WAITAOF", 1) if self.aof else ("WAIT",)
        return Call((*head, self.replicas, ms), resend=False, each_node=True)

    def probe(self) -> Call:
        """A call that finds the command (and for WAITAOF an AOF) without waiting or writing.

        Asking for no replica is answered at once; WAITAOF's one local fsync
        is too on a connection that has written nothing, and is refused
        where the primary keeps no AOF (``appendonly no``).
        """
        if self.aof:
            return Call(("WAITAOF", 1, 0, 1))
        return Call(("WAIT", 0, 1))


def check_durability(replicas: object, timeout: object, aof: object) -> Durability | None:
    """The settings ``wait_replicas``, ``wait_timeout``, ``wait_aof``, checked; None: no wait."""
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise TypeError(f"wait_replicas must be an int, got {replicas!r}")
    if replicas < 0:
        raise ValueError(f"wait_replicas must be 0 or more, got {replicas!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"wait_timeout must be a number of seconds, got {timeout!r}")
    if not 0 < timeout <= MAX_WAIT_TIMEOUT:  # NaN fails this too
        raise ValueError(
            f"wait_timeout must be above 0 and at most {MAX_WAIT_TIMEOUT:g} seconds, "
            f"got {timeout!r}"
        )
    if not isinstance(aof, bool):
        raise TypeError(f"wait_aof must be a bool, got {aof!r}")
    if replicas == 0 and not aof:
        return None
    return Durability(int(replicas), float(timeout), aof)


# -- what became of a call whose reply was never read -------------------------------


class _Mark:
    """What became of a call whose reply was never read (see ``answered()``)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: A call that may have reached the server, its reply lost: it ran or not.
UNKNOWN = _Mark("UNKNOWN")
#: A call that never left the client: it did not run.
NOT_SENT = _Mark("NOT_SENT")
# Where a failed exchange's progress rides on the exception (see note_progress).
_PROGRESS = "_multimapwithttl_replies"


def note_progress(error: BaseException, replies: Sequence[Any], *, sent: bool = True) -> None:
    """Record on ``error`` (a failed exchange) the replies read before it, in call order.

    The shells call this when a connection fails part-way: the calls after
    ``replies`` ran or not (``sent``), or surely did not (not ``sent``). An
    exception that takes no attribute is left as it is: its calls then count
    as ``UNKNOWN``.
    """
    mark = UNKNOWN if sent else NOT_SENT
    with contextlib.suppress(AttributeError, TypeError):
        setattr(error, _PROGRESS, (list(replies), mark))


def answered(error: BaseException, count: int) -> list[Any]:
    """One entry per call of a failed exchange of ``count`` calls: its reply, or a mark.

    A reply read before the failure, else ``NOT_SENT`` for a call that never
    left the client, else ``UNKNOWN``.
    """
    replies, mark = getattr(error, _PROGRESS, ([], UNKNOWN))
    replies = list(replies[:count])
    return replies + [mark] * (count - len(replies))
