"""The library's own exception: a write that ran, without the durability asked for."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError


class DurabilityError(RedisError):
    """A write ran on the primary, but fewer replicas acknowledged it than ``wait_replicas``.

    Raised by the writes of a multimap made with ``wait_replicas`` (or
    ``wait_aof``) when ``WAIT`` (``WAITAOF``), sent on the connection the
    write used right after it, answered with fewer acknowledgements than
    asked within ``wait_timeout``, or did not answer at all. The write is
    not undone, and is not resent: it ran, and its return value is
    ``result``. It may yet reach the replicas, or be lost if the primary
    fails before it does.

    Attributes:
        result: What the write method returned (it ran on the primary).
        acknowledged: The fewest replicas that acknowledged the write on
            any node written to; None when unknown (the connection failed
            before the answer, or the server refused the command).
        required: The ``wait_replicas`` asked for.
        local: With ``wait_aof``: whether every primary written to had the
            write in its append-only file, fsynced; else None.

    """

    def __init__(
        self,
        message: str,
        *,
        result: Any,
        acknowledged: int | None,
        required: int,
        local: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.result: Any = result
        self.acknowledged: int | None = acknowledged
        self.required: int = required
        self.local: bool | None = local

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: pickled (to another process) by what rebuilds it.
        return (_rebuild, (str(self), self.result, self.acknowledged, self.required, self.local))


def _rebuild(
    message: str, result: Any, acknowledged: int | None, required: int, local: bool | None
) -> DurabilityError:
    return DurabilityError(
        message, result=result, acknowledged=acknowledged, required=required, local=local
    )
