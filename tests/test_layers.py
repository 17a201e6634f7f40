"""The package's floors: one registry of scripts, and imports that never run in a circle.

The full layering (which module may import which) is the import contract of
pyproject.toml, checked by ``lint-imports`` in the lint job. These tests hold
what the suite can see without that tool: every script the package sends is
in the one registry the permission errors and the old-server variants use,
and no module of the package imports another inside a function or in a
circle (the way 0.4.0's ``_permissions`` reached up into ``_maintenance``).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import multimapwithttl
from multimapwithttl._permissions import script_command
from multimapwithttl._scripts import BY_SHA, SCRIPTS, Script, plain

PACKAGE = Path(multimapwithttl.__file__).parent
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py"))


def _defined_scripts() -> dict[str, Script]:
    """Every Script a module of the package holds, by where it is held."""
    found = {}
    for info in pkgutil.iter_modules(multimapwithttl.__path__):
        module = importlib.import_module(f"multimapwithttl.{info.name}")
        for attr, value in vars(module).items():
            if isinstance(value, Script):
                found[f"{info.name}.{attr}"] = value
    return found


def test_every_script_of_the_package_is_in_the_registry() -> None:
    defined = _defined_scripts()
    assert defined
    missing = {where for where, script in defined.items() if script.sha not in BY_SHA}
    assert not missing
    lua = {path.stem for path in (PACKAGE / "_scripts").glob("*.lua")} - {"_lib"}
    assert lua <= {script.name for script in SCRIPTS}


def test_each_script_has_its_variant_for_servers_without_shebangs() -> None:
    for script in SCRIPTS:
        variant = plain(script)
        assert variant in SCRIPTS
        assert not variant.source.startswith("#!")
        assert variant.source == script.source.partition("\n")[2] or variant is script


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.name for script in SCRIPTS])
def test_a_refusal_on_any_scripts_line_is_named(script: Script) -> None:
    # The first line of each script that runs a command: a Redis 7.0 refusal
    # names only the script's SHA1 and line, and the registry tells the rest.
    line, command = next(
        (n, m[1].lower())
        for n, text in enumerate(script.source.splitlines(), 1)
        if (m := re.search(r"redis\.p?call\(\s*'(\w+)'", text))
    )
    assert (script_command(script.sha, line) or "").startswith(command)


def _imports(module: str) -> list[tuple[str, bool]]:
    """The package's modules that ``module`` imports, each with whether inside a function."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text("utf-8"))
    nested = {
        id(node)
        for scope in ast.walk(tree)
        if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(scope)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            # ``from . import a`` names modules a; ``from ._a import x`` module _a.
            names = [node.module] if node.module else [alias.name for alias in node.names]
            for name in names:
                target = name if name in MODULES else "__init__"
                found.append((target, id(node) in nested))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            absolute = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                absolute = [node.module or ""]
            for name in absolute:
                if name.split(".")[0] == "multimapwithttl":
                    tail = name.split(".")[1] if "." in name else "__init__"
                    found.append((tail, id(node) in nested))
    return found


def test_no_module_imports_the_package_inside_a_function() -> None:
    # An import hidden in a function is how a circle of imports gets dodged.
    deferred = {
        (module, target) for module in MODULES for target, inside in _imports(module) if inside
    }
    assert not deferred


def test_the_package_imports_run_in_no_circle() -> None:
    graph = {module: {target for target, _ in _imports(module)} for module in MODULES}
    done: set[str] = set()

    def circle_from(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            found = circle_from(target, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    circles = [c for module in MODULES if (c := circle_from(module, []))]
    assert not circles
