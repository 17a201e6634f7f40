"""The public types, as a user's type checker sees them: tests/typing/ under mypy and pyright.

tests/typing/user_code.py is never run; it is type-checked. Its
``assert_type`` lines pin what each method returns for each kind of
``cast_fn``, and its lines marked ``# type: ignore[...]  # pyright: ignore[...]``
must stay type errors (an unneeded ignore fails both checkers). The
checkers come with the ``lint`` dependency group; without them these tests
skip (the README's test command installs only the ``test`` extra).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TYPING = ROOT / "tests" / "typing"
USER_CODE = TYPING / "user_code.py"


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def _pyright() -> list[str] | None:
    """How to call pyright, or None when it is not installed."""
    if importlib.util.find_spec("pyright") is not None:
        return [sys.executable, "-m", "pyright"]
    found = shutil.which("pyright")
    return [found] if found else None


def test_mypy_strict_accepts_user_code() -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it is in the lint dependency group)")
    done = _run([sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", str(TYPING)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


def test_pyright_accepts_user_code() -> None:
    pyright = _pyright()
    if pyright is None:
        pytest.skip("pyright is not installed (it is in the lint dependency group)")
    version = _run([*pyright, "--version"])
    if version.returncode != 0:
        pytest.skip(f"pyright is installed but cannot start (Node.js?): {version.stderr.strip()}")
    # The project file there turns on strict mode and reportUnnecessaryTypeIgnoreComment.
    done = _run([*pyright, "--project", str(TYPING)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout


def test_every_expected_error_is_pinned_for_both_checkers() -> None:
    # mypy reads only "# type: ignore", and pyright (enableTypeIgnoreComments
    # off) only "# pyright: ignore": a line that must be an error needs both,
    # each naming its error, or one checker would let a regression through.
    marked = 0
    for number, line in enumerate(USER_CODE.read_text().splitlines(), 1):
        has_mypy = "# type: ignore" in line
        has_pyright = "# pyright: ignore" in line
        assert has_mypy == has_pyright, f"user_code.py:{number}: {line.strip()}"
        if has_mypy:
            assert re.search(r"# type: ignore\[[\w-]+(, [\w-]+)*\]", line), number
            assert re.search(r"# pyright: ignore\[\w+(, \w+)*\]", line), number
            marked += 1
    assert marked >= 30
