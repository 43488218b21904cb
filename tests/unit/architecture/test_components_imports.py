"""The import layers: components/ never imports the layers above it (pipelines/, cli/)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HIGHER_LAYERS = {"pipelines", "cli"}


def imported_modules(source: str) -> set[str]:
    """Every absolute module an AST imports, at any depth (functions, TYPE_CHECKING, try blocks)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def upward_imports(package: Path) -> list[str]:
    return sorted(
        f"{path.relative_to(package.parent).as_posix()} imports {module}"
        for path in package.rglob("*.py")
        for module in imported_modules(path.read_text())
        if module.split(".")[0] in HIGHER_LAYERS
    )


def test_components_import_neither_pipelines_nor_cli():
    modules = list((ROOT / "components").rglob("*.py"))
    assert len(modules) > 20, "the walk must see the components"
    assert upward_imports(ROOT / "components") == []


def test_an_upward_import_is_found_wherever_it_hides(tmp_path):
    package = tmp_path / "components"
    package.mkdir()
    (package / "a.py").write_text("import os\nfrom components.common import errors\n")
    (package / "b.py").write_text("def later():\n    from pipelines.usecases import DEMO_CONFIG\n")
    (package / "c.py").write_text("try:\n    import cli.main as entry\nexcept ImportError:\n    pass\n")
    assert imported_modules((package / "a.py").read_text()) == {"os", "components.common"}
    assert upward_imports(package) == ["components/b.py imports pipelines.usecases", "components/c.py imports cli.main"]
