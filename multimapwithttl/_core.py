"""The sans-I/O core: settings, validation, encoding and every operation, as data in and out.

``MultiMapCore`` holds what both shells share; each operation is a
generator (see ``._protocol``) that the sync and async shells drive.
Nothing here touches a socket.
"""

from __future__ import annotations

import contextlib
import math
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, NoReturn, TypeVar

from ._clients import ClientKind, client_kind, require_client
from ._commands import (
    MAX_READ_BYTES,
    NOT_SENT,
    TIME,
    UNKNOWN,
    Call,
    Durability,
    KeyWrite,
    WriteMode,
    answered,
    check_calls,
    check_durability,
    delete_calls,
    fits_transaction,
    lowest_kept,
    members_per_key,
    page_call,
    plain_reads,
    plain_reads_with_scores,
    rank_from_top,
    read_calls,
    read_script_call,
    time_bound,
    top_with_scores,
    transaction_calls,
    transaction_chunks,
    transaction_marker,
    write_calls,
    zadd_calls,
)
from ._encode import Codec, check_prefix
from ._errors import DurabilityError
from ._expiry import Grain, live_bound
from ._keys import name_of, scan_pattern, slot_of
from ._protocol import (
    Conversation,
    Load,
    Operation,
    Send,
    SendToNodes,
    Transaction,
    no_script,
    raise_batch_error,
    raise_first_error,
    refused_wait,
)
from ._scripts import CHECK, COLLECT_PER_CALL, DELETE, REMOVE, WRITE, Script, plain
from ._validate import (
    MAX_EXPIRE_AT,
    check_cast_fn,
    check_count,
    check_expire_at,
    check_pair,
    check_resolution,
    check_ttl,
    check_values,
)

_SEQUENCES = (list, tuple)

#: What reads return, as ``cast_fn`` makes it.
T = TypeVar("T")
#: Where "now" comes from.
Clock = Literal["client", "server"]
_CLOCKS = ("client", "server")
_R = TypeVar("_R")


# A transaction whose watched keys changed before its EXEC (another writer;
# a key that expired) is checked and tried again this many times in all;
# then its keys go to the write script, which cannot be interrupted.
_TRANSACTION_TRIES = 3

# Per client: whether its server reads a script's "#!lua" line (Redis 7+,
# Valkey) -- learnt once, by the first write of any multimap on that client.
_SHEBANG: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
# Per client: the wait commands (WAIT, WAITAOF) its server was found to take.
_WAITS: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _items(data: object) -> Iterable[Any]:
    if type(data) in _SEQUENCES:
        return data  # type: ignore[return-value]
    if isinstance(data, Mapping):
        return data.items()
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return data
    raise TypeError(f"data must be an iterable of (name, values) pairs, got {data!r}")


def _check_mode(
    nx: bool, xx: bool, gt: bool, lt: bool = False, ch: bool = False, cap: int | None = None
) -> WriteMode:
    if nx and (xx or gt):
        raise ValueError("nx=True cannot be combined with xx=True or gt=True")
    if lt and (gt or nx):
        # As ZADD: GT, LT and NX options at the same time are not compatible.
        raise ValueError("lt=True cannot be combined with gt=True or nx=True")
    return WriteMode(bool(nx), bool(xx), bool(gt), bool(lt), bool(ch), cap)


def check_max_values(max_values: object) -> int | None:
    """``max_values`` if it is None or a positive int (bool refused)."""
    if max_values is None:
        return None
    if isinstance(max_values, bool) or not isinstance(max_values, int):
        raise TypeError(f"max_values must be a positive int or None, got {max_values!r}")
    if max_values <= 0:
        raise ValueError(f"max_values must be a positive int or None, got {max_values!r}")
    return int(max_values)


def _pairs(reply: Sequence[Any]) -> list[tuple[Any, Any]]:
    """(member, score) pairs from a WITHSCORES reply, flat (RESP2, scripts) or paired."""
    if reply and not isinstance(reply[0], (list, tuple)):
        return list(zip(reply[::2], reply[1::2], strict=True))
    return [(member, score) for member, score in reply]


