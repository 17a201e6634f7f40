"""The examples of the documentation pages are doctests too: they run here, on fakeredis."""

from __future__ import annotations

import doctest
from pathlib import Path

import fakeredis
import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.mark.parametrize("page", ["recipes.md"])
def test_page_examples_run(page: str) -> None:
    globs = {"redis_client": fakeredis.FakeRedis()}
    result = doctest.testfile(
        str(DOCS / page), module_relative=False, globs=globs, optionflags=doctest.ELLIPSIS
    )
    assert result.attempted >= 10
    assert result.failed == 0
