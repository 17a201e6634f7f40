"""The benchmark figures the README and docs quote are those of the committed results.

Each figure a page states carries an invisible ``<!-- fig: NAME -->`` right after
it; ``benchmarks/figures.py`` computes NAME from ``benchmarks/results/*.json``.
These tests read files only (no server, no benchmark run).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMES = "\N{MULTIPLICATION SIGN}"


def load_figures() -> ModuleType:
    # benchmarks/ is a directory of scripts, not a package: load the registry by path
    spec = importlib.util.spec_from_file_location(
        "benchmark_figures", ROOT / "benchmarks" / "figures.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


figures = load_figures()

pytestmark = pytest.mark.skipif(
    not (ROOT / "benchmarks" / "results" / "wall.json").exists(),
    reason="no benchmark results in this tree (an sdist without benchmarks/results/)",
)


def report(title: str, problems: list[str]) -> str:
    return f"{title} ({len(problems)}):\n  " + "\n  ".join(problems)


def test_every_quoted_figure_is_the_committed_results_to_the_digits_stated() -> None:
    problems = figures.mismatches(figures.load_reports())
    assert not problems, report(
        "figures in the docs that differ from benchmarks/results/ "
        "(fix the page, or the registry in benchmarks/figures.py)",
        problems,
    )


def test_the_docs_quote_figures() -> None:
    found, _ = figures.quotes()
    pages = {q.path for q in found}
    assert {"README.md", "docs/index.md", "docs/performance.md", "docs/operations.md"} <= pages
    readme = {q.name for q in found if q.path == "README.md"}
    assert {"wall.add_many_1000_x", "wall.get_many_1000_x", "wall.longest_ms"} <= readme


def test_every_figure_in_the_linted_pages_carries_a_marker() -> None:
    problems = figures.unmarked()
    assert not problems, report(
        "figures without a <!-- fig: NAME --> marker (add one naming a figure of "
        "benchmarks/figures.py, or reword a bound as one: 'over 10 ms')",
        problems,
    )


def test_the_lint_sees_a_new_unmarked_figure(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for rel in ("README.md", "docs/index.md"):
        (tmp_path / rel).write_text("Nothing measured here.\n")
    (tmp_path / "docs" / "performance.md").write_text(
        f"Writes run 2.6x as fast, reads **1.8{TIMES}**,\nno call over ~6 ms, a sweep at\n"
        f"100,000 keys/s; a target: over 10 ms; `3.0x` in code; 2 {TIMES} 30 sequences.\n"
        f"Marked: 1.95{TIMES}<!-- fig: wall.add_many_1000_x -->.\n"
    )
    assert [line.split(": ", 1)[1] for line in figures.unmarked(tmp_path)] == [
        "'2.6x' has no <!-- fig: NAME --> marker",
        f"'1.8{TIMES}' has no <!-- fig: NAME --> marker",
        "'6 ms' has no <!-- fig: NAME --> marker",
        "'100,000 keys/s' has no <!-- fig: NAME --> marker",
    ]


def test_the_lint_sees_unmarked_times_shares_and_instruction_counts(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for rel in ("README.md", "docs/index.md"):
        (tmp_path / rel).write_text("Nothing measured here.\n")
    (tmp_path / "docs" / "performance.md").write_text(
        "A command packs in ~1 µs, a write costs 107.7 M instructions, a call ~5\N{EN DASH}6 k;\n"
        "4,000 keys took 0.26 s, the server was 40 % busy (by 12% more).\n"
        # Not measurements: sizes, counts, versions, bounds, code, a marked figure.
        f"Values of 100 KB, 2 KB and 1 MB; 1000 names {TIMES} 10 values; Redis 7.0, 0.1.0's;\n"
        f"a target: ≤ 1.10{TIMES}, within 15 %, under 2 s, over 10 ms; `3 µs` in code;\n"
        "marked: 107.7 M<!-- fig: server.add_many_1000 -->, 0.26 s<!-- fig: x.y -->.\n"
    )
    assert [line.split(": ", 1)[1] for line in figures.unmarked(tmp_path)] == [
        "'1 µs' has no <!-- fig: NAME --> marker",
        "'107.7 M' has no <!-- fig: NAME --> marker",
        "'6 k' has no <!-- fig: NAME --> marker",
        "'0.26 s' has no <!-- fig: NAME --> marker",
        "'40 %' has no <!-- fig: NAME --> marker",
        "'12%' has no <!-- fig: NAME --> marker",
    ]


def test_every_page_is_linted_not_a_chosen_few() -> None:
    pages = set(figures.linted_pages())
    assert {"README.md", "docs/recipes.md", "docs/guarantees.md", "docs/api.md"} <= pages


def test_docstrings_state_no_figure() -> None:
    problems = figures.unmarked_in_docstrings()
    assert not problems, report("figures in docstrings (they cannot carry a marker)", problems)


def test_the_lint_sees_a_figure_in_a_docstring(tmp_path: Path) -> None:
    (tmp_path / "multimapwithttl").mkdir()
    (tmp_path / "multimapwithttl" / "m.py").write_text(
        '"""Module."""\n\n\ndef f() -> None:\n    """Fast.\n\n'
        '    About 6 ms for a big name; over 10 ms never.\n    """\n'
        "\n\nx = 1  # 3 ms in a comment is no docstring\n"
    )
    problems = figures.unmarked_in_docstrings(tmp_path)
    assert [p.split(": ", 1)[0] for p in problems] == ["multimapwithttl/m.py:7"], problems


