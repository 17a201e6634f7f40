"""What ``stats()`` and ``sweep()`` report: two frozen dataclasses.

Their field names are also the keys of the command line's ``--json`` output
(``dataclasses.asdict`` of these), so they are part of the public contract.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """What a prefix holds, as counted by ``stats()`` over every key under it.

    A value counts as expired when its expiry time has passed by both the
    client's clock and the Redis server's: exactly what ``sweep()`` would
    collect. Counts are taken key by key while the prefix is scanned, so
    on a prefix that writers keep changing they describe a moment that is
    spread over the scan.
    """

    #: Sorted-set keys under the prefix: the names this multimap holds.
    names: int
    #: Values that have not expired yet, over all names.
    live_values: int
    #: Values whose expiry has passed but that are still stored (collected by
    #: the next write to their name, or by ``sweep()``).
    expired_values: int
    #: Sorted sets under the prefix without a Redis TTL: left by 0.1.0's first
    #: write to a name, they never go away on their own. ``sweep()`` fixes them.
    keys_without_ttl: int
    #: Keys under the prefix of another Redis type (a string, a list...): not
    #: this library's; never written by it.
    foreign_keys: int
    #: Sum of ``MEMORY USAGE`` of the sorted sets, in bytes (Redis estimates
    #: big sets from a sample). ``None`` where the server has no ``MEMORY
    #: USAGE`` command (fakeredis).
    memory_bytes: int | None
    #: When the soonest-expiring live value expires (UNIX seconds), or None
    #: when no value is live.
    soonest_expiry: float | None
    #: When the latest-expiring live value expires (UNIX seconds), or None
    #: when no value is live.
    latest_expiry: float | None


@dataclass(frozen=True)
class SweepReport:
    """What ``sweep()`` did (or, with ``dry_run=True``, would do) under a prefix.

    Every sorted set lands in at most one of ``ttl_fixed`` and ``deleted``.
    """

    #: Keys under the prefix that were looked at, of any type.
    scanned: int
    #: Expired values removed, including those of ``deleted`` keys.
    collected: int
    #: Keys that had no TTL, or one ending before their newest live value (as
    #: 0.1.0 leaves them), now given a TTL that ends with that value.
    ttl_fixed: int
    #: Keys that held only expired values, removed.
    deleted: int
    #: Keys of another Redis type, left untouched (their value and their TTL).
    foreign: int
