"""Command building: the few shapes of Redis command this library ever sends.

Writes go through one Lua script (``write.lua``) in chunks of keys; reads of
many keys go through one read-only script (``read.lua``), or plain
ZRANGEBYSCORE where a chunk holds a single key or the server has no
EVALSHA_RO. Chunks are bounded so no single call keeps the server busy for
long, and on a cluster every chunk holds keys of a single hash slot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ._expiry import ScoreArg
from ._keys import slot_of
from ._scripts import READ, WRITE, Script
from ._validate import Value

# Per write-script call: at most this many members (the script unpacks twice
# as many ZADD arguments, and Lua's stack holds ~8000), ...
MAX_VALUES_PER_CALL = 2000
# ... and at most this much work, counting a key as this many members.
KEY_WEIGHT = 4
MAX_WEIGHT_PER_CALL = 4000
# Per read-script call: at most this many keys.
MAX_KEYS_PER_READ = 500
# Per DEL: at most this many keys.
MAX_KEYS_PER_DELETE = 500


@dataclass(slots=True)
class Call:
    """One Redis command, as ``execute_command`` arguments.

    ``script`` names the script an EVALSHA needs (to load it on NOSCRIPT);
    ``fallback`` are plain commands whose replies, as a list, equal this
    call's reply, for servers that lack the command (EVALSHA_RO on fakeredis).
    """

    args: tuple[Any, ...]
    script: Script | None = None
    fallback: tuple[Call, ...] = ()


class KeyWrite:
    """Everything one write call does to one key.

    Members to add come either all with one ``score`` (``add``,
    ``add_many``: the score is sent once) or, with ``score=None``, as flat
    ``[score, member, score, member, ...]`` pairs (``add_many_with_ttl``).
    """

    __slots__ = ("adds", "key", "lifetime_ms", "removals", "score", "size")

    def __init__(
        self,
        key: str,
        adds: list[Any] | None = None,
        *,
        score: ScoreArg | None = None,
        removals: list[Value] | None = None,
        lifetime_ms: int = 0,
    ) -> None:
        #: The sorted set.
        self.key = key
        #: Members (one ``score``) or flat score/member pairs (``score`` None).
        self.adds: list[Any] = adds or []
        #: The score of every added member, or None for pairs.
        self.score = score
        #: Members to remove.
        self.removals: list[Value] = removals or []
        #: How long the newest member added here lives, in ms (0: none does).
        self.lifetime_ms = lifetime_ms
        #: How many members this touches.
        self.size = self._added() + len(self.removals)

    def _added(self) -> int:
        return len(self.adds) if self.score is not None else len(self.adds) // 2

    def split(self, limit: int) -> list[KeyWrite]:
        """Pieces touching at most ``limit`` members each (most keys: just itself)."""
        if self.size <= limit:
            return [self]
        width = 1 if self.score is not None else 2
        items: list[tuple[bool, Any]] = [
            (True, self.adds[i : i + width]) for i in range(0, len(self.adds), width)
        ]
        items += [(False, value) for value in self.removals]
        pieces = []
        for start in range(0, len(items), limit):
            adds: list[Any] = []
            removals: list[Value] = []
            for is_add, item in items[start : start + limit]:
                if is_add:
                    adds.extend(item)
                else:
                    removals.append(item)
            pieces.append(
                KeyWrite(
                    self.key,
                    adds,
                    score=self.score,
                    removals=removals,
                    lifetime_ms=self.lifetime_ms,
                )
            )
        return pieces

    def argv(self) -> list[Any]:
        """This key's part of the write script's ARGV (see ``write.lua``)."""
        score = "" if self.score is None else self.score
        return [
            self.lifetime_ms,
            self._added(),
            score,
            *self.adds,
            len(self.removals),
            *self.removals,
        ]


_T = TypeVar("_T")


def _group(items: Sequence[_T], key_of: Callable[[_T], str], cluster: bool) -> list[list[_T]]:
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


def write_calls(writes: Iterable[KeyWrite], now: float, cluster: bool) -> list[Call]:
    """Write-script calls applying ``writes``, bounded in size, one slot per call."""
    pieces = [piece for write in writes for piece in write.split(MAX_VALUES_PER_CALL)]
    calls: list[Call] = []
    now_arg = repr(now)
    for group in _group(pieces, lambda piece: piece.key, cluster):
        keys: list[str] = []
        argv: list[Any] = [now_arg]
        weight = values = 0
        for piece in group:
            cost = KEY_WEIGHT + piece.size
            full = weight + cost > MAX_WEIGHT_PER_CALL
            if keys and (full or values + piece.size > MAX_VALUES_PER_CALL):
                calls.append(_write_call(keys, argv))
                keys, argv, weight, values = [], [now_arg], 0, 0
            keys.append(piece.key)
            argv.extend(piece.argv())
            weight += cost
            values += piece.size
        if keys:
            calls.append(_write_call(keys, argv))
    return calls


def _write_call(keys: list[str], argv: list[Any]) -> Call:
    return Call(("EVALSHA", WRITE.sha, len(keys), *keys, *argv), script=WRITE)


def read_calls(
    keys: Sequence[str], bound: str, cluster: bool, scripts: bool
) -> list[tuple[Call, list[int]]]:
    """Calls reading the live members of ``keys``, each with the key positions it answers.

    Every call's reply, once normalised by :func:`members_per_key`, is a list
    holding one list of members per position.
    """
    if len(keys) == 1:  # get(): the hot path, one plain command
        return [(Call(("ZRANGEBYSCORE", keys[0], bound, "+inf")), [0])]
    plan: list[tuple[Call, list[int]]] = []
    for group in _group(range(len(keys)), lambda i: keys[i], cluster):
        for chunk in _chunks(group, MAX_KEYS_PER_READ):
            plain = tuple(Call(("ZRANGEBYSCORE", keys[i], bound, "+inf")) for i in chunk)
            if len(chunk) == 1 or not scripts:
                plan.extend((call, [i]) for call, i in zip(plain, chunk, strict=True))
                continue
            args = ("EVALSHA_RO", READ.sha, len(chunk), *(keys[i] for i in chunk), bound)
            plan.append((Call(args, script=READ, fallback=plain), chunk))
    return plan


def members_per_key(call: Call, reply: Any) -> list[list[Any]]:
    """One list of members per key of ``call``, whatever form it was answered in."""
    if call.script is None:
        return [list(reply)]
    return [list(members) for members in reply]


def delete_calls(keys: Sequence[str], cluster: bool) -> list[Call]:
    """DEL calls for ``keys``: on a cluster one slot per call (no CROSSSLOT)."""
    return [
        Call(("DEL", *chunk))
        for group in _group(list(keys), lambda key: key, cluster)
        for chunk in _chunks(group, MAX_KEYS_PER_DELETE)
    ]
