"""The API page and the docs site stay complete as the code grows (no mkdocs needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from multimapwithttl import AsyncMultiMapWithTTL, MultiMapWithTTL

ROOT = Path(__file__).resolve().parent.parent
API = (ROOT / "docs" / "api.md").read_text()
# Set in __init__ and documented in the class docstring's Attributes section.
ATTRIBUTES = {"redis", "key_prefix", "ttl", "cast_fn"}


def _listed_members(cls: type) -> list[str]:
    """The ``members:`` list of ``::: multimapwithttl.<cls>`` in docs/api.md."""
    block = re.search(
        rf"^::: multimapwithttl\.{cls.__name__}\n((?:    .*\n)+)", API, flags=re.MULTILINE
    )
    assert block, f"docs/api.md does not render {cls.__name__}"
    return re.findall(r"^        - (\w+)$", block.group(1), flags=re.MULTILINE)


@pytest.mark.parametrize("cls", [MultiMapWithTTL, AsyncMultiMapWithTTL])
def test_api_page_lists_every_public_member(cls: type) -> None:
    public = {name for name in dir(cls) if not name.startswith("_")} - ATTRIBUTES
    listed = _listed_members(cls)
    assert len(listed) == len(set(listed))
    assert set(listed) == public


def test_every_page_is_in_the_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    in_nav = set(re.findall(r"^  - [^:\n]+: (\S+\.md)$", config, flags=re.MULTILINE))
    pages = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert pages <= in_nav, f"pages missing from mkdocs.yml's nav: {sorted(pages - in_nav)}"


def test_no_sphinx_roles_in_docstrings() -> None:
    # mkdocstrings renders Markdown: a :meth:`x` role shows up raw on the page.
    for path in (ROOT / "multimapwithttl").glob("*.py"):
        found = re.findall(r":(?:meth|func|class|mod|attr|exc|data):`", path.read_text())
        assert not found, f"{path.name}: use [text][multimapwithttl.X.y] or ``x``"
