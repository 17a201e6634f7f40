"""What the docs say the tests do is what the tests' settings say.

The guarantees table and the operations guide describe tests by their numbers
(sequences and steps, writers, kills, rounds, batch sizes). Each such statement
is rebuilt here from the test module's own source and must appear in the page
as written: change a test's settings and this fails until the page follows.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
RELIABILITY = TESTS / "reliability"
TIMES = "\N{MULTIPLICATION SIGN}"
WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def source(path: Path) -> str:
    return path.read_text()


def groups(path: Path, pattern: str) -> list[int | str]:
    """The groups of the one match of ``pattern`` in ``path`` (ints where they are ints)."""
    matches = list(re.finditer(pattern, source(path), flags=re.M))
    assert len(matches) == 1, f"{path.name}: {pattern!r} matches {len(matches)} times, not once"
    return [int(g) if re.fullmatch(r"[\d_]+", g) else g for g in matches[0].groups()]


def one(path: Path, pattern: str) -> int | str:
    (value,) = groups(path, pattern)
    return value


def count(path: Path, pattern: str) -> int:
    return len(re.findall(pattern, source(path), flags=re.M))


def list_length(path: Path, pattern: str) -> int:
    """The length of the list literal ``pattern``'s group matches."""
    return len(ast.literal_eval(str(one(path, pattern))))


MODEL = RELIABILITY / "test_model.py"
MODES = RELIABILITY / "test_model_modes.py"
CONCURRENCY = RELIABILITY / "test_concurrency.py"
CRASH = RELIABILITY / "test_crash_restart.py"
CUTS = RELIABILITY / "test_partial_failure.py"
MEMORY = RELIABILITY / "test_memory.py"
BAD_INPUT = RELIABILITY / "test_bad_input.py"


def claims() -> list[tuple[str, str]]:
    """(page, statement as the page must write it), each built from a test's source."""
    api = TESTS / "test_api_additions.py"
    cli = TESTS / "test_cli.py"
    maintenance = TESTS / "test_maintenance.py"
    safety = TESTS / "test_write_safety.py"
    modes_runs = count(MODES, r"run_state_machine_as_test\(\w+, settings=SETTINGS\)")
    modes_examples = one(MODES, r"max_examples=(\d+)")
    modes_steps = one(MODES, r"stateful_step_count=(\d+)")
    model_examples = one(MODEL, r"max_examples=(\d+)")
    model_steps = one(MODEL, r"stateful_step_count=(\d+)")
    model_order = "derandomized" if count(MODEL, r"derandomize=True") else "random"
    model_names = list_length(MODEL, r"^NAMES = st\.sampled_from\((\[.*\])\)")
    writers = one(CONCURRENCY, r"^WRITERS = (\d+)")
    readers = one(CONCURRENCY, r"^READERS = (\d+)")
    per_writer = one(CONCURRENCY, r"^VALUES_PER_WRITER = (\d+)")
    names = one(CONCURRENCY, r'^NAMES = \[f"n\{i\}" for i in range\((\d+)\)\]')
    kills = one(CRASH, r"^KILLS = (\d+)")
    acknowledged = one(CRASH, r"acked\.values\(\)\) > (\d+)")
    cut_low, cut_high = groups(CUTS, r"proxy\.budget = rng\.randrange\(([\d_]+), ([\d_]+)\)")
    assert isinstance(cut_high, int)
    batch = one(CUTS, r"names = rng\.sample\(NAMES, (\d+)\)")
    rounds = one(CUTS, r"^ROUNDS = (\d+)")
    async_rounds = one(CUTS, r"for round_ in range\((\d+)\):")
    commands = list_length(safety, r"^COMMANDS = (\[.*\])")
    exponent = one(BAD_INPUT, r"^HUGE_INT = 10\*\*(\d+)")
    assert isinstance(exponent, int)
    big_batch = one(BAD_INPUT, r"^BIG_BATCH = .* for i in range\((\d+)\)\]")
    cli_names = one(cli, r"for i in range\((\d+)\)\] \+ \[.leaderboard.\]")
    cli_found = one(cli, r"json\.loads\(with_flag\[1\]\)\[.names.\] == (\d+)")
    iter_values = one(api, r"base = \[f.v\{i\}. for i in range\((\d+)\)\]")
    iter_count = one(api, r"enumerate\(mm\.iter_values\(.big., count=(\d+)\)\)")
    iter_new = one(api, r"new = \[f.new\{i\}. for i in range\(([\d_]+)\)\]")
    memory_bound = one(MEMORY, r"assert new_cost <= ([\d.]+) \* old_cost")
    memory_names, per_name = groups(MEMORY, r"^NAMES, PER_NAME = ([\d_]+), ([\d_]+)")
    odd_sweep = one(maintenance, r"n = ([\d_]+) if backend\.name == .real.")
    leaked = one(maintenance, r"for i in range\(([\d_]+)\):\n +key = f.leaked:")
    huge = one(maintenance, r"zadd\(.leaked:huge., .* for i in range\(([\d_]+)\)\}\)")
    g, ops, dash = "docs/guarantees.md", "docs/operations.md", "\N{EN DASH}"
    return [
        (g, f"{modes_runs} {TIMES} {modes_examples} sequences {TIMES} {modes_steps} steps"),
        (g, f"{model_examples} sequences {TIMES} {model_steps} steps, {model_order}"),
        (g, f"against a plain-Python model, {model_names} names"),
        (g, f"after {writers} concurrent writers mixing"),
        (g, f"≥ {writers} OS processes write {per_writer} values each"),
        (g, f"over {names} shared names while {readers} processes read"),
        (g, f"{writers} writers + {readers} readers, 0 missing"),
        (g, f"SIGKILLed mid-stream, {WORDS[int(kills)]} times"),
        (g, f"{kills} kills survived, {acknowledged}+ acknowledged values"),
        (g, f"({cut_low} B {dash} {cut_high // 1000} KB) during {batch}-name batches"),
        (g, f"{rounds} sync rounds + {async_rounds} async rounds"),
        (g, f"a user lacking any one of {commands} commands"),
        (g, f"a {exponent + 1:,}-digit int at the end of a {big_batch:,}-name batch"),
        (g, f"({cli_names:,} of {cli_found:,} names)"),
        (g, f"{iter_values:,} values read {iter_count:,} at a time"),
        (g, f"adds {iter_new:,} new ones"),
        (g, f"at most {memory_bound}{TIMES} 0.1.0's per value, {memory_names:,} names"),
        (g, f"{memory_names:,} names {TIMES} {per_name} values"),
        (ops, f"a {odd_sweep:,}-key sweep"),
        (ops, f"A sweep of {leaked:,} leaked keys, two of them holding {huge:,} expired values"),
    ]


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(("page", "statement"), claims(), ids=lambda x: x[:40])
def test_the_docs_describe_the_tests_as_their_settings_are(page: str, statement: str) -> None:
    text = flat((ROOT / page).read_text())
    assert flat(statement) in text, f"{page} should say {statement!r} (from the tests' settings)"