class MultiMapCore(Generic[T]):
    """Settings and operations shared by ``MultiMapWithTTL`` and its async twin."""

    #: True in the asyncio shell: the client's commands must be coroutines.
    _asyncio = False

    def __init__(
        self,
        redis_client: Any,
        key_prefix: str,
        ttl: float = 3600,
        cast_fn: Callable[[Any], T] | None = None,
        *,
        resolution: float = 1.0,
        clock: Clock = "client",
        max_values: int | None = None,
        wait_replicas: int = 0,
        wait_timeout: float = 1.0,
        wait_aof: bool = False,
    ) -> None:
        durability = check_durability(wait_replicas, wait_timeout, wait_aof)
        check_ttl(ttl)
        check_cast_fn(cast_fn)
        check_prefix(key_prefix)
        if clock not in _CLOCKS:
            raise ValueError(f"clock must be 'client' or 'server', got {clock!r}")
        grain = Grain(check_resolution(resolution))
        cap = check_max_values(max_values)
        kind = self._check_client(redis_client)
        # Encoded as the client encodes it: a prefix it cannot encode fails here.
        prefix_bytes = kind.codec.prefix(key_prefix)
        #: The client every call goes through (read at call time; never closed here).
        self.redis: Any = redis_client
        #: Every key is ``f"{key_prefix}:{name}"``.
        self.key_prefix: str = key_prefix
        #: Default time to live of added values, in seconds.
        self.ttl: float = ttl
        #: Applied to each member read back; ``None`` means ``int``, as in 0.1.0.
        self.cast_fn: Callable[[Any], T] | None = cast_fn
        self._grain = grain
        self._clock: Clock = clock
        self._max_values = cap
        self._durability: Durability | None = durability
        self._wait_settings = (int(wait_replicas), float(wait_timeout), bool(wait_aof))
        self._conversation = Conversation()
        self._seen_client: object = redis_client
        self._kind = kind
        self._route(kind)
        # The prefix, the codec and the bytes ``_prefix()`` last encoded.
        self._seen_prefix: str = key_prefix
        self._prefix_codec: Codec = kind.codec
        self._prefix_bytes = prefix_bytes
        # The client ``_shebang()`` last answered for, and its answer.
        self._shebang_client: object = None
        self._shebang_known = True
        # The client ``from_url`` made for this multimap: nobody else can
        # close it, so ``close()`` does. A client given is the caller's.
        self._made_client: Any = None

    def _check_client(self, client: object) -> ClientKind:
        """What ``client`` is, if it is of this shell's kind (asyncio or blocking)."""
        require_client(client, type(self).__name__)
        kind = client_kind(client)
        if kind.asyncio != self._asyncio:
            wanted = "AsyncMultiMapWithTTL" if kind.asyncio else "MultiMapWithTTL"
            what = "an asyncio" if kind.asyncio else "a blocking (non-asyncio)"
            raise TypeError(
                f"{type(self).__name__} got {what} client ({type(client).__name__}); "
                f"use {wanted} with it"
            )
        return kind

    @property
    def resolution(self) -> float:
        """The grain of stored expiry times, in seconds (read-only)."""
        return self._grain.seconds

    @property
    def clock(self) -> Clock:
        """Where "now" comes from: ``"client"`` (this machine) or ``"server"`` (read-only)."""
        return self._clock

    @property
    def max_values(self) -> int | None:
        """Live values a name keeps at most after every write (read-only); None: no cap."""
        return self._max_values

    @property
    def wait_replicas(self) -> int:
        """Replicas that must acknowledge each write call (``WAIT``), else DurabilityError.

        0 (the default): no ``WAIT``. Read-only.
        """
        return self._wait_settings[0]

    @property
    def wait_timeout(self) -> float:
        """How long each ``WAIT`` (``WAITAOF``) may block, in seconds (read-only)."""
        return self._wait_settings[1]

    @property
    def wait_aof(self) -> bool:
        """Whether each write call waits for ``WAITAOF`` (the AOF fsynced), not ``WAIT``."""
        return self._wait_settings[2]

    # -- helpers -----------------------------------------------------------

    @property
    def _client(self) -> ClientKind:
        """What ``redis`` is; it is public and may be swapped, so look again when it is."""
        if self.redis is not self._seen_client:
            self._kind = self._check_client(self.redis)
            self._seen_client = self.redis
            self._route(self._kind)
        return self._kind

    def _route(self, kind: ClientKind) -> None:
        """Who routes read-only script calls on a cluster: the client, or the library."""
        own = kind.cluster and not kind.routes_read_scripts
        self._conversation.route_read_scripts = SendToNodes if own else Send

    @property
    def _cluster(self) -> bool:
        """True when talking to a cluster: keys are then grouped by hash slot."""
        return self._client.cluster

    @staticmethod
    def _now() -> float:
        return time.time()

    @property
    def _codec(self) -> Codec:
        """How the client encodes text: every name, value and the prefix go through it."""
        return self._client.codec

    def _prefix(self) -> bytes:
        # key_prefix and the client are public and read at call time: the
        # prefix is encoded again only when either changed.
        codec = self._codec
        if self.key_prefix is not self._seen_prefix or codec is not self._prefix_codec:
            prefix = self.key_prefix
            self._prefix_bytes = codec.prefix(prefix)
            self._seen_prefix, self._prefix_codec = prefix, codec
        return self._prefix_bytes

    def _key(self, name: object) -> bytes:
        prefix = self._prefix()
        return self._prefix_codec.key(self._seen_prefix, prefix, name)

    def _keys(self, names: Iterable[Any]) -> list[bytes]:
        """The keys of ``names``, the prefix and the client's codec looked up once."""
        prefix = self._prefix()
        codec, text = self._prefix_codec, self._seen_prefix
        return [codec.key(text, prefix, name) for name in names]

    def _caster(self) -> Callable[[Any], Any]:
        """The function applied to each member read back (picked once per call)."""
        cast = self.cast_fn if self.cast_fn is not None else int
        if cast is str:
            # str(b"abc") is "b'abc'": give the text back, decoded as the
            # client decodes (as with decode_responses=True).
            return self._codec.decode
        return cast

    def _header(
        self, now: float, mode: WriteMode, shape: str, score: float | None = None, ttl: float = 0
    ) -> list[Any]:
        """The write script's ARGV head (see ``write.lua``).

        ``shape``: ``"s"`` every member gets ``score`` (``now + ttl`` rounded
        up; on the server's clock the script computes it from ``ttl``),
        ``"p"`` score/member pairs, ``"r"`` removals.
        """
        if self._clock == "server":
            grain = self._grain
            ttl_arg = repr(ttl) if shape == "s" else ""
            return ["", mode.arg(), shape, ttl_arg, repr(grain.seconds), grain.digits]
        if score is None:
            return [repr(now), mode.arg(), shape, "", ""]
        # The key TTL for a key whose newest member has this score, as the
        # script would compute it from ``now`` (same doubles, same result):
        # sent ready-made, it spares the server a number-to-text per key.
        key_ms = math.ceil((score - now) * 1000)
        return [repr(now), mode.arg(), shape, self._grain.score_arg(score), key_ms]

    def _writes_with_ttl(
        self, data: object, names: dict[bytes, Any] | None = None
    ) -> list[KeyWrite]:
        """The writes of ``data``; ``names`` gets each written key's name (the first given)."""
        prefix = self._prefix()
        codec, text = self._prefix_codec, self._seen_prefix
        writes = []
        for n, item in enumerate(_items(data)):
            where = f"data[{n}]"
            name, values = check_pair(item, where, "name", "values")
            key = codec.key(text, prefix, name)
            # Encoded, then deduplicated: a value given twice is one member.
            # Sent in descending order: a small sorted set is one flat list
            # (a listpack) where ZADD inserts a member by scanning from the
            # head; members that all move to one new, higher score then each
            # stop at the first one moved before (ascending, each would scan
            # past all of those): ~10 % of a refresh's server work.
            members = sorted(set(map(codec.value, check_values(values, where))), reverse=True)
            if members:
                writes.append(KeyWrite(key, members))
                if names is not None:
                    names.setdefault(key, name)
        return writes

    def _writes_at(self, data: object, names: dict[bytes, Any] | None = None) -> list[KeyWrite]:
        """The writes of ``data``; ``names`` gets each written key's name (the first given)."""
        prefix = self._prefix()
        codec, text = self._prefix_codec, self._seen_prefix
        encode_value = codec.value
        writes = []
        for n, item in enumerate(_items(data)):
            name, pairs = check_pair(item, f"data[{n}]", "name", "values")
            key = codec.key(text, prefix, name)
            # The same member twice in one call: the last expiry wins, as in ZADD.
            latest: dict[bytes, str | int] = {}
            for m, pair in enumerate(check_values(pairs, f"data[{n}]")):
                where = f"data[{n}][1][{m}]"
                expire_at, value = check_pair(pair, where, "expire_at", "value")
                when = check_expire_at(expire_at, where)
                self._grain.check(when, f"{where}: expire_at")
                when = self._grain.round_up(when)
                if when > MAX_EXPIRE_AT:  # a coarse grain rounded it into year 10000
                    raise ValueError(
                        f"{where}: expire_at must be before year 10000 once rounded up to "
                        f"resolution={self._grain.seconds!r}, got {expire_at!r}"
                    )
                member = encode_value(value)
                latest.pop(member, None)
                latest[member] = self._grain.score_arg(when)
            if latest:
                flat: list[Any] = []
                # Highest expiry first, then descending members: as above.
                for member, score in sorted(
                    latest.items(), key=lambda item: (float(item[1]), item[0]), reverse=True
                ):
                    flat += (score, member)
                writes.append(KeyWrite(key, flat, pairs=True))
                if names is not None:
                    names.setdefault(key, name)
        return writes

    def _release(self) -> Any:
        """Let go of what this multimap holds; the client to close (``from_url``'s), else None.

        Each call borrows its connection from the client's pool and gives it
        back before returning, so no connection is left to release here; the
        client itself is closed only if this multimap made it (a client given
        to the constructor is the caller's and stays usable). Closing again
        closes it again, which the clients allow (a closed client reconnects
        if used again, so a multimap used after ``close()`` works as before
        and still owns its client).
        """
        return self._made_client

    def _shebang(self, key: bytes) -> Operation[bool]:
        """Whether the server reads a script's ``#!lua`` line (its flags).

        Redis 7+ and Valkey do, and refuse a write script over ``maxmemory``
        before it runs only because of it; fakeredis and Redis < 7 compile
        the line as Lua and fail. Those lack EVALSHA_RO too, so one read of
        ``key`` through it tells (once per client: the answer is kept).
        """
        client = self.redis
        if client is self._shebang_client:
            return self._shebang_known
        try:
            known = _SHEBANG.get(client)
        except TypeError:  # a client that takes no weak reference: kept per multimap
            known = None
        if known is None:
            # Asked of this client even if the conversation learnt otherwise from
            # another (``redis`` is public and may be swapped). An error reply (a
            # user without EVALSHA_RO...) is no answer: the flags are kept.
            conversation = self._conversation
            conversation.read_only_scripts = True
            yield from conversation.send([read_script_call([key], "count")])
            known = conversation.read_only_scripts
            with contextlib.suppress(TypeError):  # not weakly referable: not kept
                _SHEBANG[client] = known
        elif not known:
            self._conversation.read_only_scripts = False
        self._shebang_client, self._shebang_known = client, known
        return known

    def _wait_call(self) -> Operation[Call | None]:
        """The ``WAIT`` (``WAITAOF``) to follow each write call, if one is asked for.

        The first time for a client, its server is asked whether it takes
        the command (a probe that neither waits nor writes), so that a server
        without it (fakeredis, WAITAOF before Redis 7.2) is said plainly
        before anything is written.
        """
        durability = self._durability
        if durability is None:
            return None
        client, command = self.redis, durability.command
        try:
            known = command in _WAITS.get(client, ())
        except TypeError:  # a client that takes no weak reference: asked every time
            known = False
        if not known:
            (reply,) = yield from self._conversation.send([durability.probe()])
            if isinstance(reply, Exception):
                setting = "wait_aof=True" if durability.aof else "wait_replicas"
                raise refused_wait(reply, setting, command)
            with contextlib.suppress(TypeError):
                _WAITS.setdefault(client, set()).add(command)
        return durability.call()

    def _durable(self, result: _R, acks: Sequence[Any]) -> _R:
        """``result``, if every ``WAIT`` reply in ``acks`` counts enough; else DurabilityError."""
        durability = self._durability
        if durability is None or not acks:
            return result
        required = durability.replicas
        fewest: int | None = None
        local: bool | None = True if durability.aof else None
        for ack in acks:
            if isinstance(ack, BaseException):
                command = durability.command
                raise DurabilityError(
                    f"the write ran on the primary, but {command} got no answer ({ack}): "
                    "how many replicas have it is not known. It is not undone nor resent; "
                    "what it returned is the error's .result",
                    result=result,
                    acknowledged=None,
                    required=required,
                    local=None,
                ) from ack
            if durability.aof:
                here, there = (int(part) for part in ack)
                local = bool(local) and here >= 1
                count = there
            else:
                count = int(ack)
            fewest = count if fewest is None else min(fewest, count)
        assert fewest is not None
        if fewest >= required and local is not False:
            return result
        what = "fsynced it to their AOF" if durability.aof else "acknowledged it"
        said = f"{fewest} of the {required} replicas asked for {what}"
        if local is False:
            said = "the primary did not fsync its AOF" + (f", and {said}" if required else "")
        raise DurabilityError(
            f"the write ran on the primary, but {said} within wait_timeout="
            f"{durability.timeout:g} s ({durability.command}). It is not undone nor resent, "
            "and may be lost if the primary fails before a replica has it; what it "
            "returned is the error's .result",
            result=result,
            acknowledged=fewest,
            required=required,
            local=local,
        )

    def _write(
        self,
        writes: list[KeyWrite],
        header: list[Any],
        names: dict[bytes, Any],
        script: Script = WRITE,
    ) -> Operation[int]:
        """Apply ``writes``; an error says which of ``names`` (by key) were written.

        A plain write (latest write wins, no cap, the writer's clock) of big
        members goes without the script where it can (see ``_transactions``);
        with ``wait_replicas``, every write goes through the script, whose
        calls the ``WAIT`` follows on their connection.
        """
        total = 0
        done: tuple[list[Call], list[Any]] = ([], [])
        acks: list[Any] = []
        if (
            writes
            and script is WRITE
            and not self._wait_settings[0]
            and self._clock == "client"
            and header[1] == ""
            and header[2] == "s"
            and any(map(fits_transaction, writes))
        ):
            try:
                shebang = yield from self._shebang(writes[0].key)
            except Exception as error:
                raise_batch_error([], [], names, "written", error)
            if shebang:  # Redis 7+ or Valkey: WATCH sees expiry, ACLs are checked in Lua
                big = [write for write in writes if fits_transaction(write)]
                writes = [write for write in writes if not fits_transaction(write)]
                total, left = yield from self._transactions(big, header, names, done)
                writes += left
        replies = yield from self._write_replies(writes, header, names, script, done, acks)
        return self._durable(total + sum(int(reply) for reply in replies), acks)

    def _transactions(
        self,
        writes: list[KeyWrite],
        header: list[Any],
        names: dict[bytes, Any],
        done: tuple[list[Call], list[Any]],
    ) -> Operation[tuple[int, list[KeyWrite]]]:
        """Write ``writes`` without the script: WATCH and ``check.lua``, then MULTI ... EXEC.

        Returns how many members were new, and the writes left to the script
        (keys the check leaves to it; a transaction that kept failing). Each
        transaction done is added to ``done`` (for a batch error's
        ``.written``); a failed exchange raises the batch's error, a
        transaction whose EXEC reply was lost counting as unknown. Never resent.
        """
        total = 0
        left: list[KeyWrite] = []
        by_slot: dict[int | None, list[list[KeyWrite]]] = {}
        for chunk in transaction_chunks(writes, self._cluster):
            slot = slot_of(chunk[0].key) if self._cluster else None
            by_slot.setdefault(slot, []).append(chunk)
        for slot, chunks in by_slot.items():
            start: int | None = 0
            loads = 0
            while start is not None:
                session = _BigWrites(chunks, start, header[0], header[3], done)
                request = Transaction(session.first(), session.then, slot, False, session.meanwhile)
                session.request = request
                try:
                    yield request
                except Exception as error:
                    session.lost(error)
                    raise_batch_error(done[0], done[1], names, "written", error)
                total += session.total
                left += session.left
                if session.failure is not None:
                    raise_batch_error(done[0], done[1], names, "written", session.failure)
                start = session.load_at
                if start is not None:
                    loads += 1
                    if loads > _TRANSACTION_TRIES:
                        left += (write for chunk in chunks[start:] for write in chunk)
                        break
                    yield Load(CHECK)
        return total, left

    def _write_replies(
        self,
        writes: list[KeyWrite],
        header: list[Any],
        names: dict[bytes, Any],
        script: Script = WRITE,
        done: tuple[list[Call], list[Any]] = ([], []),
        acks: list[Any] | None = None,
    ) -> Operation[list[Any]]:
        """The write script's reply of each call, in order.

        An error keeps its class and says which of ``names`` (by key) were
        written all the same (see ``raise_batch_error``), counting the calls
        and replies ``done`` before these. With ``wait_replicas``, the replies
        of the ``WAIT`` after the calls go into ``acks`` (an exception where it
        was not answered; see ``_durable``).
        """
        if not writes:
            return []
        calls: list[Call] = []
        wait: Call | None = None
        try:
            if not (yield from self._shebang(writes[0].key)):
                script = plain(script)
            wait = yield from self._wait_call()
            calls = write_calls(writes, header, self._cluster, script)
            replies = yield from self._conversation.send(calls, wait, acks)
        except Exception as error:
            failed: BaseException = error
        else:
            if not any(isinstance(reply, Exception) for reply in replies):
                return list(replies)
            raise_batch_error([*done[0], *calls], [*done[1], *replies], names, "written")
        progress = answered(failed, len(calls))
        if _wait_lost(wait, progress) and acks is not None:
            acks.append(failed)  # every call ran: only the WAIT went unanswered
            return progress
        raise_batch_error([*done[0], *calls], [*done[1], *progress], names, "written", failed)

    def _read_one(self, call: Call) -> Operation[Any]:
        (reply,) = yield from self._conversation.send([call])
        raise_first_error([reply])
        return reply

    # -- operations ----------------------------------------------------------

    def _op_add_many(
        self,
        data: object,
        ttl: float | None,
        nx: bool,
        xx: bool,
        gt: bool,
        lt: bool = False,
        ch: bool = False,
    ) -> Operation[int]:
        mode = _check_mode(nx, xx, gt, lt, ch, self._max_values)
        names: dict[bytes, Any] = {}
        writes = self._writes_with_ttl(data, names)
        return (yield from self._write(writes, self._ttl_header(ttl, mode), names))

    def _ttl_header(self, ttl: float | None, mode: WriteMode) -> list[Any]:
        """The header of a write giving every member one expiry, ``ttl`` from now."""
        seconds = check_ttl(self.ttl if ttl is None else ttl)
        now = self._now()
        # On the server's clock the script adds the ttl: a day's margin for skew.
        self._grain.check(now + seconds + (86400 if self._clock == "server" else 0), "ttl")
        score = None if self._clock == "server" else self._grain.round_up(now + seconds)
        return self._header(now, mode, "s", score, seconds)

    def _op_touch(self, name: object, values: Sequence[Any], ttl: float | None) -> Operation[int]:
        # XX and count every given member that was live: ZADD XX CH would
        # leave out those whose expiry did not move (an unchanged score).
        mode = WriteMode(xx=True, touch=True, cap=self._max_values)
        names: dict[bytes, Any] = {}
        writes = self._writes_with_ttl([(name, values)], names)
        return (yield from self._write(writes, self._ttl_header(ttl, mode), names))

    def _op_add_new(
        self, name: object, values: Sequence[Any], ttl: float | None
    ) -> Operation[list[bool]]:
        mode = WriteMode(nx=True, report=True, cap=self._max_values)
        key = self._key(name)
        given = list(map(self._codec.value, check_values(values, "values")))
        header = self._ttl_header(ttl, mode)
        if not given:
            return []
        # As _writes_with_ttl sends them: unique, descending. The calls'
        # replies, joined in order, are one 1/0 per member in that order.
        members = sorted(set(given), reverse=True)
        acks: list[Any] = []
        replies = yield from self._write_replies(
            [KeyWrite(key, members)], header, {key: name}, acks=acks
        )
        verdicts = [int(flag) for reply in replies for flag in reply]
        new = dict(zip(members, verdicts, strict=True))
        found = []
        for member in given:
            found.append(new.get(member) == 1)
            new[member] = 0  # a value given again in the same call was not new then
        return self._durable(found, acks)

    def _op_add_many_with_ttl(
        self, data: object, nx: bool, xx: bool, gt: bool, lt: bool = False, ch: bool = False
    ) -> Operation[int]:
        mode = _check_mode(nx, xx, gt, lt, ch, self._max_values)
        names: dict[bytes, Any] = {}
        writes = self._writes_at(data, names)
        return (yield from self._write(writes, self._header(self._now(), mode, "p"), names))

    def _op_remove(self, name: object, values: Sequence[Any]) -> Operation[int]:
        key = self._key(name)
        members = list(dict.fromkeys(map(self._codec.value, check_values(values, "values"))))
        if not members:
            return 0
        header = self._header(self._now(), WriteMode(), "r")
        return (yield from self._write([KeyWrite(key, members)], header, {key: name}, REMOVE))

    def _op_get_many(self, names: Sequence[Any]) -> Operation[list[list[Any]]]:
        keys = self._keys(names)
        cast = self._caster()  # picked once: cast_fn may change while we wait
        bound: str | None = None
        if self._clock == "client":
            bound = live_bound(self._now())
        elif len(keys) > 1 and not self._cluster:
            # The server's TIME first, then plain reads: a round trip more, but
            # a read script costs the server ~2.4x what plain reads of the same
            # keys do. (One key: one script call. A cluster: each node's own
            # clock, in read.lua calls per slot.)
            (reply,) = yield from self._conversation.send([TIME])
            raise_first_error([reply])
            bound = time_bound(reply)
        cap = self._max_values
        # With a cap, replies come highest first: reversed, as without one.
        step = 1 if cap is None else -1
        if bound is not None:
            # Plain reads, one per key, answered in order.
            replies = yield from self._conversation.send(plain_reads(keys, bound, cap))
            raise_first_error(replies)
            try:
                return [list(map(cast, members[::step])) for members in replies]
            except ValueError as error:
                _cast_failed(cast, error)
        found: list[list[Any]] = [[] for _ in keys]
        pending = list(range(len(keys)))
        while pending:  # a read-script call may answer only part of its keys
            plan = read_calls([keys[i] for i in pending], None, self._cluster, cap)
            replies = yield from self._conversation.send([call for call, _ in plan])
            raise_first_error(replies)
            left: list[int] = []
            for (call, positions), reply in zip(plan, replies, strict=True):
                answered = members_per_key(call, reply)
                try:
                    for position, members in zip(positions, answered, strict=False):
                        found[pending[position]] = list(map(cast, members[::step]))
                except ValueError as error:
                    _cast_failed(cast, error)
                left += (pending[position] for position in positions[len(answered) :])
            pending = left
        return found

    def _op_delete(self, names: Sequence[Any]) -> Operation[int]:
        keys = self._keys(names)
        given: dict[bytes, Any] = {}
        for key, name in zip(keys, names, strict=True):
            given.setdefault(key, name)
        if not keys:
            return 0
        calls: list[Call] = []
        wait: Call | None = None
        acks: list[Any] = []
        try:
            script = DELETE if (yield from self._shebang(keys[0])) else plain(DELETE)
            wait = yield from self._wait_call()
            calls = delete_calls(keys, self._cluster, script)
            replies = yield from self._conversation.send(calls, wait, acks)
        except Exception as error:
            failed: BaseException = error
        else:
            if not any(isinstance(reply, Exception) for reply in replies):
                # Each delete-script call answers how many of its keys it deleted.
                return self._durable(sum(int(reply) for reply in replies), acks)
            raise_batch_error(calls, replies, given, "deleted")
        progress = answered(failed, len(calls))
        if _wait_lost(wait, progress):
            acks.append(failed)  # every call ran: only the WAIT went unanswered
            return self._durable(sum(int(reply) for reply in progress), acks)
        raise_batch_error(calls, progress, given, "deleted", failed)

    def _op_contains(self, name: object, value: object) -> Operation[bool]:
        key, member = self._key(name), self._codec.value(value)
        cap = self._max_values
        if self._clock == "server":
            extra = () if cap is None else (cap,)
            call = read_script_call([key], "contains", member, *extra)
            return bool((yield from self._read_one(call)))
        if cap is None:
            score = yield from self._read_one(Call(("ZSCORE", key, member)))
            return score is not None and float(score) > self._now()
        # With a cap, live and ranked among the ``cap`` highest (live members
        # rank above every expired one); both asked in one round trip.
        now = self._now()
        replies = yield from self._conversation.send(
            [Call(("ZSCORE", key, member)), rank_from_top(key, member)]
        )
        raise_first_error(replies)
        score, rank = replies
        return score is not None and float(score) > now and rank is not None and int(rank) < cap

    def _op_count(self, name: object) -> Operation[int]:
        key = self._key(name)
        if self._clock == "server":
            call = read_script_call([key], "count")
        else:
            call = Call(("ZCOUNT", key, live_bound(self._now()), "+inf"))
        live = int((yield from self._read_one(call)))
        # A surplus over the cap (later writes evict it) is never shown.
        return live if self._max_values is None else min(live, self._max_values)

    def _op_get_with_expiry(self, name: object) -> Operation[list[tuple[Any, float]]]:
        key = self._key(name)
        cap = self._max_values
        if self._clock == "server":
            call = read_script_call([key], "withscores", *(() if cap is None else (cap,)))
        else:
            (call,) = plain_reads_with_scores([key], live_bound(self._now()), cap)
        cast = self._caster()
        reply = yield from self._read_one(call)
        pairs = _pairs(reply)
        if cap is not None:
            pairs.reverse()  # highest first: lowest first, as without a cap
        try:
            return [(cast(member), float(score)) for member, score in pairs]
        except ValueError as error:
            _cast_failed(cast, error)

    def _scan_pattern(self) -> bytes:
        # Encoded here, as the keys were: a prefix that cannot be fails here, not in SCAN.
        return self._codec.text(scan_pattern(self.key_prefix), "key_prefix")

    def _name_of(self, key: bytes | str) -> str:
        # Decoded as the client decodes, bytes it cannot decode escaped: a
        # name listed is the str that names the same key again.
        return name_of(self.key_prefix, self._codec.shown(key))

    # -- API additions: repr, from_url's checks, iter_values, get_many_with_expiry --

    def _repr_fields(self) -> list[tuple[str, str]]:
        """``(name, shown value)`` of each setting ``repr()`` shows, in order.

        Settings only: the client (its URL, its password) is never shown.
        """
        fields = [
            ("key_prefix", repr(self.key_prefix)),
            ("ttl", repr(self.ttl)),
            ("resolution", repr(self.resolution)),
            ("clock", repr(self.clock)),
        ]
        if self.max_values is not None:  # shown when set: a plain multimap's repr stays short
            fields.append(("max_values", repr(self.max_values)))
        if self._durability is not None:  # likewise
            fields += [
                ("wait_replicas", repr(self.wait_replicas)),
                ("wait_timeout", repr(self.wait_timeout)),
            ]
            if self.wait_aof:
                fields.append(("wait_aof", "True"))
        fields.append(("cast_fn", _callable_name(self.cast_fn)))
        return fields

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={shown}" for name, shown in self._repr_fields())
        return f"{type(self).__name__}({fields})"

    @staticmethod
    def _check_settings(
        key_prefix: object,
        ttl: object,
        cast_fn: object,
        resolution: object,
        clock: object,
        max_values: object = None,
        wait_replicas: object = 0,
        wait_timeout: object = 1.0,
        wait_aof: object = False,
    ) -> None:
        """The constructor's checks of its settings, for ``from_url`` to run before connecting."""
        check_durability(wait_replicas, wait_timeout, wait_aof)
        check_max_values(max_values)
        check_ttl(ttl)
        check_cast_fn(cast_fn)
        check_prefix(key_prefix)  # encoded once the client is made: its encoding decides
        if clock not in _CLOCKS:
            raise ValueError(f"clock must be 'client' or 'server', got {clock!r}")
        check_resolution(resolution)

    def _pages(self, name: object, count: object) -> ValuePages:
        """A new ``iter_values`` iteration over ``name``, checked before any I/O."""
        size = check_count(count)
        return ValuePages(self._key(name), size, self._caster())

    def _op_values_page(self, pages: ValuePages) -> Operation[list[Any]]:
        """The next page of ``pages``: live values not given before, cast."""
        cap = self._max_values
        # With a cap: the lowest member it keeps, as (score, member), read
        # with the page; None when no more than the cap are live.
        low: tuple[float, Any] | None = None
        if cap is not None and cap <= pages.count:
            # All the cap keeps fits in one page: one bounded read, as get()
            # makes it (no scan through a surplus, nor through a table left
            # big by evictions, which ZSCAN crosses slowly).
            if self._clock == "client":
                (call,) = plain_reads([pages.key], live_bound(self._now()), cap)
            else:
                call = read_script_call([pages.key], "members", MAX_READ_BYTES, cap)
            (members,) = members_per_key(call, (yield from self._read_one(call)))
            members.reverse()
            cursor = 0
        elif self._clock == "server" and self._cluster:
            # On a cluster TIME would go to any node: page.lua reads the clock
            # of the key's own node, and keeps the live members there.
            call = page_call(pages.key, pages.cursor, pages.count, True, cap)
            reply = yield from self._read_one(call)
            cursor = reply[0]
            if cap is None:
                members = reply[1]
            else:
                scored = _pairs(reply[1])
                low = _low(reply[2], -math.inf)
                members = [m for m, score in scored if _kept(low, float(score), m)]
        else:
            scan = page_call(pages.key, pages.cursor, pages.count, False)
            extra = [] if cap is None else [lowest_kept(pages.key, cap)]
            if self._clock == "client":
                now = self._now()  # before the scan: a member scored above it is live then
                replies = yield from self._conversation.send([scan, *extra])
                raise_first_error(replies)
            else:
                # The server's TIME just before the scan, in the same round
                # trip: plain commands cost the server less than page.lua.
                replies = yield from self._conversation.send([TIME, scan, *extra])
                raise_first_error(replies)
                now = float(time_bound(replies[0])[1:])
                replies = replies[1:]
            cursor, items = replies[0]
            if cap is not None:
                low = _low(replies[1], now)
            members = [
                member
                for member, score in _pairs(items)
                if (when := float(score)) > now and _kept(low, when, member)
            ]
        pages.cursor = int(cursor)
        pages.done = pages.cursor == 0
        # ZSCAN may return a member again (the set was resized in between):
        # each is given once.
        seen = pages.seen
        fresh = []
        for member in members:
            if member not in seen:
                seen.add(member)
                fresh.append(member)
        if cap is not None and len(seen) >= cap:
            # No read of a capped multimap gives more than the cap: values
            # that rotated in while the iteration ran end it early.
            del fresh[len(fresh) - (len(seen) - cap) :]
            pages.done = True
        try:
            return list(map(pages.cast, fresh))
        except ValueError as error:
            _cast_failed(pages.cast, error)

    def _op_get_many_with_expiry(
        self, names: Sequence[Any]
    ) -> Operation[list[list[tuple[Any, float]]]]:
        keys = self._keys(names)
        cast = self._caster()
        if not keys:
            return []
        after = -math.inf  # the scores of live members are above it
        cap = self._max_values
        if self._clock == "client":
            calls = plain_reads_with_scores(keys, live_bound(self._now()), cap)
        elif not self._cluster:
            # One round trip: the server's TIME, then each key read whole (a
            # member expired but not yet collected comes too, and is left
            # out here); plain reads cost the server less than a script.
            # With a cap, each key's ``cap`` ranked highest: its live ones
            # rank above the expired.
            if cap is None:
                calls = [TIME, *plain_reads_with_scores(keys, "-inf")]
            else:
                calls = [TIME, *(top_with_scores(key, cap) for key in keys)]
        else:
            # One read-script call per key, each on its node's clock, in one
            # round trip per node (TIME would go to any one node).
            extra = () if cap is None else (cap,)
            calls = [read_script_call([key], "withscores", *extra) for key in keys]
        replies = yield from self._conversation.send(calls)
        raise_first_error(replies)
        if calls[0] is TIME:
            after = float(time_bound(replies[0])[1:])
            replies = replies[1:]
        step = 1 if cap is None else -1  # with a cap, replies come highest first
        try:
            return [
                [
                    (cast(member), when)
                    for member, score in _pairs(reply)[::step]
                    if (when := float(score)) > after
                ]
                for reply in replies
            ]
        except ValueError as error:
            _cast_failed(cast, error)


