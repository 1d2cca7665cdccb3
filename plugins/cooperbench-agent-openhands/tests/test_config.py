"""Configuration validation, the preflight check, and the plugin registration."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cooperbench_agent_openhands.config import MODEL_KEYS, AgentSettings, parse_config

from cooperbench.errors import ConfigError
from cooperbench.plugins import get_plugin, list_plugins


def test_defaults_and_harness_sections_are_accepted():
    settings = parse_config({"backend": {"name": "local"}, "task": {"repo": "x"}, "run": {"run_name": "r"}})
    assert settings == AgentSettings()


def test_sections_map_to_sdk_settings():
    settings = parse_config(
        {
            "agent": {"step_limit": 7, "cost_limit": 1.5, "temperature": 0.3, "command_timeout": 30},
            "model": {"api_base": "http://h/v1", "max_tokens": 100, "num_retries": 2, "temperature": 0.9},
            "environment": {"PIP_NO_INPUT": 1, "DEBUG": True},
        }
    )
    assert settings.max_iterations == 7 and settings.cost_limit == 1.5 and settings.command_timeout == 30
    # model.temperature wins over agent.temperature; num_retries becomes the SDK's attempt count
    assert settings.llm == {"base_url": "http://h/v1", "max_output_tokens": 100, "num_retries": 3, "temperature": 0.9}
    assert settings.env == {"PIP_NO_INPUT": "1", "DEBUG": "true"}


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"agent": {"max_iteration": 5}}, "max_iteration"),
        ({"model": {"api_bse": "x", "top_q": 1}}, "api_bse, top_q"),
        ({"agnet": {}}, "agnet"),
    ],
)
def test_unknown_keys_are_config_errors_naming_them(config, named):
    with pytest.raises(ConfigError, match=f"unknown key\\(s\\) in .*: {named};"):
        parse_config(config)


@pytest.mark.parametrize(
    "config",
    [
        {"agent": {"max_iterations": 0}},
        {"agent": {"max_iterations": 3, "step_limit": 4}},
        {"agent": {"cost_limit": "lots"}},
        {"model": {"api_base": "a", "base_url": "b"}},
        {"environment": {"A": {"nested": 1}}},
        {"model": ["not", "a", "mapping"]},
    ],
)
def test_bad_values_are_config_errors(config):
    with pytest.raises(ConfigError, match="openhands agent config"):
        parse_config(config)


def test_every_model_key_is_a_field_of_the_sdk_llm():
    from cooperbench_agent_openhands import _sdk  # noqa: F401  (sets the SDK's environment, then loads it)
    from openhands.sdk import LLM

    assert set(MODEL_KEYS.values()) <= set(LLM.model_fields)


def test_preflight_names_the_missing_api_key_variable(monkeypatch: pytest.MonkeyPatch):
    runner = get_plugin("agent", "openhands")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY.*model\.api_key"):
        runner.preflight("openai/gpt-4o", {})
    runner.preflight("openai/gpt-4o", {"model": {"api_key": "k"}})
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    runner.preflight("openai/gpt-4o", {})
    runner.preflight("vertex_ai/gemini-3-flash-preview", {})  # application default credentials may do
    with pytest.raises(ConfigError, match="unknown key"):
        runner.preflight("openai/gpt-4o", {"agent": {"nope": 1}})


def test_plugin_registers_openhands_lazily_without_importing_the_sdk():
    code = (
        "import json, sys\n"
        "from cooperbench_agent_openhands import plugin\n"
        "calls = []\n"
        "plugin.cooperbench_register_agents(lambda *a, **k: calls.append([list(a), sorted(k)]))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('openhands', 'litellm'))\n"
        "print(json.dumps({'calls': calls, 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {
        "calls": [[["openhands", "cooperbench_agent_openhands.runner:OpenHandsRunner"], ["description"]]],
        "heavy": [],
    }
    registration = next(r for r in list_plugins("agent") if r.name == "openhands")
    assert (registration.distribution, registration.plugin, registration.status) == (
        "cooperbench-agent-openhands",
        "agent-openhands",
        "ok",
    )
    assert get_plugin("agent", "openhands").__name__ == "OpenHandsRunner"
