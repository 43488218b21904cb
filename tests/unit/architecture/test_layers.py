"""The shape of the code base: the import contract holds, no module cycles, three rooms in every stage.

`make lint` runs the same contract (lint-imports); these tests also show the contract can fail, by
planting a forbidden import in a copy of the tree, and check what a contract cannot express.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("components", "pipelines", "cli")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_COMPONENT_BODY_LINES = 15


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's packages and pyproject.toml, copied so an import can be planted without harm."""
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_import_contract_holds_on_the_tree():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    "importer, planted, broken",
    [
        ("components/common/errors.py", "import components.monitor.logic", "components.common is not allowed"),
        ("components/train/logic.py", "from components.register import logic", "components.train is not allowed"),
        ("components/monitor/report.py", "import cli.main", "components.monitor is not allowed to import cli"),
    ],
)
def test_a_planted_upward_import_breaks_the_contract(tree_copy, importer, planted, broken):
    path = tree_copy / importer
    original = path.read_text()
    try:
        path.write_text(original + f"\n\ndef _planted():\n    {planted}  # even inside a function\n")
        result = lint_imports(tree_copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout
    assert broken in result.stdout, result.stdout


def test_no_module_cycles_among_project_modules():
    graph = grimp.build_graph(*PACKAGES)
    cycles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_no_task_function_lives_in_a_logic_module():
    offenders = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for path in sorted((ROOT / "components").rglob("logic.py"))
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef) and node.name.endswith("_task")
    ]
    assert offenders == []


def test_every_component_body_is_a_short_mapping_onto_its_task():
    long_bodies = []
    for path in sorted((ROOT / "components").rglob("component.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            body = node.body[1:] if ast.get_docstring(node) else node.body
            lines = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            if lines > MAX_COMPONENT_BODY_LINES:
                long_bodies.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
    assert long_bodies == []


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the direct imports between project modules (iterative: no recursion limit)."""
    modules = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start in modules:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components
