"""The shape of the code: thin flows, no import cycles, dependencies that point one way."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kgsynth"


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """kgsynth modules imported when this module is imported (not inside functions, not
    under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(getattr(node, "orelse", []))
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("kgsynth"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("kgsynth"):
                    out.add(node.module)
                    out.update(f"{node.module}.{a.name}" for a in node.names)

    visit(tree.body)
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps = {d for d in _top_level_imports(path) if d in files and d != mod}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        for d in list(deps):
            parts = d.split(".")
            deps.update(
                ".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in files
            )
        graph[mod] = deps - {mod}
    return graph


def test_no_import_cycles_in_the_package():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                dfs(dep, [*stack, dep])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            dfs(mod, [mod])
    # a package importing its own submodules in __init__ is not a cycle of logic
    real = [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert not real, real


def test_verify_does_not_import_chain():
    for path in (PACKAGE / "verify").rglob("*.py"):
        text = path.read_text()
        assert "kgsynth.chain" not in text, path


def test_flows_are_thin_prefect_wiring():
    for path in (REPO / "flows").glob("*.py"):
        lines = path.read_text().splitlines()
        assert len(lines) <= 150, f"{path.name}: {len(lines)} lines"
        tree = ast.parse("\n".join(lines))
        # stage logic lives in kgsynth/stages: a flow defines no classes but its result record
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        assert all(c.endswith("Result") for c in classes), (path.name, classes)


def test_class_names_are_unique_in_the_package():
    seen: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                assert node.name not in seen, (node.name, seen.get(node.name), path)
                seen[node.name] = path
