"""The registration paths of earlier releases: the ``@register`` decorator and ``COOPERBENCH_EXTERNAL_AGENTS``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cooperbench.agents import AgentResult, AgentRunner, get_runner, list_agents, register
from cooperbench.agents import registry as agents_registry


def test_agents_package_and_registry_module_export_the_documented_api() -> None:
    assert agents_registry.register is register
    assert agents_registry.get_runner is get_runner
    assert agents_registry.list_agents is list_agents
    assert {"nop", "oracle"} <= set(list_agents())

    runner = get_runner("nop")

    assert isinstance(runner, AgentRunner)
    result = AgentResult(status="Submitted")
    assert (result.patch, result.cost, result.steps, result.messages, result.error) == ("", 0.0, 0, [], None)
    assert (result.input_tokens, result.sent_messages) == (0, 0)


DECORATED = """
import json
from cooperbench.agents import AgentResult
from cooperbench.agents.registry import get_runner, list_agents, register
from cooperbench.plugins import list_plugins


@register("my_agent", aliases=("mine",))
class MyAgentRunner:
    def run(self, task, image, *, agent_id="agent", model_name="gpt-4o", **kwargs):
        return AgentResult(status="Submitted", patch=f"{agent_id} did {task}")


runner = get_runner("mine")
[mine] = [r.as_dict() for r in list_plugins("agent") if r.name == "my_agent"]
print(json.dumps([type(runner).__name__, runner.run("x", "img", agent_id="a1").patch, list_agents(), mine]))
"""


def test_register_decorator_makes_an_agent_available_with_source_decorator(venv: Any, tmp_path: Path) -> None:
    script = tmp_path / "my_script.py"
    script.write_text(DECORATED)

    proc = venv.run(venv.python, str(script))

    assert proc.returncode == 0, proc.stderr
    name, patch, agents, mine = json.loads(proc.stdout)
    assert (name, patch) == ("MyAgentRunner", "a1 did x")
    assert agents == ["my_agent", "nop", "oracle"]
    assert (mine["source"], mine["status"], mine["aliases"], mine["distribution"]) == (
        "decorator",
        "ok",
        ["mine"],
        None,
    )


def test_register_without_a_name_says_how_to_call_it() -> None:
    with pytest.raises(TypeError, match=r"write @register\('my_agent'\)"):

        @register  # type: ignore[arg-type]
        class Forgot:
            pass


ENV_MODULE = """\
from pathlib import Path

from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register

# Counts imports: the harness must import each listed module once.
with open(Path(__file__).with_suffix(".imports"), "a") as f:
    f.write("imported\\n")


@register("{agent}")
class Runner:
    def run(self, task, image, **kwargs):
        return AgentResult(status="Submitted", patch="{agent}")
"""

ENV_LOOKUPS = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from cooperbench.agents import get_runner, list_agents
    from cooperbench.plugins import list_plugins
    agents = list_agents()
    patches = [get_runner(n).run("t", "i").patch for n in ("env_a", "env_b")]
    rows = [r.as_dict() for r in list_plugins("agent")]
    list_agents()
print(json.dumps([agents, patches, rows, [str(w.message) for w in caught]]))
"""


@pytest.fixture
def env_modules(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Write two agent modules into a folder on ``PYTHONPATH`` and return the environment to use them."""
    for module, agent in (("cbt_env_a", "env_a"), ("cbt_env_b", "env_b")):
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(ENV_MODULE.format(agent=agent)))

    def env(value: str, **extra: str) -> dict[str, str]:
        return {"PYTHONPATH": str(tmp_path), "COOPERBENCH_EXTERNAL_AGENTS": value, **extra}

    return env


def test_external_agents_variable_loads_every_importable_module_once_and_warns_once_per_broken_one(
    venv: Any, env_modules: Callable[..., dict[str, str]], tmp_path: Path, row: Callable[..., dict[str, Any]]
) -> None:
    env = env_modules("  cbt_env_a ,\tcbt_env_missing,, cbt_env_b  ,")

    agents, patches, rows, warned = venv.python_json(ENV_LOOKUPS, env=env)

    assert agents == ["env_a", "env_b", "nop", "oracle"]
    assert patches == ["env_a", "env_b"]
    assert row(rows, "agent", "env_a")["source"] == "env var module"
    assert row(rows, "agent", "env_b")["source"] == "env var module"
    assert row(rows, "agent", "cbt_env_missing")["status"] == "error"
    assert len(warned) == 1
    assert "COOPERBENCH_EXTERNAL_AGENTS" in warned[0] and "'cbt_env_missing'" in warned[0]
    assert (tmp_path / "cbt_env_a.imports").read_text() == "imported\n"


def test_external_agents_appear_in_the_listing_and_a_broken_module_is_named_on_stderr(
    venv: Any, env_modules: Callable[..., dict[str, str]], row: Callable[..., dict[str, Any]]
) -> None:
    env = env_modules("cbt_env_a, cbt_env_missing")

    proc = venv.cli("plugins", "--json", env=env)

    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert (row(rows, "agent", "env_a")["source"], row(rows, "agent", "env_a")["status"]) == ("env var module", "ok")
    missing = row(rows, "agent", "cbt_env_missing")
    assert (missing["source"], missing["status"]) == ("env var module", "error")
    assert "No module named 'cbt_env_missing'" in missing["error"]
    assert proc.stderr.count("COOPERBENCH_EXTERNAL_AGENTS: cannot import module 'cbt_env_missing'") == 1


def test_strict_mode_makes_an_unimportable_external_agent_module_fatal(
    venv: Any, env_modules: Callable[..., dict[str, str]]
) -> None:
    env = env_modules("cbt_env_a,cbt_env_missing", COOPERBENCH_STRICT_PLUGINS="1")

    proc = venv.cli("plugins", env=env)

    assert proc.returncode == 2
    assert "cannot import module 'cbt_env_missing'" in proc.stderr
