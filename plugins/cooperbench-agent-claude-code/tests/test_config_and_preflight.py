"""Configuration, preflight and packaging of the claude_code agent (no sandbox, no CLI run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from claude_code_helpers import REPO_ROOT
from cooperbench_agent_claude_code.config import keys_table, parse_config
from cooperbench_agent_claude_code.runner import ClaudeCodeRunner, find_cli

from cooperbench.errors import ConfigError


def test_unknown_key_is_an_error_naming_it_and_the_supported_keys():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) in `agent`: max_steps; supported: max_turns"):
        parse_config({"agent": {"max_steps": 3}})
    with pytest.raises(ConfigError, match="unknown section"):
        parse_config({"modle": {}})
    with pytest.raises(ConfigError, match=r"`model\.max_retries` must be an integer"):
        parse_config({"model": {"max_retries": "many"}})
    with pytest.raises(ConfigError, match=r"`environment\.ANTHROPIC_API_KEY`"):
        parse_config({"environment": {"ANTHROPIC_API_KEY": "sk-..."}})
    settings = parse_config(
        {"agent": {"max_turns": 7, "allowed_tools": "Bash"}, "backend": "local", "backend_options": {}}
    )
    assert settings.agent["max_turns"] == 7 and settings.agent["allowed_tools"] == ["Bash"]
    assert settings.model["max_retries"] == 6  # defaults filled in


def test_preflight_names_the_missing_key_variable_and_a_missing_binary(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        ClaudeCodeRunner.preflight("claude-sonnet-4-5", {})
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    ClaudeCodeRunner.preflight("claude-sonnet-4-5", {})  # the bundled CLI is found
    assert find_cli().name == "claude" and find_cli().stat().st_size > 1_000_000
    with pytest.raises(ConfigError, match=r"agent\.cli_path"):
        ClaudeCodeRunner.preflight("claude-sonnet-4-5", {"agent": {"cli_path": str(tmp_path / "nope")}})


def test_preflight_names_an_endpoint_that_is_no_http_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "unix:///tmp/proxy.sock")
    with pytest.raises(ConfigError, match=r"ANTHROPIC_BASE_URL must be an http\(s\) URL with a host, got 'unix://"):
        ClaudeCodeRunner.preflight("claude-sonnet-4-5", {})
    with pytest.raises(ConfigError, match=r"`model\.base_url` must be an http\(s\) URL with a host, got 'http:///v1'"):
        ClaudeCodeRunner.preflight("claude-sonnet-4-5", {"model": {"base_url": "http:///v1"}})
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000")
    assert parse_config({}).endpoint() == "http://127.0.0.1:4000"
    assert parse_config({"model": {"base_url": "https://proxy.example"}}).endpoint() == "https://proxy.example"


def test_docs_page_holds_the_generated_table_of_every_config_key():
    page = (REPO_ROOT / "docs" / "agents" / "claude-code.md").read_text()
    assert keys_table() in page, "paste cooperbench_agent_claude_code.config.keys_table() into the page"


def test_missing_key_stops_cooperbench_run_before_any_sandbox_starts(tmp_path: Path, monkeypatch):
    from claude_code_helpers import DATASET

    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("COOPERBENCH_", "ANTHROPIC_"))}
    env["COOPERBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    cli = str(Path(sys.executable).with_name("cooperbench"))
    proc = subprocess.run(
        [cli, "run", "--agent", "claude_code", "--dataset-dir", str(DATASET), "-r", "textkit_task", "-t", "1",
         "-f", "1,3", "--log-dir", str(tmp_path / "logs"), "-n", "nokey"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "ANTHROPIC_API_KEY" in proc.stdout + proc.stderr
    assert not list(tmp_path.rglob("result.json"))  # stopped before any pair ran
    listed = subprocess.run([cli, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=60)
    rows = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
    assert rows[("agent", "claude_code")]["distribution"] == "cooperbench-agent-claude-code"
    assert rows[("agent", "claude_code")]["status"] == "ok"