_UNWATCH = Call(("UNWATCH",))


def _aborted(reply: object) -> bool:
    """Whether ``reply`` is EXEC's refusal of a transaction none of whose commands ran."""
    # redis-py and valkey-py strip the code and raise a class of this name.
    if not isinstance(reply, Exception):
        return False
    return type(reply).__name__ == "ExecAbortError" or str(reply).startswith("EXECABORT")


class _BigWrites:
    """Transactions of one slot's chunks as one conversation on one connection.

    The first exchange is the first chunk's WATCH and check; each later one
    the EXEC of a chunk (its MULTI, commands and EXEC) followed by the next
    chunk's WATCH and check, so the server checks the next chunk while the
    client reads the last EXEC's reply. ``then`` (called by the shell with
    each exchange's replies) reads them and makes the next exchange. A
    watched key that changed (EXEC nil) is checked again, up to
    ``_TRANSACTION_TRIES`` times; a chunk the check or the server refused
    (EXECABORT: nothing ran) goes to the script (``left``).
    """

    def __init__(
        self,
        chunks: list[list[KeyWrite]],
        start: int,
        now: str,
        score: str,
        done: tuple[list[Call], list[Any]],
    ) -> None:
        self.chunks, self.now, self.score, self.done = chunks, now, score, done
        self.tries = [0] * len(chunks)
        #: Members new over the chunks written; the writes left to the script.
        self.total = 0
        self.left: list[KeyWrite] = []
        #: Set when a transaction failed as it ran: its keys' outcome is unknown.
        self.failure: Exception | None = None
        #: The chunk to start again from once check.lua is loaded (NOSCRIPT).
        self.load_at: int | None = None
        self.request: Transaction | None = None
        self._start = start
        self._ending = False
        # The exchange in flight: the chunk whose EXEC it carries and where,
        # that EXEC's ZADD positions, and the chunk whose check it carries.
        self._exec: int | None = None
        self._exec_at = 0
        self._positions: list[int] = []
        self._check: int | None = start
        self._check_at = 1
        # Chunks' ZADDs packed ahead (by ``meanwhile``), until their EXEC is made.
        self._zadds: dict[int, list[Call]] = {}

    def _watch(self, k: int) -> list[Call]:
        keys = [write.key for write in self.chunks[k]]
        return check_calls(keys, self.now, self.score, COLLECT_PER_CALL)

    def first(self) -> list[Call]:
        """The first exchange: the starting chunk's WATCH and check."""
        return self._watch(self._start)

    def meanwhile(self) -> None:
        """Pack the ZADDs of the chunk being checked while the server runs the exchange.

        Their arguments do not depend on the check's reply: only which of them
        go into the transaction does.
        """
        k = self._check
        if k is not None and k not in self._zadds:
            self._zadds[k] = zadd_calls(self.chunks[k], self.score)

    def lost(self, error: BaseException) -> None:
        """Account for an exchange that failed: its EXEC, if it carried one, ran or not."""
        if self._exec is None:
            return
        keys = [write.key for write in self.chunks[self._exec]]
        reply = answered(error, self._exec_at + 1)[self._exec_at]
        if reply is NOT_SENT or reply is None or _aborted(reply):
            outcome: Any = NOT_SENT  # EXEC never sent, or it ran nothing
        elif isinstance(reply, list) and not any(isinstance(r, Exception) for r in reply):
            outcome = 0  # its reply was read before the connection failed
        else:
            outcome = UNKNOWN
        self.done[0].append(transaction_marker(keys))
        self.done[1].append(outcome)

    def _dirty(self) -> None:
        # A reply out of place (a refused EXEC may leave the connection in
        # MULTI): the shell drops the connection.
        if self.request is not None:
            self.request.dirty = True

    def then(self, replies: list[Any]) -> list[Call] | None:
        """The next exchange, made of the replies to the last; None when done."""
        if self._ending:
            return None
        calls: list[Call] = []
        unwatch = False
        following: int | None = None
        j = self._exec
        if j is not None:
            chunk = self.chunks[j]
            result = replies[self._exec_at]
            if result is None:  # a watched key changed: check again
                self.tries[j] += 1
                if self.tries[j] < _TRANSACTION_TRIES:
                    following = j
                    unwatch = self._check is not None  # the next chunk's WATCH is set
                else:
                    self.left += chunk
            elif isinstance(result, list) and not any(isinstance(r, Exception) for r in result):
                positions = self._positions
                written = [w.key for w, at in zip(chunk, positions, strict=True) if at >= 0]
                self.done[0].append(transaction_marker(written))
                self.done[1].append(0)
                self.left += (w for w, at in zip(chunk, positions, strict=True) if at < 0)
                self.total += sum(int(result[at]) for at in positions if at >= 0)
            elif _aborted(result):
                # Refused before it ran (over maxmemory, a permission,
                # MOVED/ASK): nothing written; the script tells why, or writes.
                self.left += chunk
            else:
                # A command failed as it ran (none the check let through
                # should): EXEC does not undo the others.
                self._dirty()
                self.done[0].append(transaction_marker([w.key for w in chunk]))
                self.done[1].append(UNKNOWN)
                failed = result if isinstance(result, Exception) else None
                if failed is None and isinstance(result, list):
                    failed = next(r for r in result if isinstance(r, Exception))
                self.failure = failed or RuntimeError(f"EXEC answered {result!r}")
                self._ending = True
                return None
        self._exec = None
        k = self._check
        if following is None and k is not None:
            watched, check = replies[self._check_at - 1], replies[self._check_at]
            following = k + 1
            if no_script(check):
                self.load_at, self._ending = k, True
                return [_UNWATCH]
            verdicts = [int(v) for v in check[2:]] if isinstance(check, list) else []
            if isinstance(watched, Exception) or not any(v >= 0 for v in verdicts):
                # MOVED during a migration, NOPERM, nothing this path may write.
                if not isinstance(check, (list, Exception)):
                    self._dirty()
                self.left += self.chunks[k]
                unwatch = True
            else:
                base, key_ms = check[0], check[1]
                # The key TTL counts from the check's bound, the earlier
                # clock: EXEC comes later, so a key never ends early.
                calls, self._positions = transaction_calls(
                    self.chunks[k], verdicts, self.score, base, key_ms, self._zadds.pop(k, None)
                )
                self._exec, self._exec_at = k, len(calls) - 1
        if unwatch:
            calls.insert(0, _UNWATCH)
        self._check = None
        if following is not None and following < len(self.chunks):
            calls += self._watch(following)
            self._check, self._check_at = following, len(calls) - 1
        if not calls:
            return None
        if self._exec is None and self._check is None:
            self._ending = True  # an UNWATCH alone ends it
        return calls


