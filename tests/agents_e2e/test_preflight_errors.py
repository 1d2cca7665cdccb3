"""A missing API key or an unknown model stops ``cooperbench run`` before any sandbox starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import DATASET, MODEL, cli_env, cooperbench_run

from cooperbench.testing.llm_server import LLMTestServer

AGENTS = ["mini_swe_agent", "openhands"]


def run_expecting_refusal(
    tmp_path: Path, agent: str, model: str, *, api_key: str | None
) -> tuple[str, LLMTestServer, Path, Path]:
    """Run one pair with ``agent`` and ``model`` against an LLM test server; return the output, server, logs, cache."""
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    with LLMTestServer() as server:
        config = tmp_path / "agent.yaml"
        config.write_text(f"model:\n  api_base: {server.base_url}\n" + (f"  api_key: {api_key}\n" if api_key else ""))
        proc = cooperbench_run(
            ["-n", "refused", "--agent", agent, "-m", model, "--agent-config", str(config),
             "--dataset-dir", str(DATASET), "--log-dir", str(logs), "-r", "textkit_task", "-t", "1", "-f", "1,3"],
            env=cli_env(cache, tmp_path),  # no *_API_KEY variable in it
            cwd=tmp_path,
            timeout=120,
        )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output, output
    return output, server, logs, cache


def assert_nothing_started(server: LLMTestServer, logs: Path, cache: Path) -> None:
    assert server.requests == []  # not even a probe: the problem is known without asking the provider
    assert list(logs.rglob("result.json")) == []
    assert not (logs / "refused" / "coop").exists()  # no pair folder
    for kind in ("runs", "templates"):  # no run directory of the local backend, no workspace being built
        folder = cache / kind
        assert not folder.exists() or list(folder.iterdir()) == [], sorted(folder.iterdir())


@pytest.mark.parametrize("agent", AGENTS)
def test_missing_api_key_names_the_variable_before_any_sandbox(tmp_path: Path, agent: str) -> None:
    output, server, logs, cache = run_expecting_refusal(tmp_path, agent, MODEL, api_key=None)
    assert "OPENAI_API_KEY" in output and "api_key" in output, output
    assert MODEL in output
    assert_nothing_started(server, logs, cache)


@pytest.mark.parametrize("agent", AGENTS)
def test_unknown_model_is_named_before_any_sandbox(tmp_path: Path, agent: str) -> None:
    output, server, logs, cache = run_expecting_refusal(tmp_path, agent, "not-a-provider/whatever", api_key="test")
    assert "not-a-provider/whatever" in output, output
    assert_nothing_started(server, logs, cache)
