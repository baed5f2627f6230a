"""docs/reliability.md: every row names tests that exist, and every fault test is in the table."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

DOC = ROOT / "docs" / "reliability.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)(?:\[[^\]]*\])?`")


def _tests_in(path: str) -> set[str]:
    """List the test functions a file defines."""
    tree = ast.parse((ROOT / path).read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_row_of_the_reliability_table_names_real_tests():
    """Each table row names at least one test, and each named test exists."""
    headers = ("| ---", "| fault", "| race", "| input", "| check")
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| ") and not line.startswith(headers)]
    assert rows
    missing = []
    for row in rows:
        named = NAMED.findall(row)
        assert named, f"a row names no test: {row[:80]}"
        missing += [f"{path}::{name}" for path, name in named if name not in _tests_in(path)]
    assert missing == []


def test_every_fault_concurrency_and_fuzz_test_is_in_the_table():
    """A new test in these files must be added to the table too."""
    text = DOC.read_text()
    for path in ("tests/test_faults.py", "tests/test_concurrency.py", "tests/test_fuzz.py", "tests/test_fuzz_console.py"):
        absent = sorted(name for name in _tests_in(path) if f"{path}::{name}" not in text)
        assert absent == [], f"{path}: not in docs/reliability.md: {absent}"
