"""The floors job's helper: declared lower bounds -> exact pins, and a check of what got installed.

``python .ci/floors.py pyproject.toml FLOORS DEMO_FLOOR`` (Python 3.11+, for tomllib)
writes to FLOORS a ``name==floor`` line for every requirement of [project]
dependencies and optional-dependencies and of the ``test`` dependency group
(a package declared twice gets its highest floor), and to DEMO_FLOOR the demo
extra's requirements at their own floors. A requirement without a ``>=`` floor
is an error: every floor must be testable.

``python .ci/floors.py --check FILE`` fails unless every ``name==version`` in
FILE is the installed version (any Python).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def version_key(version: str) -> tuple[int, ...]:
    """1.26 == 1.26.0: numeric parts with trailing zeros dropped (floors are plain releases)."""
    parts = [int(p) for p in re.findall(r"\d+", version.split("+")[0])]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def floor_of(requirement: str) -> tuple[str, str, str]:
    """``"x>=1.2; python_version >= '3.12'"`` -> ``("x", "1.2", "; python_version >= '3.12'")``."""
    match = REQUIREMENT.match(requirement)
    if not match:
        raise SystemExit(f"cannot parse requirement {requirement!r}")
    name, _extras, spec, marker = match.groups()
    floors = re.findall(r">=\s*([0-9][0-9A-Za-z.]*)", spec or "")
    if len(floors) != 1:
        raise SystemExit(f"{requirement!r} must declare exactly one '>=' floor")
    return name.lower().replace("_", "-"), floors[0], (marker or "").strip()


def write_pins(pyproject: str, floors_path: str, demo_path: str) -> None:
    """Write the pins files described in the module docstring."""
    import tomllib

    with open(pyproject, "rb") as f:
        document = tomllib.load(f)
    project = document["project"]
    groups = {"": project.get("dependencies", []), **project.get("optional-dependencies", {})}
    # The suite's own needs carry floors too (the other groups are exact pins).
    groups["test group"] = document.get("dependency-groups", {}).get("test", [])
    pins: dict[str, tuple[str, str]] = {}
    for requirements in groups.values():
        for requirement in requirements:
            name, floor, marker = floor_of(requirement)
            if name not in pins or version_key(floor) > version_key(pins[name][0]):
                pins[name] = (floor, marker)
    with open(floors_path, "w") as f:
        f.writelines(f"{n}=={floor}{marker}\n" for n, (floor, marker) in sorted(pins.items()))
    with open(demo_path, "w") as f:
        for requirement in groups.get("demo", []):
            name, floor, marker = floor_of(requirement)
            f.write(f"{name}=={floor}{marker}\n")


def applies(marker: str) -> bool:
    """Whether an environment marker holds here (pip's own copy of packaging evaluates it)."""
    from pip._vendor.packaging.markers import Marker

    return bool(Marker(marker.strip()).evaluate())


def check(path: str) -> None:
    """Exit with the list of packages whose installed version is not their pin."""
    wrong = []
    with open(path) as f:
        for line in f:
            pin, _, marker = line.strip().partition(";")
            if not pin:
                continue
            if marker and not applies(marker):
                print(f"{pin} (not for this Python: {marker.strip()})")
                continue
            name, floor = pin.strip().split("==")
            installed = metadata.version(name)
            if version_key(installed) != version_key(floor):
                wrong.append(f"{name}: installed {installed}, floor {floor}")
            else:
                print(f"{name}=={installed}")
    if wrong:
        raise SystemExit("not at their floors:\n" + "\n".join(wrong))


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        write_pins(*sys.argv[1:4])
