"""The shape of the source tree: sub-packages import each other without cycles and in the documented direction,
and no source file grows past 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "videoflextok"
LEAVES = {"nn", "flow"}  # import nothing of ours but videoflextok.errors
MODELS = {"tokenizer", "vae", "generator", "compressors"}


def _unit(path: Path) -> str:
    """The sub-package of a source file ("tokenizer", ...), or its module name for top-level files."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports() -> dict[str, set[str]]:
    """unit -> the units its files import (module-level and inside functions)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        unit = _unit(path)
        edges = graph.setdefault(unit, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                if parts[0] == "videoflextok" and len(parts) > 1 and parts[1] != unit:
                    edges.add(parts[1])
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(unit: str, path: list[str]) -> list[str] | None:
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            if state.get(nxt) == 1:
                return [*path, unit, nxt]
            if nxt not in state and (found := visit(nxt, [*path, unit])):
                return found
        state[unit] = 2
        return None

    for unit in sorted(graph):
        if unit not in state and (found := visit(unit, [])):
            return found
    return None


def test_subpackages_import_each_other_without_cycles():
    graph = _imports()
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_imports_follow_the_documented_direction():
    graph = _imports()
    for leaf in LEAVES:
        assert graph[leaf] <= {"errors"}, (leaf, graph[leaf])
    assert not graph["data"] & MODELS, graph["data"]
    assert not any("cli" in edges for unit, edges in graph.items() if unit not in ("cli", "__main__"))


def test_no_source_file_is_over_400_lines():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert not {name: n for name, n in lengths.items() if n > 400}
