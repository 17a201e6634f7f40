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
    collect. Counts are taken key by key while the prefix is scanned, so on
    a prefix that writers keep changing they describe a moment spread over
    the scan.

    Attributes:
        names: Sorted-set keys under the prefix: the names this multimap holds.
        live_values: Values that have not expired yet, over all names.
        expired_values: Values whose expiry has passed but that are still
            stored (collected by the next write to their name, or by
            ``sweep()``).
        keys_without_ttl: Sorted sets under the prefix without a Redis TTL.
            0.1.0's first write to a name leaves its key so; such a key never
            goes away on its own. ``sweep()`` fixes them.
        foreign_keys: Keys under the prefix of another Redis type (a string,
            a list...): not this library's, never written by it.
        memory_bytes: Sum of ``MEMORY USAGE`` of the sorted sets, in bytes
            (Redis estimates big sets from a sample of their members).
            ``None`` where the server has no ``MEMORY USAGE`` (fakeredis);
            ``0`` for an empty prefix.
        soonest_expiry: When the soonest-expiring live value expires (UNIX
            seconds), or ``None`` when no value is live.
        latest_expiry: When the latest-expiring live value expires (UNIX
            seconds), or ``None`` when no value is live.

    """

    names: int
    live_values: int
    expired_values: int
    keys_without_ttl: int
    foreign_keys: int
    memory_bytes: int | None
    soonest_expiry: float | None
    latest_expiry: float | None


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
        foreign: Keys of another Redis type, left untouched (their value and
            their TTL).

    """

    scanned: int
    collected: int
    ttl_fixed: int
    deleted: int
    foreign: int
