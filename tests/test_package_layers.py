"""The layering every module keeps: bot -> agents -> tools -> knowledge, never upwards."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["bot", "agents", "tools", "knowledge"]  # each may import only the packages after it


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_flow_one_way() -> None:
    violations = []
    for position, package in enumerate(LAYERS):
        forbidden = set(LAYERS[: position + 1]) - {package}
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in imported_packages(path) & forbidden:
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert violations == []
