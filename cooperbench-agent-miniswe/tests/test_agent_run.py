"""The agent end to end: real LiteLLM client, LLM test server, real ``local`` sandboxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cooperbench_agent_miniswe.runner import MiniSweAgentRunner
from miniswe_helpers import INPUT_PRICE, MODEL, OUTPUT_PRICE, agent_config

from cooperbench.agents import AgentResult
from cooperbench.errors import InfraError
from cooperbench.testing.llm_server import LLMTestServer, Usage, bash, forever, rate_limited, server_error, text

pytestmark = pytest.mark.usefixtures("active_run")

SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
EDIT = bash(
    "cat >> minicalc/__init__.py <<'EOF'\n\ndef double(x):\n    return 2 * x\nEOF\necho 'new file' > NOTES.txt",
    content="I will add double() and a notes file.",
)


def run_solo(server: LLMTestServer, image: str, log_dir: Path, **sections: dict) -> AgentResult:
    return MiniSweAgentRunner().run(
        "Add a double() function.",
        image,
        agent_id="solo",
        model_name=MODEL,
        agents=["solo"],
        config=agent_config(server, **sections),
        log_dir=str(log_dir),
    )


def test_scripted_run_edits_submits_and_returns_the_working_tree_patch(task_image: str, log_dir: Path) -> None:
    script = [bash("ls"), EDIT, SUBMIT]
    with LLMTestServer(script, usage=Usage(prompt_tokens=1000, completion_tokens=50, cached_tokens=400)) as server:
        result = run_solo(server, task_image, log_dir)
    assert result.status == "Submitted", result.error
    assert result.error is None
    assert "+def double(x):" in result.patch and "minicalc/__init__.py" in result.patch
    assert "b/NOTES.txt" in result.patch and "+new file" in result.patch  # untracked files count
    assert result.steps == 3
    assert (result.input_tokens, result.output_tokens, result.cache_read_tokens) == (3000, 150, 1200)
    assert result.cost == pytest.approx(3 * (1000 * INPUT_PRICE + 50 * OUTPUT_PRICE))

    first, second, _ = server.chat_requests
    assert first.text_of("system")[0].startswith("You are solo")
    assert "Add a double() function." in first.text_of("user")[0]
    assert first.body["tools"][0]["function"]["name"] == "bash"
    assert "_skip_mcp_handler" not in first.body  # LiteLLM-internal switch never reaches the provider
    tool_results = [m for m in second.messages if m.get("role") == "tool"]
    assert "minicalc" in tool_results[0]["content"]  # the output of `ls` in the sandbox

    traj = json.loads((log_dir / "solo_traj.json").read_text())
    assert traj["info"]["exit_status"] == "Submitted"
    assert traj["info"]["cooperbench"]["status"] == "Submitted"
    assert traj["info"]["cooperbench"]["input_tokens"] == 3000
    assert traj["info"]["config"]["model"]["model_kwargs"]["api_key"] == "***"
    log = (log_dir / "solo.log").read_text()
    assert "$ ls" in log and "model call 3" in log and "finished: status Submitted" in log


def test_patch_comes_from_the_sandbox_not_from_the_models_words(task_image: str, log_dir: Path) -> None:
    script = [
        bash("git add -A && git -c user.email=a@b -c user.name=a commit -qm wip", content="nothing yet"),
        bash(
            "echo 'x = 1' > committed.py && git add committed.py && git -c user.email=a@b -c user.name=a commit -qm c"
        ),
        bash("echo 'y = 2' > staged.py && git add staged.py && echo 'z = 3' > untracked.py"),
        bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && echo 'diff --git a/fake b/fake'"),
    ]
    with LLMTestServer(script) as server:
        result = run_solo(server, task_image, log_dir)
    assert result.status == "Submitted"
    for name in ("committed.py", "staged.py", "untracked.py"):
        assert f"b/{name}" in result.patch
    assert "fake" not in result.patch


def test_rate_limits_are_retried_and_logged(task_image: str, log_dir: Path) -> None:
    script = [rate_limited(retry_after=0.05), rate_limited(retry_after=0.05), EDIT, SUBMIT]
    with LLMTestServer(script) as server:
        result = run_solo(server, task_image, log_dir)
    assert result.status == "Submitted"
    assert result.steps == 2
    assert len(server.chat_requests) == 4
    log = (log_dir / "solo.log").read_text()
    assert log.count("model call failed") == 2 and "RateLimitError" in log
    assert "attempt 1/4" in log and "attempt 2/4" in log and "retrying in 0.05s" in log


def test_provider_outage_after_retries_raises_infra_error(task_image: str, log_dir: Path) -> None:
    with LLMTestServer([forever(server_error(500, "the provider is on fire"))]) as server:
        with pytest.raises(InfraError, match=r"after 4 attempts.*the provider is on fire"):
            run_solo(server, task_image, log_dir)
        assert len(server.chat_requests) == 4
    assert "failed after 4 attempts" in (log_dir / "solo.log").read_text()
    assert json.loads((log_dir / "solo_traj.json").read_text())["info"]["exit_status"] == "InfraError"


def test_garbage_response_is_retried(task_image: str, log_dir: Path) -> None:
    from cooperbench.testing.llm_server import garbage

    with LLMTestServer([garbage(), EDIT, SUBMIT]) as server:
        result = run_solo(server, task_image, log_dir)
    assert result.status == "Submitted"
    assert "InternalServerError" in (log_dir / "solo.log").read_text()


def test_malformed_model_output_ends_in_error_status(task_image: str, log_dir: Path) -> None:
    script = [text("I think I should look around."), text("Still thinking."), text("Hmm.")]
    with LLMTestServer(script) as server:
        result = run_solo(server, task_image, log_dir, agent={"max_consecutive_format_errors": 3})
    assert result.status == "Error"
    assert "malformed 3 times" in (result.error or "")
    assert result.steps == 3
    assert result.cost == pytest.approx(3 * (100 * INPUT_PRICE + 20 * OUTPUT_PRICE))  # unusable answers are billed
    retry_hint = [m for m in server.chat_requests[1].messages if m.get("role") == "user"][-1]
    assert "Call the `bash` tool" in retry_hint["content"]


def test_step_limit_ends_the_run_with_its_work_kept(task_image: str, log_dir: Path) -> None:
    with LLMTestServer([EDIT, forever(bash("ls"))]) as server:
        result = run_solo(server, task_image, log_dir, agent={"max_iterations": 3})
    assert result.status == "LimitsExceeded"
    assert result.steps == 3
    assert "+def double(x):" in result.patch


def test_text_action_format(task_image: str, log_dir: Path) -> None:
    script = [
        text("Let me add it.\n\n```mswea_bash_command\necho 'a = 1' > a.py\n```"),
        text("```mswea_bash_command\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```"),
    ]
    with LLMTestServer(script) as server:
        result = run_solo(server, task_image, log_dir, agent={"action_format": "text"})
    assert result.status == "Submitted"
    assert "b/a.py" in result.patch
    assert "tools" not in server.chat_requests[0].body
    assert "mswea_bash_command" in server.chat_requests[0].text_of("system")[0]


def test_environment_section_reaches_commands_and_custom_prompt_is_used(task_image: str, log_dir: Path) -> None:
    script = [bash('echo "flag=$MY_FLAG" > flag.txt'), SUBMIT]
    with LLMTestServer(script) as server:
        result = run_solo(
            server,
            task_image,
            log_dir,
            environment={"MY_FLAG": 42},
            agent={"system_prompt": "You are {{ agent_id }}, terse.", "temperature": 0.3},
            model={"max_tokens": 123},
        )
    assert "+flag=42" in result.patch
    first = server.chat_requests[0]
    assert first.text_of("system") == ["You are solo, terse."]
    assert first.body["temperature"] == 0.3 and first.body["max_tokens"] == 123


def test_unpriced_model_costs_zero_with_one_warning(task_image: str, log_dir: Path) -> None:
    from cooperbench_agent_miniswe.llm import UnpricedModelWarning

    with LLMTestServer([bash("ls"), EDIT, SUBMIT]) as server:
        config = agent_config(server)
        del config["model"]["input_cost_per_token"], config["model"]["output_cost_per_token"]
        with pytest.warns(UnpricedModelWarning) as caught:
            result = MiniSweAgentRunner().run(
                "task",
                task_image,
                agent_id="solo",
                model_name="openai/unpriced-model-1",
                config=config,
                log_dir=str(log_dir),
            )
    assert result.status == "Submitted"
    assert result.cost == 0.0
    assert len([w for w in caught if issubclass(w.category, UnpricedModelWarning)]) == 1
    assert (log_dir / "solo.log").read_text().count("has no price") == 1
