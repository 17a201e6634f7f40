"""The wheel as users install it: one distribution, a lean runtime, a clean upgrade from 0.1.0.

Builds this project's wheel, then works in fresh venvs with the package index:
installs the real ``python-multimapwithttl==0.1.0``, upgrades it in place with
``pip install -U``, uninstalls, and measures what a bare install pulls in.
Slow (a minute or so) and needs the package index: marked ``packaging``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
# The [project] table's first name/version lines (tomllib is 3.11+; this runs on 3.10 too).
_PYPROJECT = (ROOT / "pyproject.toml").read_text()
DIST = re.search(r'^name = "([^"]+)"', _PYPROJECT, re.M).group(1)  # type: ignore[union-attr]
VERSION = re.search(r'^version = "([^"]+)"', _PYPROJECT, re.M).group(1)  # type: ignore[union-attr]

# Run inside a venv: which distributions own files under multimapwithttl/ (or the
# console script), and every installed distribution with its files' total size.
INSPECT = r"""
import json, sys
from importlib import metadata
from pathlib import Path
owners, sizes = {}, {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    total = 0
    for file in dist.files or ():
        path = Path(dist.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
        if file.parts and file.parts[0] == "multimapwithttl":
            owners.setdefault(name, []).append(str(file))
    sizes[name] = [dist.version, total]
json.dump({"owners": owners, "sizes": sizes}, sys.stdout)
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, check=False, cwd=cwd
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@dataclass
class Installed:
    owners: dict[str, list[str]]  # distribution -> its files under multimapwithttl/
    sizes: dict[str, tuple[str, int]]  # distribution -> (version, bytes on disk)


class Venv:
    def __init__(self, path: Path) -> None:
        run(sys.executable, "-m", "venv", path)
        self.path = path
        self.python = path / "bin" / "python"

    def pip(self, *args: str | Path) -> str:
        return self.run(self.python, "-m", "pip", "--disable-pip-version-check", *args)

    def run(self, *args: str | Path) -> str:
        """Run in the venv's directory: never where a checkout's multimapwithttl/ is importable."""
        return run(*args, cwd=self.path)

    def inspect(self) -> Installed:
        found = json.loads(self.run(self.python, "-c", INSPECT))
        sizes = {name: (str(v), int(size)) for name, (v, size) in found["sizes"].items()}
        return Installed(owners=found["owners"], sizes=sizes)

    def site_packages(self) -> Path:
        out = self.run(self.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
        return Path(out.strip())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", out, ROOT)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    return Venv(tmp_path / "venv")


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(name).decode())
    return meta.get_all("Requires-Dist") or []


def test_the_wheel_is_the_python_multimapwithttl_distribution(wheel: Path) -> None:
    assert wheel.name.startswith(f"python_multimapwithttl-{VERSION}-")
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(zf.read(name).decode())
        tops = {n.split("/")[0] for n in zf.namelist()}
    assert meta["Name"] == DIST == "python-multimapwithttl"
    assert meta["License-Expression"] == "MIT"
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Source", "Issues", "Documentation"} <= set(urls)
    assert tops == {"multimapwithttl", f"python_multimapwithttl-{VERSION}.dist-info"}


def test_the_only_runtime_requirement_is_redis(wheel: Path) -> None:
    runtime = [r for r in _requires(wheel) if "extra ==" not in r]
    assert [r.split(">")[0].split("=")[0].split(";")[0].strip() for r in runtime] == ["redis"]
    demo = [r for r in _requires(wheel) if "extra == 'demo'" in r or 'extra == "demo"' in r]
    assert any(r.startswith("fakeredis") for r in demo)


def test_a_bare_install_is_lean(
    wheel: Path, venv: Venv, capsys: pytest.CaptureFixture[str]
) -> None:
    before = set(venv.inspect().sizes)  # pip (and setuptools on old Pythons)
    venv.pip("install", "-q", wheel)
    sizes = venv.inspect().sizes
    closure = {name: sizes[name] for name in set(sizes) - before}
    assert DIST in closure
    assert set(closure) <= {DIST, "redis", "async-timeout", "async_timeout"}, closure
    assert not {"fakeredis", "lupa"} & {name.lower() for name in sizes}
    total = sum(size for _, size in closure.values())
    parts = ", ".join(f"{n} {v} {s / 1e6:.2f} MB" for n, (v, s) in sorted(closure.items()))
    with capsys.disabled():
        print(f"\nruntime closure, Python {sys.version.split()[0]}: {total / 1e6:.2f} MB ({parts})")
    assert closure[DIST][1] < 1_000_000
    venv.pip("check")


def test_upgrade_in_place_from_0_1_0_and_uninstall_leave_one_owner(wheel: Path, venv: Venv) -> None:
    venv.pip("install", "-q", "python-multimapwithttl==0.1.0")
    old = venv.inspect().owners
    assert list(old) == [DIST]
    site = venv.site_packages()
    assert (site / "multimapwithttl" / "multimapwithttl.py").is_file()  # 0.1.0's module

    venv.pip("install", "-q", "-U", wheel)
    owners = venv.inspect().owners
    assert list(owners) == [DIST], f"more than one distribution owns multimapwithttl: {owners}"
    listed = json.loads(venv.pip("list", "--format=json"))
    assert {d["name"]: d["version"] for d in listed}[DIST] == VERSION
    version = venv.run(
        venv.python, "-c", "import multimapwithttl; print(multimapwithttl.__version__)"
    )
    assert version.strip() == VERSION
    # 0.1.0's module path stays importable: the file is now this release's re-export.
    compat = (site / "multimapwithttl" / "multimapwithttl.py").read_text()
    assert "from .sync import MultiMapWithTTL" in compat
    old_path = venv.run(
        venv.python,
        "-c",
        "from multimapwithttl.multimapwithttl import MultiMapWithTTL; print(MultiMapWithTTL)",
    )
    assert "multimapwithttl.sync.MultiMapWithTTL" in old_path
    script = venv.path / "bin" / "multimapwithttl"
    assert VERSION in venv.run(script, "--version")
    assert VERSION in venv.run(venv.python, "-m", "multimapwithttl", "--version")

    venv.pip("uninstall", "-y", "-q", DIST)
    assert not venv.inspect().owners
    left = sorted(str(p) for p in site.iterdir() if "multimapwithttl" in p.name)
    assert left == [], f"uninstall left files behind: {left}"
    assert not script.exists()
    failed = subprocess.run(
        [venv.python, "-c", "import multimapwithttl"],
        capture_output=True,
        check=False,
        cwd=venv.path,
    )
    assert failed.returncode != 0
