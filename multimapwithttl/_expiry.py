"""Expiry arithmetic: scores on the resolution grain and liveness bounds.

Key lifetimes are set by the scripts themselves (``_lib.lua``), from the
newest member a key holds once written.
"""

from __future__ import annotations

import math

# Below 2**52, a double holds every multiple of the grain apart from the next.
_MAX_TICKS = 2.0**52

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

    @property
    def digits(self) -> int:
        """Decimals needed to print any multiple of the grain exactly (0 at whole seconds)."""
        return 0 if self.whole else self._digits

    def check(self, when: float, what: str) -> None:
        """Refuse an expiry time this grain cannot hold exactly.

        A score is a double: past 2**52 grains (with a microsecond grain,
        about year 2112) neighbouring grain points are no longer distinct,
        and rounding up could not find the next one.

        Raises:
            ValueError: ``when`` is that far for this resolution.

        """
        if when / self.seconds >= _MAX_TICKS:
            limit = _MAX_TICKS * self.seconds
            raise ValueError(
                f"{what} is too far ahead for resolution={self.seconds!r}: an expiry time "
                f"must stay below {limit:.0f} UNIX seconds at this resolution"
            )

    def round_up(self, when: float) -> float:
        """The first point of the grain at or after ``when`` (see ``check``)."""
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


def live_bound(now: float) -> str:
    """The exclusive lower score bound of live members: a value lives while score > now."""
    return f"({now!r}"
