"""``cooperbench run --agent openhands`` through the real CLI (a subprocess), its model the scripted server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cooperbench.testing.llm_server import LLMTestServer, Usage, tool_call

USAGE = Usage(prompt_tokens=200, completion_tokens=40)


def _cooperbench() -> str:
    return str(Path(sys.executable).with_name("cooperbench"))


def test_cli_coop_run_writes_patches_costs_and_trajectories(tmp_path: Path, dataset_dir: Path, pricing: Any):
    script = {
        "agent1": [
            tool_call(
                "file_editor",
                {
                    "command": "str_replace",
                    "path": "/workspace/repo/textkit/case.py",
                    "old_str": '    return "_".join(_words(text))',
                    "new_str": '    return "_".join(_words(text))\n\n\ndef kebab_case(text):\n'
                    '    return "-".join(_words(text))',
                },
            ),
            tool_call("finish", {"message": "kebab_case added"}),
        ],
        "agent2": [
            tool_call("terminal", {"command": "sed -i 's/URL slugs./URL slugs and titles./' textkit/slug.py"}),
            tool_call("finish", {"message": "done"}),
        ],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("COOPERBENCH_")}
    env["COOPERBENCH_CACHE_DIR"] = str(tmp_path / "cache")
    env["COOPERBENCH_CONFIG"] = str(tmp_path / "defaults.yaml")  # none of the user's defaults
    (tmp_path / "defaults.yaml").write_text("{}\n")
    with LLMTestServer(script, usage=USAGE) as server:
        config = tmp_path / "openhands.yaml"
        config.write_text(
            "model:\n"
            f"  api_base: {server.base_url}\n"
            "  api_key: test-key\n"
            f"  input_cost_per_token: {pricing.input}\n"
            f"  output_cost_per_token: {pricing.output}\n"
            "agent:\n"
            "  max_iterations: 10\n"
        )
        proc = subprocess.run(
            [
                _cooperbench(), "run", "--agent", "openhands", "-m", "openai/test-model",
                "--agent-config", str(config), "--dataset-dir", str(dataset_dir), "-r", "textkit_task", "-t", "1",
                "-f", "1,2", "--no-auto-eval", "--redis", "redis://127.0.0.1:1", "-n", "oh-cli",
                "--log-dir", str(tmp_path / "logs"),
            ],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert {r.route for r in server.chat_requests} == {"agent1", "agent2"}

    pair = tmp_path / "logs" / "oh-cli" / "coop" / "textkit_task" / "1" / "f1_f2"
    result = json.loads((pair / "result.json").read_text())
    one_step = pricing.cost(USAGE, calls=1)
    for agent_id in ("agent1", "agent2"):
        record = result["agents"][agent_id]
        assert record["status"] == "Submitted", record
        assert record["error_kind"] is None
        assert record["steps"] == 2
        assert record["cost"] == pytest.approx(2 * one_step)
        assert (record["input_tokens"], record["output_tokens"]) == (
            2 * USAGE.prompt_tokens,
            2 * USAGE.completion_tokens,
        )
        traj = json.loads((pair / f"{agent_id}_traj.json").read_text())
        assert traj["trajectory_format"] == "cooperbench-openhands-1" and traj["info"]["agent_id"] == agent_id
        log = (pair / f"{agent_id}.log").read_text()
        assert "Finish with message" in log and f"cooperbench: {agent_id} finished" in log
    assert result["totals"]["cost"] == pytest.approx(4 * one_step)
    assert "+def kebab_case(text):" in (pair / "agent1.patch").read_text()
    assert '+"""URL slugs and titles."""' in (pair / "agent2.patch").read_text()
    ledger = json.loads((pair / "conversation.json").read_text())
    assert [e for e in ledger if e["kind"] == "message"] == []  # only the harness's notices of who finished
