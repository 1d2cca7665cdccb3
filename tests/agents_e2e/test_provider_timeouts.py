"""A provider that answers too slowly or resets the connection: infra_error after retries, never agent_error (#10.4)."""

from __future__ import annotations

import time
from pathlib import Path

from e2e_helpers import (
    DATASET,
    MODEL,
    NO_REDIS,
    PROBE_ANSWER,
    cli_env,
    cooperbench_run,
    load,
    pair_path,
    write_agent_config,
)

from cooperbench.testing.llm_server import LLMTestServer, ScriptItem, connection_reset, forever, slow, text

RETRIES = {"num_retries": 2, "retry_min_wait": 0.01, "retry_max_wait": 0.05}


def test_request_timeouts_and_connection_resets_are_infra_errors(tmp_path: Path, cache_dir: Path) -> None:
    script: dict[str, list[ScriptItem]] = {
        "agent1": [forever(slow(6))],  # past model.timeout: the client gives up on every try
        "agent2": [forever(connection_reset())],
    }
    logs = tmp_path / "logs"
    args = ["-n", "slow", "--agent", "mini_swe_agent", "-m", MODEL, "--dataset-dir", str(DATASET),
            "--log-dir", str(logs), "-r", "textkit_task", "-t", "1", "-f", "1,3", "--redis", NO_REDIS,
            "--no-auto-eval"]  # fmt: skip
    with LLMTestServer(script, fallback=text(PROBE_ANSWER)) as server:
        config = write_agent_config(tmp_path / "agent.yaml", server, agent={"step_limit": 3}, timeout=1, **RETRIES)
        started = time.monotonic()
        proc = cooperbench_run([*args, "--agent-config", str(config)], env=cli_env(cache_dir, tmp_path), cwd=tmp_path)
        elapsed = time.monotonic() - started
        tries = [len(server.requests_for(a)) for a in ("agent1", "agent2")]
    output = proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout, output

    pdir = pair_path(logs, "slow", "coop", "textkit_task", 1, (1, 3))
    result = load(pdir / "result.json")
    assert result["outcome"] == "infra_error", result
    slow_agent, reset_agent = result["agents"]["agent1"], result["agents"]["agent2"]
    assert slow_agent["error_kind"] == "infra_error" and "Timeout" in slow_agent["error"], slow_agent
    assert reset_agent["error_kind"] == "infra_error" and "Connection error" in reset_agent["error"], reset_agent
    assert "LLM provider failure after 3 attempts" in slow_agent["error"]
    assert tries == [3, 3]  # the first try and 2 retries, per agent
    print(f"elapsed {elapsed:.1f}s")
    assert elapsed < 120  # 1 s per timed-out try, not the server's 6 s
    assert "infra_error" in output
    summary = load(logs / "slow" / "summary.json")
    assert summary["outcomes"] == {"infra_error": 1}
