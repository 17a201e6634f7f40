"""Expiry arithmetic: scores on the resolution grain, liveness bounds, key lifetimes."""

from __future__ import annotations

import math

#: A score as sent to Redis: an int at whole-second grains (0.1.0's format), else a str.
ScoreArg = int | str


class Grain:
    """The resolution of stored expiry times, in seconds (1.0 = whole seconds)."""

    __slots__ = ("_digits", "seconds", "whole")

    def __init__(self, seconds: float) -> None:
        #: The grain, in seconds.
        self.seconds = seconds
        #: True when every score is an integer, as 0.1.0 stores them.
        self.whole = seconds >= 1 and seconds.is_integer()
        # 0.001 -> 3, 0.25 -> 2: enough decimals to print any multiple exactly.
        text = repr(seconds)
        self._digits = 12 if "e" in text else len(text.partition(".")[2].rstrip("0"))

    def round_up(self, when: float) -> float:
        """The first point of the grain at or after ``when``."""
        ticks = math.ceil(when / self.seconds)
        score = round(ticks * self.seconds, self._digits)
        while score < when:  # guards against float rounding undershooting by an ulp
            ticks += 1
            score = round(ticks * self.seconds, self._digits)
        return score

    def score_arg(self, score: float) -> ScoreArg:
        """The score as sent: ``1764085878`` at whole seconds, ``'1764085878.125'`` otherwise."""
        if self.whole:
            return int(score)
        return repr(score)


def lifetime_ms(newest_score: float, now: float) -> int:
    """Milliseconds from ``now`` until ``newest_score``; 0 if that is already past.

    Used as a relative PEXPIRE, so a client clock that is off from the
    server's shifts nothing: the key lives as long as its newest member.
    """
    return max(0, math.ceil((newest_score - now) * 1000))


def live_bound(now: float) -> str:
    """The exclusive lower score bound of live members: a value lives while score > now."""
    return f"({now!r}"
