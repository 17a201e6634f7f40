"""What ``stats()`` and ``sweep()`` report: two frozen dataclasses.

Their field names are also the keys of the command line's ``--json`` output
(``dataclasses.asdict`` of these), so they are part of the public contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The actions of ``SweepReport.examples``, in the order they are reported.
ACTIONS = ("collected", "ttl_fixed", "deleted", "foreign")
#: Example keys kept per action.
EXAMPLES = 10


@dataclass(frozen=True)
class Stats:
    """What a prefix holds, as counted by ``stats()`` over every key under it.

    A value counts as expired when its expiry time has passed by both the
    client's clock and the Redis server's: exactly what ``sweep()`` would
    collect. Counts are taken key by key while the prefix is scanned, so on
    a prefix that writers keep changing they describe a moment spread over
    the scan.

    Attributes:
        names: Sorted-set keys under the prefix whose scores are all plausible
            expiry times: the names this multimap holds.
        live_values: Values that have not expired yet, over all names.
        expired_values: Values whose expiry has passed but that are still
            stored (collected by the next write to their name, or by
            ``sweep()``).
        keys_without_ttl: Sorted sets under the prefix without a Redis TTL.
            0.1.0's first write to a name leaves its key so; such a key never
            goes away on its own. ``sweep()`` fixes them.
        foreign_keys: Keys under the prefix that are not this library's:
            keys of another Redis type (a string, a list...) and sorted sets
            holding a score that cannot be an expiry time (not finite, below
            1,000,000,000 or from year 10000 on: a leaderboard's points,
            millisecond timestamps). Never written by ``sweep()``.
        memory_bytes: Sum of ``MEMORY USAGE`` of the multimap keys, in bytes
            (Redis estimates big sets from a sample of their members).
            ``None`` when unknown (``memory_unknown`` says why); ``0`` for an
            empty prefix.
        soonest_expiry: When the soonest-expiring live value expires (UNIX
            seconds), or ``None`` when no value is live.
        latest_expiry: When the latest-expiring live value expires (UNIX
            seconds), or ``None`` when no value is live.
        memory_unknown: Why ``memory_bytes`` is ``None``: ``"no permission
            for MEMORY USAGE"`` (the Redis user may not run it) or ``"the
            server has no MEMORY USAGE"`` (fakeredis); ``None`` when known.

    """

    names: int
    live_values: int
    expired_values: int
    keys_without_ttl: int
    foreign_keys: int
    memory_bytes: int | None
    soonest_expiry: float | None
    latest_expiry: float | None
    memory_unknown: str | None = None


@dataclass(frozen=True)
class SweepReport:
    """What ``sweep()`` did (or, with ``dry_run=True``, would do) under a prefix.

    Every sorted set lands in at most one of ``ttl_fixed`` and ``deleted``.

    Attributes:
        scanned: Keys under the prefix that were looked at, of any type.
        collected: Expired values removed, those of ``deleted`` keys included.
        ttl_fixed: Keys that had no TTL, or one ending before their newest
            live value (as 0.1.0 leaves them), now given a TTL that ends with
            that value.
        deleted: Keys that held only expired values, removed.
        foreign: Keys that are not this library's, left untouched (members,
            value and TTL): keys of another Redis type, and sorted sets holding
            a score that cannot be an expiry time (see ``Stats.foreign_keys``).
        excluded: Keys matching one of ``sweep(exclude=...)``'s patterns:
            neither read nor changed (not counted in ``scanned``).
        examples: Up to 10 keys (as text) for each action: ``"collected"``
            (keys that lose expired values and stay), ``"ttl_fixed"``,
            ``"deleted"`` and ``"foreign"``, so an operator sees *which* keys a
            sweep would touch before it does. Which keys are picked depends on
            SCAN's order: not part of equality, so two reports with the same
            counts compare equal.

    """

    scanned: int
    collected: int
    ttl_fixed: int
    deleted: int
    foreign: int
    excluded: int = 0
    examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