class ValuePages:
    """Where one ``iter_values`` iteration stands: its ZSCAN cursor and what it gave."""

    __slots__ = ("cast", "count", "cursor", "done", "key", "seen")

    def __init__(self, key: bytes, count: int, cast: Callable[[Any], Any]) -> None:
        #: The sorted set scanned.
        self.key = key
        #: ZSCAN's COUNT: about how many members one page reads.
        self.count = count
        #: Applied to each member (picked once, at the start).
        self.cast = cast
        #: ZSCAN's cursor; 0 again once the scan is over.
        self.cursor = 0
        #: True once the last page has been read.
        self.done = False
        #: Members already given (bytes or str as the client returns them).
        self.seen: set[Any] = set()


def _low(reply: Sequence[Any], now: float) -> tuple[float, Any] | None:
    """The lowest member a cap keeps, as (score, member), from ``lowest_kept``'s reply.

    None when there is none or it is not live (above ``now``): then no more
    than the cap are live, and every live member is kept.
    """
    pairs = _pairs(reply)
    if not pairs:
        return None
    member, score = pairs[0]
    when = float(score)
    return (when, member) if when > now else None


def _kept(low: tuple[float, Any] | None, score: float, member: Any) -> bool:
    """Whether a live member ranks at or above ``low`` (by score, then by its bytes).

    Members come as the client returns them, all bytes or all str; str from
    UTF-8 (or Latin-1) orders by code point as its bytes do.
    """
    if low is None:
        return True
    low_score, low_member = low
    return score > low_score or (score == low_score and member >= low_member)


def _wait_lost(wait: Call | None, progress: Sequence[Any]) -> bool:
    """Whether a failed exchange lost only the reply of ``wait``: every call ran without error."""
    return (
        wait is not None
        and bool(progress)
        and not any(
            reply is UNKNOWN or reply is NOT_SENT or isinstance(reply, Exception)
            for reply in progress
        )
    )


def _cast_failed(cast: Callable[[Any], Any], error: ValueError) -> NoReturn:
    """Re-raise a failed cast; the default ``int`` says how to read other values."""
    if cast is int:
        raise ValueError(
            f"a stored value is not an integer ({error}): cast_fn is int by default; "
            "pass cast_fn=str to read text values (or cast_fn=bytes for raw bytes)"
        ) from error
    raise error


def _callable_name(function: object) -> str:
    """How ``repr()`` shows a ``cast_fn``: ``str``, ``json.loads``, ``mymodule.parse``."""
    if function is None:
        return "None"
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if not isinstance(name, str):
        return repr(function)
    module = getattr(function, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return name
    return f"{module}.{name}"
