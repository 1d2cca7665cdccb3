"""``cooperbench run --agent codex`` on the local backend: the real Codex CLI inside bubblewrap, its model the
scripted test server (Responses API) behind the harness's model relay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from codex_helpers import check_coop_and_solo
from cooperbench_agent_codex.runner import CodexRunner

from cooperbench.backends._context import bind_run
from cooperbench.errors import InfraError
from cooperbench.testing.llm_server import LLMTestServer, Reply, forever, garbage, rate_limited, server_error
from cooperbench.testing.responses_api import responses_requests, shell, teammate_script


def test_codex_coop_and_solo_on_local(tmp_path: Path, dataset_dir: Path, gold: dict[int, str], secret_key: str):
    check_coop_and_solo(tmp_path, dataset_dir, gold, secret_key, backend="local")


def test_provider_failures_429_retried_500_and_timeouts_are_infra_errors(
    local_run: Any, gold: dict[int, str], secret_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    active, task = local_run
    monkeypatch.setenv("OPENAI_API_KEY", secret_key)
    finish = teammate_script(partner=None, patch=gold[1])
    cases: dict[str, tuple[list[Any], dict[str, Any]]] = {
        "rate-limited": ([rate_limited(retry_after=0), *finish], {}),
        "down": ([forever(server_error())], {}),
        "silent": ([forever(Reply(content="never", delay=20))], {}),
        "garbage": ([forever(garbage(b"data: {not json\n\n"))], {}),
        "step-limit": ([*finish[:-1], shell("true"), *finish[-1:]], {"max_steps": 1}),
    }
    outcomes: dict[str, Any] = {}
    for name, (script, agent) in cases.items():
        with LLMTestServer(script) as server, bind_run(active):
            config = {
                "model": {"base_url": server.base_url, "request_max_retries": 1, "stream_max_retries": 0,
                          "stream_idle_timeout": 2},
                "agent": {"timeout": 120, **agent},
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
    limited = outcomes["step-limit"]  # the relay refused the second model request
    assert (limited.status, limited.steps, outcomes["step-limit:requests"]) == ("LimitsExceeded", 1, 1), limited
    assert "+def kebab_case" in limited.patch  # the work done before the limit is kept


def test_without_the_relay_codex_calls_the_endpoint_itself_and_the_key_stays_out_of_the_logs(
    tmp_path: Path, gold: dict[int, str], secret_key: str, monkeypatch: pytest.MonkeyPatch
):
    from cooperbench.backends import get_backend
    from cooperbench.backends._context import ActiveRun
    from cooperbench.backends.base import RunLabels
    from cooperbench.dataset import load_task

    task = load_task(Path(__file__).resolve().parents[3] / "examples" / "dataset" / "textkit_task" / "task1")
    assert task is not None
    # The host's network, so the sandbox reaches the server on this machine's loopback by itself.
    with pytest.warns(UserWarning, match="shares the host's network"):
        backend = get_backend("local", cache_dir=str(tmp_path / "cache"), network="host")
    active = ActiveRun(
        backend=backend, labels=RunLabels("codex-direct"), images={task.image_name(): backend.resolve_image(task)}
    )
    monkeypatch.setenv("CODEX_TEST_KEY", secret_key)
    # Without the relay the agent's commands can read the key (Codex's environment); the logs must not hold it.
    script = teammate_script(partner=None, patch=gold[1], before=['echo "key:${CODEX_TEST_KEY:-absent}"'])
    try:
        with LLMTestServer(script, api_key=secret_key) as server, bind_run(active):
            config = {"model": {"base_url": server.base_url, "relay": False, "api_key_env": "CODEX_TEST_KEY"}}
            result = CodexRunner().run(
                "Add kebab_case.", task.image_name(), agent_id="solo", model_name="openai/gpt-5",
                config=config, log_dir=str(tmp_path / "logs"),
            )  # fmt: skip
            assert len(responses_requests(server)) == len(script)  # each one authorized with the key
    finally:
        backend.cleanup(run_name="codex-direct")
    assert result.status == "Submitted" and "+def kebab_case" in result.patch
    events = json.loads((tmp_path / "logs" / "solo_traj.json").read_text())["events"]
    outputs = [e["item"].get("aggregated_output", "") for e in events if e.get("type") == "item.completed"]
    assert any("key:***" in o for o in outputs)  # printed by the agent, scrubbed from what the harness writes
    leaks = [p for p in (tmp_path / "logs").rglob("*") if p.is_file() and secret_key.encode() in p.read_bytes()]
    assert leaks == []