def test_a_wrong_or_unknown_figure_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    reports = figures.load_reports()
    right = figures.FIGURES["wall.add_many_1000_x"].value(reports)
    (tmp_path / "README.md").write_text(
        f"ok {right:.2f}{TIMES}<!-- fig: wall.add_many_1000_x -->, "
        f"ok {right:.1f}x<!-- fig: wall.add_many_1000_x -->, "
        f"wrong {right + 0.5:.2f}{TIMES}<!-- fig: wall.add_many_1000_x -->, "
        "unknown 3 ms<!-- fig: wall.no_such -->, "
        "loose <!-- fig: wall.add_many_1000_x -->.\n"
    )
    problems = figures.mismatches(reports, tmp_path)
    assert len(problems) == 3, problems
    assert any(f"the results say {right:.2f}{TIMES}" in p for p in problems), problems
    assert any("wall.no_such: no such figure" in p for p in problems), problems
    assert any("is not right after a number" in p for p in problems), problems


def test_summary_lists_the_quoted_figures_as_the_docs_write_them() -> None:
    summary = (ROOT / "benchmarks" / "results" / "summary.md").read_text()
    assert "## Figures quoted in the docs" in summary
    section = summary.split("## Figures quoted in the docs", 1)[1]
    expected = figures.quoted_table(figures.load_reports())
    missing = [line for line in expected if line not in section]
    assert not missing, report(
        "summary.md is out of date (python benchmarks/run.py --summary-only)", missing
    )


def test_summary_judges_the_one_list_of_targets() -> None:
    summary = (ROOT / "benchmarks" / "results" / "summary.md").read_text()
    section = summary.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [
        f"| {text} | {shown} | {'n/a' if met is None else 'yes' if met else 'NO'} |"
        for text, shown, met in figures.judged(figures.load_reports())
    ]
    listed = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert listed[1:] == rows, "summary.md is out of date (python benchmarks/run.py --summary-only)"


def test_the_performance_page_states_the_one_list_of_targets_and_judges_as_it_does() -> None:
    """docs/performance.md's Targets table is figures.TARGETS, in order, met or not as judged."""
    page = (ROOT / "docs" / "performance.md").read_text()
    table = page.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    rows = rows[1:]  # the header
    reports = figures.load_reports()
    stated = [(r.split(" | ")[0][2:], r.rsplit(" | ", 1)[1].strip()) for r in rows]
    assert [text for text, _ in stated] == [t.text for t in figures.TARGETS]
    for (text, mark), target in zip(stated, figures.TARGETS, strict=True):
        met = target.met(reports)
        assert mark.startswith("✅" if met else "❌"), (text, mark, met)


def test_a_target_is_judged_on_the_figure_as_shown() -> None:
    reports = figures.load_reports()
    shown = round(figures.FIGURES["server.add_many_1000_capped_vs_default"].value(reports), 2)
    at = figures.Target("t", ("server.add_many_1000_capped_vs_default",), shown, False)
    below = figures.Target("t", ("server.add_many_1000_capped_vs_default",), shown - 0.01, False)
    assert at.met(reports) is True
    assert below.met(reports) is False
    assert figures.Target("t", ("wall.add_many_1000_x",), 1.0, True).met({}) is None
    assert all(n in figures.FIGURES for t in figures.TARGETS for n in t.figures)
