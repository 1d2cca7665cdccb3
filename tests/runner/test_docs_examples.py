"""The custom-agents documentation's examples run through `cooperbench run` unchanged (but for the Environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cooperbench.testing.llm_server import LLMTestServer, text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).resolve().parent / "docs_examples"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cooperbench", "run", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES), **env},
    )


def test_minimal_agent_example_produces_its_result(tmp_path):
    proc = run_cli(
        "-n",
        "docs",
        "--agent",
        "simple_agent",
        "--dataset-dir",
        str(ROOT / "examples" / "dataset"),
        "--log-dir",
        str(tmp_path),
        "-r",
        "textkit_task",
        "-t",
        "1",
        "-f",
        "1,2",
        "--no-auto-eval",
        env={"COOPERBENCH_EXTERNAL_AGENTS": " simple_agent "},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "docs" / "coop" / "textkit_task" / "1" / "f1_f2" / "result.json").read_text())
    assert result["agents"]["agent1"]["status"] == "Submitted"
    # `git diff <base>` shows no untracked file, exactly as the documented example behaves
    assert result["agents"]["agent1"]["patch_bytes"] == 0


def test_llm_agent_example_talks_to_an_openai_compatible_server(tmp_path):
    # gpt-4o (the example's default) has a LiteLLM price; the example adds response_cost unguarded.
    with LLMTestServer([text("Looking at the task. DONE")] * 4) as server:
        proc = run_cli(
            "-n",
            "llm",
            "--agent",
            "llm_agent",
            "-m",
            "gpt-4o",
            "--dataset-dir",
            str(ROOT / "examples" / "dataset"),
            "--log-dir",
            str(tmp_path),
            "-r",
            "textkit_task",
            "-t",
            "1",
            "-f",
            "1,2",
            "--no-auto-eval",
            "--setting",
            "solo",
            env={
                "COOPERBENCH_EXTERNAL_AGENTS": "llm_agent",
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_BASE": server.base_url,
                "OPENAI_API_KEY": "test-key",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            },
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert len(server.requests) == 1
        assert "Feature 1" in server.requests[0].text_of("user")[0]
    pdir = tmp_path / "llm" / "solo" / "textkit_task" / "1" / "f1_f2"
    result = json.loads((pdir / "result.json").read_text())
    assert result["outcome"] == "pending_eval"
    assert result["agents"]["solo"]["steps"] == 1
    assert result["agents"]["solo"]["cost"] > 0  # LiteLLM priced the server's usage at gpt-4o's rates
    traj = json.loads((pdir / "solo_traj.json").read_text())
    assert traj[-1] == {"role": "assistant", "content": "Looking at the task. DONE"}


def test_config_example_reads_the_backend_as_a_name(tmp_path):
    # custom-agents.md's YAML says `backend: modal`; an agent indexing a dict of Environments by
    # config["backend"] must get that name (a string), whether the file gives a name or a section.
    config = tmp_path / "my_agent.yaml"
    config.write_text("backend:\n  name: local\n  pids: 2048\nagent:\n  max_iterations: 7\n  temperature: 0.5\n")
    proc = run_cli(
        "-n", "cfg", "--agent", "config_agent", "--agent-config", str(config),
        "--dataset-dir", str(ROOT / "examples" / "dataset"), "--log-dir", str(tmp_path),
        "-r", "textkit_task", "-t", "1", "-f", "1,2", "--no-auto-eval", "--no-messaging",
        env={"COOPERBENCH_EXTERNAL_AGENTS": "config_agent"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pdir = tmp_path / "cfg" / "coop" / "textkit_task" / "1" / "f1_f2"
    result = json.loads((pdir / "result.json").read_text())
    assert [a["status"] for a in result["agents"].values()] == ["Submitted", "Submitted"], result
    seen = json.loads((pdir / "agent1_traj.json").read_text())
    assert seen == [{"backend": "local", "max_iterations": 7, "temperature": 0.5, "backend_options": {"pids": 2048}}]
