"""The architecture rules of issue 9, checked on the source: no import cycles, short functions.

The import graph counts every import of a spikejet module: at module level, inside
functions (lazy imports) and module names given as strings to ``importlib.import_module``
or in a module-name table (``"spikejet.x.y"`` literals).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "spikejet"
_MODULE_STRING = re.compile(r"^spikejet(\.[A-Za-z_]\w*)+$")
#: Functions allowed over the limit: numerical kernels whose length is the algorithm (they say why).
MAX_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        if "__pycache__" in f.parts:  # generated kernels (spikejet.snn._codegen's cache)
            continue
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, level: int, module: str, is_pkg: bool) -> str:
    if level == 0:
        return name
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings = []  # module names given as strings: import_module("...") and module-name tables
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
                strings += [a for a in node.args if isinstance(a, ast.Constant)]
            elif isinstance(node, ast.Dict):
                strings += [v for v in node.values if isinstance(v, ast.Constant)]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module or "", node.level, mod, is_pkg)
                # ``from pkg import sub`` imports the submodule; ``from pkg import name`` the package
                subs = [f"{base}.{a.name}" for a in node.names]
                targets = [s if s in modules else base for s in subs]
            elif node in strings and isinstance(node.value, str):
                text = node.value.split(":")[0]
                if _MODULE_STRING.match(text):
                    targets = [text]
            for t in targets:
                k = _known(t, modules)
                if k is not None and k != mod and k.startswith("spikejet"):
                    graph[mod].add(k)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_config_is_torch_free() -> None:
    graph = import_graph()
    seen, todo = set(), ["spikejet.config"]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(graph[m])
    for m in seen:
        text = _modules()[m].read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import torch|from torch)", text, re.M), f"{m} imports torch"


def _long_functions() -> list[str]:
    out = []
    for mod, path in _modules().items():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n <= MAX_LINES:
                    continue
                head = "\n".join(lines[node.lineno - 1: node.lineno + 30])
                if "numerical kernel" in head.lower():
                    continue
                out.append(f"{mod}.{node.name} ({n} lines)")
    return out


def test_no_function_over_80_lines() -> None:
    assert _long_functions() == []
