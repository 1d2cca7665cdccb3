"""A misbehaving LLM provider through ``cooperbench run``: rate limits are retried, outages are infra errors.

Only the failing pair's agents get the failing script (routed by their feature's title), and
the run goes on with the other pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from e2e_helpers import (
    DATASET,
    MODEL,
    NO_REDIS,
    PROBE_ANSWER,
    answered,
    apply_command,
    cli_env,
    cooperbench_run,
    expected_bill,
    feature_title,
    gold_patch,
    load,
    pair_path,
    write_agent_config,
)

from cooperbench.testing.llm_server import (
    LLMTestServer,
    RecordedRequest,
    Reply,
    ScriptItem,
    Usage,
    bash,
    forever,
    garbage,
    rate_limited,
    route_by_marker,
    server_error,
    text,
)

SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
USAGE = Usage(prompt_tokens=500, completion_tokens=25)
RETRIES = {"num_retries": 3, "retry_min_wait": 0.01, "retry_max_wait": 0.2}


def gold_script(repo: str, task_id: int, feature: int) -> list[ScriptItem]:
    return [bash(apply_command(gold_patch(repo, task_id, feature))), SUBMIT]


def test_rate_limits_are_retried_logged_and_the_pair_passes(tmp_path: Path, cache_dir: Path) -> None:
    script: dict[str, list[ScriptItem]] = {
        "agent1": [rate_limited(retry_after=0.05), rate_limited(retry_after=0.05), *gold_script("textkit_task", 1, 1)],
        "agent2": gold_script("textkit_task", 1, 3),
    }
    logs = tmp_path / "logs"
    with LLMTestServer(script, usage=USAGE, fallback=text(PROBE_ANSWER)) as server:
        config = write_agent_config(tmp_path / "agent.yaml", server, agent={"step_limit": 6}, **RETRIES)
        proc = cooperbench_run(
            ["-n", "ratelimited", "--agent", "mini_swe_agent", "-m", MODEL, "--agent-config", str(config),
             "--dataset-dir", str(DATASET), "--log-dir", str(logs), "-r", "textkit_task", "-t", "1", "-f", "1,3",
             "--redis", NO_REDIS],
            env=cli_env(cache_dir, tmp_path),
            cwd=tmp_path,
        )  # fmt: skip
        tries = len(server.requests_for("agent1"))
        calls = answered(server, "agent1", script["agent1"])
    assert proc.returncode == 0, proc.stdout + proc.stderr

    pdir = pair_path(logs, "ratelimited", "coop", "textkit_task", 1, (1, 3))
    assert load(pdir / "eval.json")["outcome"] == "pass"
    record = load(pdir / "result.json")["agents"]["agent1"]
    assert record["status"] == "Submitted" and record["error"] is None
    assert tries == 4 and calls == record["steps"] == 2
    assert record["cost"] == pytest.approx(expected_bill(calls, USAGE)["cost"])  # refused calls cost nothing
    log = (pdir / "agent1.log").read_text()
    assert log.count("model call failed") == 2 and "RateLimitError" in log
    assert "attempt 1/4" in log and "attempt 2/4" in log
    assert "model call failed" not in (pdir / "agent2.log").read_text()


FAILING = ("minicalc_task", 2)  # sorted before textkit_task: with -c 1 it runs first
WORKING = ("textkit_task", 1)


def routed_by_pair(failing_titles: Sequence[str]):
    """Route the failing pair's agents (their feature's title is in the prompt) to ``failing:<agent>``.

    Every other agent goes to ``working:<agent>``; the preflight probe (no agent named) to the fallback.
    """

    def router(request: RecordedRequest, routes: Sequence[str]) -> str | None:
        agent = route_by_marker(request, ["agent1", "agent2"])
        if agent is None:
            return None
        prompt = "\n".join([*request.text_of("system"), *request.text_of("user")[:1]])
        return f"{'failing' if any(t in prompt for t in failing_titles) else 'working'}:{agent}"

    return router


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (server_error(500, "the provider is on fire (scripted)"), "the provider is on fire"),
        (garbage(), "Expecting value"),  # the JSON error that the broken body caused
    ],
    ids=["server_error_500", "garbage_body"],
)
def test_provider_outage_on_one_pair_is_recorded_and_the_run_goes_on(
    tmp_path: Path, cache_dir: Path, failure: Reply, reason: str
) -> None:
    script: dict[str, list[ScriptItem]] = {
        "failing:agent1": [forever(failure)],
        "failing:agent2": [forever(failure)],
        "working:agent1": gold_script(*WORKING, 1),
        "working:agent2": gold_script(*WORKING, 3),
    }
    titles = [feature_title(*FAILING, f) for f in (1, 3)]
    logs = tmp_path / "logs"
    router = routed_by_pair(titles)
    with LLMTestServer(script, router=router, usage=USAGE, fallback=text(PROBE_ANSWER)) as server:
        config = write_agent_config(tmp_path / "agent.yaml", server, agent={"step_limit": 6}, **RETRIES)
        proc = cooperbench_run(
            ["-n", "outage", "--agent", "mini_swe_agent", "-m", MODEL, "--agent-config", str(config),
             "--dataset-dir", str(DATASET), "--log-dir", str(logs), "-f", "1,3", "-c", "1", "--redis", NO_REDIS],
            env=cli_env(cache_dir, tmp_path),
            cwd=tmp_path,
        )  # fmt: skip
        failing_tries = [len(server.requests_for(f"failing:{a}")) for a in ("agent1", "agent2")]
    output = proc.stdout + proc.stderr

    failed = pair_path(logs, "outage", "coop", *FAILING, (1, 3))
    result = load(failed / "result.json")
    assert result["outcome"] == "infra_error", result
    assert "LLM provider failure after 4 attempts" in result["error"] and reason in result["error"], result["error"]
    for agent_id in ("agent1", "agent2"):
        record = result["agents"][agent_id]
        assert record["error_kind"] == "infra_error" and reason in record["error"], record
        assert record["cost"] == 0 and record["steps"] == 0
        assert "failed after 4 attempts" in (failed / f"{agent_id}.log").read_text()
    assert failing_tries == [4, 4]  # the first try and 3 retries, per agent
    assert not (failed / "eval.json").exists()  # nothing to evaluate

    # the run went on: the other pair ran after it and passed
    other = pair_path(logs, "outage", "coop", *WORKING, (1, 3))
    assert load(other / "eval.json")["outcome"] == "pass", output
    assert load(other / "result.json")["started_at"] >= result["finished_at"]
    summary = load(logs / "outage" / "summary.json")
    assert summary["outcomes"] == {"infra_error": 1, "pass": 1}
    assert summary["pass_rate_excluding_infra"]["pass_rate"] == 1.0
    assert "infra_error" in output
