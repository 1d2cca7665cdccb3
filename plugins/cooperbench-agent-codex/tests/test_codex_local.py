"""``cooperbench run --agent codex`` on the local backend: the real Codex CLI inside bubblewrap, its model the
scripted test server (Responses API) behind the harness's model relay."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
from codex_helpers import cli_env, cooperbench_cli
from cooperbench_agent_codex.runner import CodexRunner

from cooperbench.backends._context import bind_run
from cooperbench.errors import InfraError
from cooperbench.testing.llm_server import LLMTestServer, Reply, Usage, forever, garbage, rate_limited, server_error
from cooperbench.testing.responses_api import responses_requests, teammate_script

USAGE = Usage(prompt_tokens=300, completion_tokens=30, cached_tokens=100)


def _run(tmp_path: Path, dataset_dir: Path, key: str, config: Path, setting: str, *extra: str) -> None:
    proc = subprocess.run(
        [
            cooperbench_cli(), "run", "--agent", "codex", "-m", "openai/gpt-5", "--agent-config", str(config),
            "--dataset-dir", str(dataset_dir), "-r", "textkit_task", "-t", "1", "-f", "1,3", "--setting", setting,
            "--redis", "redis://127.0.0.1:1", "-n", f"codex-{setting}", "--log-dir", str(tmp_path / "logs"), *extra,
        ],
        cwd=tmp_path, env=cli_env(tmp_path, key), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_codex_coop_and_solo_on_local(tmp_path: Path, dataset_dir: Path, gold: dict[int, str], secret_key: str):
    outside = f"/tmp/codex-outside-{secrets.token_hex(6)}.txt"
    probes = [f"echo written-in-sandbox > {outside} && cat {outside}", 'echo "key:${OPENAI_API_KEY:-absent}"']
    script = {
        "agent1": teammate_script(partner="agent2", patch=gold[1], message="agent1: I add kebab_case", before=probes),
        "agent2": teammate_script(partner="agent1", patch=gold[3], message="agent2: I take feature 3"),
        "solo": teammate_script(partner=None, patch=gold[1] + gold[3]),
    }
    with LLMTestServer(script, usage=USAGE) as server:
        config = tmp_path / "codex.yaml"
        config.write_text(
            f"model:\n  base_url: {server.base_url}\n  request_max_retries: 1\n  stream_max_retries: 0\n"
            "agent:\n  timeout: 300\n"
        )
        _run(tmp_path, dataset_dir, secret_key, config, "coop")
        _run(tmp_path, dataset_dir, secret_key, config, "solo")
        requests = responses_requests(server)
    for route in ("agent1", "agent2", "solo"):
        times = [round(r.received_at - requests[0].received_at, 2) for r in requests if r.route == route]
        print(route, times)
    assert {r.route for r in requests} == {"agent1", "agent2", "solo"}
    assert all(r.headers.get("authorization") == f"Bearer {secret_key}" for r in requests)  # added by the relay

    pair = tmp_path / "logs" / "codex-coop" / "coop" / "textkit_task" / "1" / "f1_f3"
    result = json.loads((pair / "result.json").read_text())
    assert json.loads((pair / "eval.json").read_text())["both_passed"] is True
    for agent_id, feature_steps in (("agent1", 6), ("agent2", 4)):
        record = result["agents"][agent_id]
        assert record["status"] == "Submitted" and record["error_kind"] is None, record
        assert record["steps"] == feature_steps  # model requests: one per scripted reply
        assert record["input_tokens"] == feature_steps * USAGE.prompt_tokens
        assert record["cache_read_tokens"] == feature_steps * USAGE.cached_tokens
        assert record["output_tokens"] == feature_steps * USAGE.completion_tokens
        assert record["cost"] > 0
        traj = json.loads((pair / f"{agent_id}_traj.json").read_text())
        assert traj["info"]["codex_version"].startswith("codex-cli")
        assert any(e.get("type") == "turn.completed" for e in traj["events"])
        assert "codex exit status 0" in (pair / f"{agent_id}.log").read_text()
    messages = [(e["from"], e["to"], e["text"]) for e in json.loads((pair / "conversation.json").read_text())
                if e["kind"] == "message"]  # fmt: skip
    assert ("agent1", "agent2", "agent1: I add kebab_case") in messages
    assert ("agent2", "agent1", "agent2: I take feature 3") in messages
    assert "+def kebab_case(text):" in (pair / "agent1.patch").read_text()
    events = json.loads((pair / "agent1_traj.json").read_text())["events"]
    outputs = [e["item"].get("aggregated_output", "") for e in events if e.get("type") == "item.completed"]
    assert any("written-in-sandbox" in o for o in outputs)  # the CLI's shell ran in the sandbox ...
    assert not Path(outside).exists()  # ... not on the host
    assert any("key:absent" in o for o in outputs)  # the agent's commands never see the key

    solo = tmp_path / "logs" / "codex-solo" / "solo" / "textkit_task" / "1" / "f1_f3"
    assert json.loads((solo / "eval.json").read_text())["both_passed"] is True
    for setting in ("coop", "solo"):
        summary = json.loads((tmp_path / "logs" / f"codex-{setting}" / "summary.json").read_text())
        assert summary["outcomes"] == {"pass": 1}, summary
        print(json.dumps({k: v for k, v in summary.items() if "pass" not in k and k != "evaluation"})[:3000])

    leaks = [p for root in (tmp_path / "logs", tmp_path / "cache") for p in root.rglob("*")
             if p.is_file() and secret_key.encode() in p.read_bytes()]  # fmt: skip
    assert leaks == []


def test_provider_failures_429_retried_500_and_timeouts_are_infra_errors(
    local_run: Any, gold: dict[int, str], secret_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    active, task = local_run
    monkeypatch.setenv("OPENAI_API_KEY", secret_key)
    finish = teammate_script(partner=None, patch=gold[1])
    cases = {
        "rate-limited": [rate_limited(retry_after=0), *finish],
        "down": [forever(server_error())],
        "silent": [forever(Reply(content="never", delay=20))],
        "garbage": [forever(garbage(b"data: {not json\n\n"))],
    }
    outcomes: dict[str, Any] = {}
    for name, script in cases.items():
        with LLMTestServer(script) as server, bind_run(active):
            config = {
                "model": {"base_url": server.base_url, "request_max_retries": 1, "stream_max_retries": 0,
                          "stream_idle_timeout": 2},
                "agent": {"timeout": 120},
            }  # fmt: skip
            try:
                outcomes[name] = CodexRunner().run(
                    "Add kebab_case.", task.image_name(), agent_id="solo", model_name="openai/gpt-5",
                    config=config, log_dir=str(tmp_path / name),
                )  # fmt: skip
            except InfraError as exc:
                outcomes[name] = exc
            outcomes[name + ":requests"] = len(responses_requests(server))
    assert outcomes["rate-limited"].status == "Submitted" and "+def kebab_case" in outcomes["rate-limited"].patch
    assert outcomes["rate-limited:requests"] == 1 + len(finish)  # the 429 was retried
    for name in ("down", "silent", "garbage"):
        assert isinstance(outcomes[name], InfraError), (name, outcomes[name])
        assert "model provider failed" in str(outcomes[name])
        assert (tmp_path / name / "solo.log").exists()
    assert outcomes["down:requests"] == 2  # the first try and Codex's one retry (request_max_retries: 1)
    assert outcomes["silent:requests"] == outcomes["garbage:requests"] == 1  # stream_max_retries: 0
