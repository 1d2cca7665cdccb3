"""Meta-tests: every hook a plugin can implement is documented and exercised by a test."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from cooperbench import hookspecs

HOOKS = sorted(
    name
    for name, obj in vars(hookspecs).items()
    if callable(obj) and getattr(obj, f"{hookspecs.PROJECT_NAME}_spec", None) is not None
)


def _test_function_names() -> set[str]:
    names: set[str] = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return names


def test_every_registration_kind_and_the_cli_have_a_hook() -> None:
    assert HOOKS == [
        "cooperbench_register_agents",
        "cooperbench_register_backends",
        "cooperbench_register_commands",
        "cooperbench_register_connectors",
        "cooperbench_register_evaluators",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_arguments_and_failure_mode(hook: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, hook))

    assert doc, f"hookspec {hook} has no docstring"
    assert "Args:" in doc
    for parameter in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f"{parameter}:" in doc, f"hookspec {hook} does not document its argument {parameter!r}"
    assert "Raises:" in doc and "broken" in doc


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    # A plugin installed by a test implements the hook, and the test is named after it.
    exercised = [name for name in _test_function_names() if name.startswith(f"test_hook_{hook}")]

    assert exercised, f"no test named test_hook_{hook}_... installs a plugin implementing {hook}"
