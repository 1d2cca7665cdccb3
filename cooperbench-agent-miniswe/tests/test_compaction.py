"""Context compaction past a token threshold, and when the provider says the context is full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cooperbench_agent_miniswe.compaction import ELIDED_NOTE, compaction_window
from cooperbench_agent_miniswe.runner import MiniSweAgentRunner
from miniswe_helpers import INPUT_PRICE, MODEL, OUTPUT_PRICE, agent_config

from cooperbench.agents import AgentResult
from cooperbench.testing.llm_server import LLMTestServer, RecordedRequest, Usage, bash, error, text

pytestmark = pytest.mark.usefixtures("active_run")

SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
BIG = Usage(prompt_tokens=5000, completion_tokens=20)


def run(server: LLMTestServer, image: str, log_dir: Path, **agent: object) -> AgentResult:
    config = agent_config(server, agent={"compaction_threshold": 4000, "compaction_keep_recent": 2, **agent})
    return MiniSweAgentRunner().run(
        "task", image, agent_id="solo", model_name=MODEL, config=config, log_dir=str(log_dir)
    )


def tool_contents(request: RecordedRequest) -> list[str]:
    return [m["content"] for m in request.messages if m.get("role") == "tool"]


def test_summarize_replaces_older_turns_with_one_model_written_summary(task_image: str, log_dir: Path) -> None:
    script = [bash("echo one"), bash("echo two", usage=BIG), text("I ran echo one."), bash("echo three"), SUBMIT]
    with LLMTestServer(script) as server:
        result = run(server, task_image, log_dir)
    assert result.status == "Submitted"
    assert result.steps == 5  # the summary call is a step
    assert result.cost == pytest.approx(
        4 * (100 * INPUT_PRICE + 20 * OUTPUT_PRICE) + 5000 * INPUT_PRICE + 20 * OUTPUT_PRICE
    )
    summary_request = server.chat_requests[2]
    assert "tools" not in summary_request.body
    assert "compacting the working memory" in summary_request.text_of("system")[0]
    assert "$ echo one" in summary_request.text_of("user")[0]
    after = server.chat_requests[3]
    assert any(t.startswith("[Summary of your earlier work") and "I ran echo one." in t for t in after.text_of("user"))
    assert not any("one\n" in c for c in tool_contents(after))  # the old output is gone...
    assert any("two" in c for c in tool_contents(after))  # ...the recent one stays
    traj = json.loads((log_dir / "solo_traj.json").read_text())
    assert traj["info"]["cooperbench"]["compactions"] == 1
    summary = next(m for m in traj["messages"] if m.get("extra", {}).get("interrupt_type") == "compaction")
    assert len(summary["extra"]["compacted_messages"]) == 2  # nothing is lost from the trajectory
    assert "compaction" in (log_dir / "solo.log").read_text()


def test_truncate_elides_old_outputs_without_a_model_call(task_image: str, log_dir: Path) -> None:
    script = [bash("echo one"), bash("echo two", usage=BIG), bash("echo three"), SUBMIT]
    with LLMTestServer(script) as server:
        result = run(server, task_image, log_dir, compaction="truncate")
    assert result.status == "Submitted"
    assert result.steps == 4
    contents = tool_contents(server.chat_requests[2])
    assert contents[0] == ELIDED_NOTE and "two" in contents[1]


def test_context_window_exceeded_compacts_and_retries(task_image: str, log_dir: Path) -> None:
    too_long = error(
        400,
        "This model's maximum context length is 8192 tokens.",
        type="invalid_request_error",
        code="context_length_exceeded",
    )
    script = [bash("echo one"), bash("echo two"), too_long, text("summary"), bash("echo three"), SUBMIT]
    with LLMTestServer(script) as server:
        result = run(server, task_image, log_dir, compaction_threshold=10**9)
    assert result.status == "Submitted", result.error
    assert result.steps == 5
    assert "context window was exceeded" in (log_dir / "solo.log").read_text()


def test_compaction_off_lets_a_full_context_end_the_run_as_an_error(task_image: str, log_dir: Path) -> None:
    too_long = error(
        400,
        "This model's maximum context length is 8192 tokens.",
        type="invalid_request_error",
        code="context_length_exceeded",
    )
    with LLMTestServer([bash("echo one"), too_long]) as server:
        result = run(server, task_image, log_dir, compaction="off")
    assert result.status == "Error"
    assert "ContextWindowExceededError" in (result.error or "")


def test_window_never_separates_a_tool_result_from_its_call() -> None:
    messages = [
        {"role": "system"},
        {"role": "user"},
        {"role": "assistant"},
        {"role": "tool"},
        {"role": "assistant"},
        {"role": "tool"},
        {"role": "tool"},
    ]
    assert compaction_window(messages, keep_recent=2) == (2, 4)
    assert compaction_window(messages, keep_recent=1) == (2, 4)
    assert compaction_window(messages[:4], keep_recent=1) == (2, 2)
