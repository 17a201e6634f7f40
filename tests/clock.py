"""Bounds read off the clock around an operation, for checks a busy machine cannot break.

A TTL read some time after a write has lost however long the machine took in
between: a fixed slack ("within a second of the ttl") fails when the OS
deschedules the test for longer. These helpers compare what does not move with
time instead: a key's absolute expiry (PEXPIRETIME) against its newest member's
score, and both against the real clock read before and after the write.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

#: A millisecond: the grain of the server's key expiry times. A write's PEXPIRE
#: counts whole milliseconds from the server's whole millisecond, so a key may end
#: up to one before its newest member's exact score.
MS = 0.001


class Span:
    """The real time around a block: ``start`` before its first command, ``end`` after its last.

    Whatever the block did on the server happened between the two (the suite's servers
    run on this machine, on the same clock).
    """

    start = end = 0.0

    def __enter__(self) -> Span:
        self.start = time.time()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.end = time.time()

    @classmethod
    def since(cls, start: float) -> Span:
        """The span from ``start`` (a clock reading, or a pinned clock's time) to now."""
        span = cls()
        span.start, span.end = start, time.time()
        return span

    @property
    def took(self) -> float:
        return self.end - self.start


def key_end(raw: Any, key: str) -> float:
    """When ``key`` expires, in UNIX seconds (its TTL must be set): the same whenever read."""
    at = raw.pexpiretime(key)
    assert at > 0, f"{key}: no TTL ({at})"
    return float(at) / 1000


def newest(raw: Any, key: str) -> float:
    """The highest score of the sorted set ``key``: its newest member's expiry."""
    ((_, score),) = raw.zrange(key, -1, -1, withscores=True)
    return float(score)


def ends_with_newest(raw: Any, key: str, span: Span, lag: float = 0.0) -> bool:
    """Did the last write (made in ``span``) leave ``key`` ending with its newest member?

    The write's script reads the clock, then sets a TTL counted from that reading: the
    key ends at the newest score plus however long the script took after its reading
    (at most the span), plus ``lag`` (a writer whose clock runs behind keeps the key for
    its own values that much longer), to the millisecond.
    """
    end, top = key_end(raw, key), newest(raw, key)
    return top + lag - MS <= end <= top + lag + span.took + MS


def lives(raw: Any, key: str, ttl: float, span: Span, grain: float = 1.0) -> bool:
    """Does ``key``, written in ``span`` for ``ttl`` seconds, end ``ttl`` after the write?

    The write read its clock within the span and rounded ``now + ttl`` up to ``grain``
    (the resolution); the key's TTL ends with that score (see ``ends_with_newest``).
    """
    end = key_end(raw, key)
    return span.start + ttl - MS <= end <= span.end + ttl + grain + span.took + MS


def pinned(mm: Any, at: float) -> Any:
    """Stop ``mm``'s own clock at ``at`` (a time just past): its scores are exactly ``at + ttl``.

    The server's clock runs on: a writer whose clock is behind keeps each key that much
    longer (``ends_with_newest(raw, key, Span.since(at))`` bounds it).
    """
    mm._now = lambda: at
    return mm


def within(at: float, span: Span, ttl: float, grain: float = 1.0) -> bool:
    """Is ``at`` the expiry a write made in ``span`` gives for ``ttl``, rounded up to ``grain``?"""
    return span.start + ttl <= at <= span.end + ttl + grain


def quick(limit: float, attempts: int = 20) -> Iterator[tuple[int, Span]]:
    """Rounds of a block that tells something only when it takes under ``limit`` seconds.

    A value meant to be read back before its short life ends cannot be, on a machine
    that stalls the test for longer: such a round tells nothing and another runs.
    ``for i, span in quick(0.6): with span: ...`` stops after the first quick round,
    and fails only when every round was too slow.
    """
    for attempt in range(attempts):
        span = Span()
        yield attempt, span
        if span.took < limit:
            return
    raise AssertionError(f"{attempts} rounds each took {limit} s or more: the machine is stalled")
