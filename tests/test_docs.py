"""The documentation stays true: generated pages are current and code blocks are valid."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "plugins").glob("*/README.md")])
BLOCK = re.compile(r"```(python|toml|yaml|bash)\n(.*?)```", re.DOTALL)


def blocks(kind: str) -> list[tuple[str, str]]:
    return [
        (f"{p.relative_to(ROOT)}#{i}", m.group(2))
        for p in PAGES
        for i, m in enumerate(BLOCK.finditer(p.read_text()))
        if m.group(1) == kind
    ]


def test_cli_reference_is_generated_from_the_current_cli():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_cli_docs.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("where", "code"), blocks("python"), ids=lambda v: v if isinstance(v, str) and "#" in v else ""
)
def test_python_blocks_parse(where, code):
    ast.parse(code, filename=where)


@pytest.mark.parametrize(("where", "code"), blocks("yaml"), ids=lambda v: v if isinstance(v, str) and "#" in v else "")
def test_yaml_blocks_parse(where, code):
    import yaml

    yaml.safe_load(code)


@pytest.mark.parametrize(("where", "code"), blocks("toml"), ids=lambda v: v if isinstance(v, str) and "#" in v else "")
def test_toml_blocks_parse(where, code):
    import tomllib

    tomllib.loads(code)


def test_cooperbench_commands_in_docs_exist():
    import typer.main

    from cooperbench.cli import build_app

    commands = set(typer.main.get_command(build_app()).commands)  # type: ignore[attr-defined]
    used = {m.group(1) for _, code in blocks("bash") for m in re.finditer(r"^cooperbench (\w+)", code, re.MULTILINE)}
    assert used <= commands, used - commands


def test_relative_links_resolve():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#]+?)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"
