"""The README's examples are doctests: they run here, on fakeredis."""

from __future__ import annotations

import doctest
from pathlib import Path

import fakeredis

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_examples_run() -> None:
    server = fakeredis.FakeServer()
    globs = {
        "redis_client": fakeredis.FakeRedis(server=server),
        "async_redis_client": fakeredis.FakeAsyncRedis(server=server),
    }
    result = doctest.testfile(
        str(README), module_relative=False, globs=globs, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted >= 15
    assert result.failed == 0
