"""docs/reliability.md: every row of its fault tables names tests, and every test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
TEST_REF = re.compile(r"`([\w./-]+\.py)::(\w+)`")


def _rows() -> list[str]:
    rows = []
    for line in DOC.read_text().splitlines():
        if line.startswith("|") and not line.startswith(("| fault", "|---")):
            rows.append(line)
    return rows


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")
    }


def test_every_row_names_a_test_and_every_named_test_exists() -> None:
    rows = _rows()
    assert len(rows) >= 30, "the fault tables were not found"
    missing = []
    for row in rows:
        fault = row.split("|")[1].strip()
        refs = TEST_REF.findall(row.split("|")[-2])
        assert refs, f"docs/reliability.md: the row {fault!r} names no test (`path::test_name` in its last column)"
        for path, name in refs:
            file = ROOT / path
            if not file.is_file() or name not in _test_functions(file):
                missing.append(f"{fault!r}: {path}::{name}")
    assert not missing, "docs/reliability.md names tests that do not exist:\n" + "\n".join(missing)


def test_the_page_is_in_the_site_navigation() -> None:
    assert "reliability.md" in (ROOT / "mkdocs.yml").read_text()
