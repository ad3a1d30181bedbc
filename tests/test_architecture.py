"""The package's import graph: no cycle, and every import goes down the layers.

Layers, bottom to top (a module may import its own layer's modules and lower ones):

0. leaves: ``_version``, ``_quiet``, ``options``, ``hardware``, ``checks``, ``evaluation``, ``baselines``,
   ``selection``, ``data``
1. ``losses`` (tensor code)
2. ``models`` (Keras models)
3. ``callbacks``, ``run_files`` (its loader loads models)
4. ``experiments``, ``serving``, ``viz`` (independent of each other)
5. ``cli``, ``sklearn`` (the scikit-learn estimator)
6. the package ``ddc_tf`` itself (the public API re-exports) and ``ddc_tf.__main__`` (``python -m
   ddc_tf``); nothing imports them

Module-level and function-level imports count alike; this reads the source, it imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ddc_tf"

LAYERS: dict[str, int] = {
    "_version": 0, "_quiet": 0, "options": 0, "hardware": 0, "checks": 0, "evaluation": 0, "baselines": 0, "selection": 0, "data": 0,
    "losses": 1,
    "models": 2,
    "callbacks": 3, "run_files": 3,
    "experiments": 4, "serving": 4, "viz": 4,
    "cli": 5, "sklearn": 5,
    "__main__": 6,
}
#: Sub-packages of one layer that must not import each other.
INDEPENDENT = {"experiments", "serving", "viz"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in modules else base)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {name for name in out if name in modules and name != module}


GRAPH = {name: _imports(name, path, _modules()) for name, path in _modules().items()}


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_has_a_layer() -> None:
    missing = sorted({_group(m) for m in GRAPH if _group(m) and _group(m) not in LAYERS})
    assert not missing, f"add these to LAYERS: {missing}"


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in GRAPH[node]:
            if dep.startswith(node + "."):
                continue  # a package's __init__ re-exporting its own modules
            if state.get(dep) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != "ddc_tf"))
def test_imports_go_down_the_layers(module: str) -> None:
    group = _group(module)
    for dep in GRAPH[module]:
        assert dep != "ddc_tf", f"{module} imports the top-level package ddc_tf (import the module it needs)"
        dep_group = _group(dep)
        assert LAYERS[dep_group] <= LAYERS[group], f"{module} (layer {LAYERS[group]}) imports {dep} (layer {LAYERS[dep_group]})"
        if group in INDEPENDENT and dep_group in INDEPENDENT:
            assert dep_group == group, f"{module} imports {dep}: {group} and {dep_group} are independent"
