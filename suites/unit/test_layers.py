"""The layering of docs/ARCHITECTURE.md, held against the code: every
`import tifed...` (at module level or inside a function) goes to a lower
layer or stays inside its own package, and no modules import each other in
a circle. A new upward arrow fails here, naming the file and the import."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tifed

ROOT = Path(tifed.__file__).resolve().parent

# docs/ARCHITECTURE.md "The layers of tifed": higher numbers may import lower ones.
LAYERS = {
    "cli": 6,
    "flower": 5, "bench": 5, "robot": 5, "pytest_plugin": 5,
    "server": 4, "step": 4, "step_cases": 4,
    "plan": 3, "rounds": 3, "connected": 3,
    "boards": 2, "protocol": 2, "config": 2, "cli_args": 2,
    "training": 1, "links": 1, "firmware": 1, "output": 1,
    "errors": 0,
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(("tifed",) + (parts[:-1] if parts[-1] == "__init__" else parts))
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The tifed modules `name` imports, anywhere in its file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from tifed.x import y`: y may be a module of package tifed.x
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("tifed.") or t == "tifed")
    found.discard(name)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_package_has_a_layer():
    packages = {_package(m) for m in MODULES} - {""}
    assert packages <= set(LAYERS), f"add to LAYERS (and docs/ARCHITECTURE.md): {sorted(packages - set(LAYERS))}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_only(module):
    own = _package(module)
    upward = [t for t in sorted(GRAPH[module])
              if _package(t) and _package(t) != own and LAYERS[_package(t)] >= LAYERS.get(own, 99)]
    assert not upward, f"{MODULES[module].relative_to(ROOT.parent)} imports upward or sideways: {upward}"


def test_no_import_circles():
    seen: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(m: str, stack: list[str]) -> None:
        seen[m] = 1
        for t in sorted(GRAPH.get(m, ())):
            if t not in GRAPH:
                continue
            if seen.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError(f"import circle: {' -> '.join(cycle)}")
            if t not in seen:
                visit(t, stack + [t])
        seen[m] = 2

    for m in sorted(GRAPH):
        if m not in seen:
            visit(m, [m])


def test_the_check_sees_an_upward_import(tmp_path):
    """The walker itself: a module of layer 1 that imports the CLI is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from tifed.cli import main\n")
    assert "tifed.cli" in _imports("tifed.training.bad", bad)
