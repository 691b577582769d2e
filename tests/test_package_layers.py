"""The layering every module keeps: bot -> agents -> tools -> knowledge, never upwards."""

from __future__ import annotations

import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["bot", "agents", "tools", "knowledge"]  # each may import only the packages after it
TEST_ONLY = {"tests", "testing_support"}  # what tests and benchmarks share; never shipped, never imported by them
_STATEMENT_ENDS = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}


def imported_packages(path: Path) -> set[str]:
    """Top-level packages named by the file's import statements (relative imports stay inside a package).

    Read with ``tokenize`` rather than ``ast``: on CPython 3.11, ``ast.parse`` in the test's thread can fail with
    "AST constructor recursion depth mismatch" when a server thread left by another test compiles code at the
    same moment (CPython gh-106905).
    """
    names: set[str] = set()
    with path.open("rb") as handle:
        tokens = [t for t in tokenize.tokenize(handle.readline) if t.type not in (tokenize.COMMENT, tokenize.NL)]
    statement_start = True
    for index, token in enumerate(tokens):
        if token.type in _STATEMENT_ENDS:
            statement_start = True
            continue
        if statement_start and token.type == tokenize.NAME and token.string in ("import", "from"):
            names.update(_modules(tokens, index + 1, token.string == "from"))
        statement_start = False
    return names


def _modules(tokens: list[tokenize.TokenInfo], index: int, from_import: bool) -> set[str]:
    """The first name of each module in ``import a.b, c as d`` or ``from a.b import x``."""
    found: set[str] = set()
    expect_module = True
    while index < len(tokens) and tokens[index].type != tokenize.NEWLINE:
        token = tokens[index]
        if from_import:
            # ``from .x import y`` is relative; ``from a.b import`` names package ``a``.
            return {token.string} if token.type == tokenize.NAME else set()
        if token.type == tokenize.NAME and expect_module:
            found.add(token.string)
            expect_module = False
        elif token.string == ",":
            expect_module = True
        index += 1
    return found


def test_imports_flow_one_way() -> None:
    violations = []
    for position, package in enumerate(LAYERS):
        forbidden = (set(LAYERS[: position + 1]) - {package}) | TEST_ONLY
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in imported_packages(path) & forbidden:
                violations.append(f"{path.relative_to(ROOT)} imports {name}")
    assert violations == []


def test_testing_support_needs_nothing_from_the_test_suite() -> None:
    # Benchmarks import testing_support without the tests; it must not pull them in.
    violations = [
        f"{path.relative_to(ROOT)} imports tests"
        for path in sorted((ROOT / "testing_support").rglob("*.py"))
        if "tests" in imported_packages(path)
    ]
    assert violations == []
