"""Provider failures seen through the real CLI: 5xx that never ends and requests that time out are infra errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from claude_code_helpers import USAGE
from cooperbench_agent_claude_code.runner import ClaudeCodeRunner

from cooperbench.backends._context import bind_run
from cooperbench.errors import InfraError
from cooperbench.testing.llm_server import LLMTestServer, Reply, forever, server_error


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (forever(server_error(500)), "status 500"),
        (forever(Reply(content="late", delay=4)), "the model provider failed"),
    ],
    ids=["500-forever", "timeout"],
)
def test_provider_that_keeps_failing_is_an_infra_error_after_bounded_retries(
    local_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_key: str, reply: Reply, said: str
):
    task, run = local_run
    monkeypatch.setenv("ANTHROPIC_API_KEY", api_key)
    with LLMTestServer([reply], usage=USAGE, api_key=api_key) as server:
        config = {"model": {"base_url": server.url, "max_retries": 1, "request_timeout": 1}, "agent": {"timeout": 120}}
        started = time.monotonic()
        with bind_run(run), pytest.raises(InfraError, match=said) as raised:
            ClaudeCodeRunner().run(
                "Add kebab_case.", task.image_name(), agent_id="solo", config=config, log_dir=str(tmp_path)
            )
        asked = len(server.requests)
    assert asked == 2  # the first try and the one retry model.max_retries allows
    assert time.monotonic() - started < 100
    assert "claude_code solo" in str(raised.value)
    partial = raised.value.partial_result  # what the harness records for the attempt
    assert partial.status == "Error" and partial.patch == "" and partial.cost == 0 and partial.error
    log = (tmp_path / "solo.log").read_text()
    assert "infrastructure failure" in log and api_key not in log
    assert (tmp_path / "solo_traj.json").exists()
