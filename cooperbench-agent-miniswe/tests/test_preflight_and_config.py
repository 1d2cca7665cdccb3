"""Preflight (before any sandbox) and configuration validation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cooperbench_agent_miniswe.config import load_settings
from cooperbench_agent_miniswe.runner import MiniSweAgentRunner
from miniswe_helpers import MODEL, agent_config

from cooperbench.errors import ConfigError, InfraError
from cooperbench.testing.llm_server import LLMTestServer, forever, rate_limited, server_error, text

preflight = MiniSweAgentRunner.preflight


def probing(server: LLMTestServer, **model: object) -> dict:
    config = agent_config(server, model=model)
    config["agent"]["check_model"] = True
    return config


def test_missing_api_key_names_the_variable_to_export(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"'gpt-4o' \(openai\) needs an API key: export OPENAI_API_KEY="):
        preflight("gpt-4o", {})
    with pytest.raises(ConfigError, match="export ANTHROPIC_API_KEY="):
        preflight("anthropic/claude-sonnet-4-5", {"agent": {"check_model": False}})


def test_unknown_model_is_a_config_error_before_any_call() -> None:
    with LLMTestServer() as server:
        with pytest.raises(ConfigError, match=r"unknown model 'no-such-model'.*openai/gpt-4o"):
            preflight("no-such-model", probing(server))
        assert server.requests == []


def test_probe_passes_against_a_healthy_server() -> None:
    with LLMTestServer([forever(text("OK"))]) as server:
        preflight(MODEL, probing(server))
        (probe,) = server.chat_requests
    assert probe.body["max_tokens"] == 8
    assert "preflight" in probe.text_of("user")[0]


def test_rejected_credentials_are_a_config_error_naming_the_key() -> None:
    with (
        LLMTestServer([text("OK")], api_key="the-right-key") as server,
        pytest.raises(ConfigError, match=r"rejected the credentials.*OPENAI_API_KEY"),
    ):
        preflight(MODEL, probing(server))


def test_model_the_provider_does_not_know_is_a_config_error() -> None:
    with (
        LLMTestServer([text("OK")], models=["test-model"]) as server,
        pytest.raises(ConfigError, match=r"'openai/gpt-nonexistent'.*does not know this model"),
    ):
        preflight("openai/gpt-nonexistent", probing(server))


def test_missing_cloud_credentials_fail_fast_with_a_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No application default credentials anywhere, and no metadata server to ask.
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"gemini-3-flash-preview.*application default credentials"):
        preflight("vertex_ai/gemini-3-flash-preview", {"model": {"retry_min_wait": 60}})
    assert time.monotonic() - started < 55  # not retried: waiting cannot bring credentials


def test_probe_retries_rate_limits_then_passes() -> None:
    with LLMTestServer([rate_limited(0.01), text("OK")]) as server:
        preflight(MODEL, probing(server))
        assert len(server.chat_requests) == 2


def test_provider_outage_at_preflight_is_an_infra_error() -> None:
    with (
        LLMTestServer([forever(server_error(503, "down"))]) as server,
        pytest.raises(InfraError, match="unavailable before the run starts"),
    ):
        preflight(MODEL, probing(server, num_retries=1))


def test_unknown_model_key_is_named_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("model:\n  max_token: 100\n")
    with pytest.raises(ConfigError, match=rf"{path}: unknown key `model.max_token`.*litellm_kwargs"):
        preflight(MODEL, {"agent": {"check_model": False}}, agent_config=str(path))
    # provider-specific arguments go through litellm_kwargs unchecked
    preflight(
        MODEL, {"agent": {"check_model": False}, "model": {"api_key": "x", "litellm_kwargs": {"vertex_project": "p"}}}
    )


def test_unknown_agent_key_is_named_with_its_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("agent:\n  step_limt: 3\n")
    with pytest.raises(ConfigError, match=rf"{path}: .*unknown key `agent.step_limt`"):
        load_settings({}, str(path))
    with pytest.raises(ConfigError, match=r"the agent configuration: .*unknown key `agent.temprature`"):
        load_settings({"agent": {"temprature": 1}})
    with pytest.raises(ConfigError, match="unknown key `extras`"):
        load_settings({"extras": {}})


def test_run_rejects_unknown_keys_before_starting_a_sandbox(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key `agent\.bogus`"):
        MiniSweAgentRunner().run("t", "no-such-image", config={"agent": {"bogus": 1}}, log_dir=str(tmp_path))


def test_harness_sections_are_ignored_and_aliases_map() -> None:
    settings = load_settings(
        {
            "backend": {"name": "local"},
            "run": {"run_name": "x"},
            "task": {"repo": "r"},
            "agent": {"max_iterations": 7, "system_template": "hi", "temperature": 0.1},
            "model": {"top_p": 0.9, "reasoning_effort": "low"},
            "environment": {"A": 1, "B": True},
        }
    )
    assert settings.agent.step_limit == 7 and settings.agent.system_prompt == "hi"
    assert settings.environment == {"A": "1", "B": "true"}
    kwargs = settings.completion_kwargs()
    assert kwargs["temperature"] == 0.1 and kwargs["top_p"] == 0.9 and kwargs["reasoning_effort"] == "low"


def test_file_then_dict_merge_with_the_dict_winning(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("agent:\n  max_iterations: 30\n  cost_limit: 1.5\nmodel:\n  max_tokens: 100\n")
    settings = load_settings({"agent": {"step_limit": 50}}, str(path))
    assert (settings.agent.step_limit, settings.agent.cost_limit, settings.model.max_tokens) == (50, 1.5, 100)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"agent": {"step_limit": -1}}, r"`agent.step_limit`: Input should be greater than or equal to 0"),
        ({"agent": {"compaction": "magic"}}, r"`agent.compaction`: Input should be 'summarize', 'truncate' or 'off'"),
        (
            {"agent": {"max_iterations": 3, "step_limit": 4}},
            r"`agent.max_iterations` is an alias of `agent.step_limit`",
        ),
        ({"environment": {"1BAD": "x"}}, r"'1BAD' is not an environment variable name"),
        ({"model": "gpt-4o"}, r"`model` must be a mapping"),
    ],
)
def test_invalid_values_are_named(config: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(config)
