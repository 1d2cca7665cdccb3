"""The ``openhands`` agent end to end: real local sandboxes, the SDK's real LiteLLM client, a scripted model."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cooperbench_agent_openhands.runner import OpenHandsRunner

from cooperbench.agents import AgentResult
from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.dataset import Task
from cooperbench.errors import InfraError
from cooperbench.messaging import Ledger
from cooperbench.testing.llm_server import (
    LLMTestServer,
    RecordedRequest,
    Reply,
    Usage,
    forever,
    server_error,
    text,
    tool_call,
)

MakeConfig = Callable[..., dict[str, Any]]
USAGE = Usage(prompt_tokens=120, completion_tokens=30, cached_tokens=0)
SNAKE_BODY = '    return "_".join(_words(text))'
KEBAB = "\n\n\ndef kebab_case(text):\n    return '-'.join(_words(text))"


def _edit(path: str, old: str, new: str) -> Reply:
    return tool_call("file_editor", {"command": "str_replace", "path": path, "old_str": old, "new_str": new})


def _finish(message: str = "done") -> Reply:
    return tool_call("finish", {"message": message})


def _run(task: Task, config: dict[str, Any], log_dir: Path, **kwargs: Any) -> AgentResult:
    kwargs.setdefault("agent_id", "solo")
    return OpenHandsRunner().run(
        "Add kebab_case to textkit.",
        task.image_name(),
        model_name="openai/test-model",
        config=config,
        log_dir=str(log_dir),
        **kwargs,
    )


def test_solo_edit_becomes_the_patch_with_cost_and_tokens_from_usage(
    bound: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig, pricing: Any
):
    script = [
        tool_call("terminal", {"command": "cd textkit && grep -n 'def ' case.py && export MARK=kept"}),
        tool_call("terminal", {"command": "pwd && echo mark=$MARK"}),
        _edit("/workspace/repo/textkit/case.py", SNAKE_BODY, SNAKE_BODY + KEBAB),
        _finish("kebab_case added"),
    ]
    with LLMTestServer(script, usage=USAGE) as server:
        result = _run(task, agent_config(server.base_url), tmp_path)
        requests = server.chat_requests

    assert result.status == "Submitted", result.error
    assert result.error is None
    assert "+def kebab_case(text):" in result.patch
    assert result.patch.startswith("diff --git a/textkit/case.py b/textkit/case.py")
    assert result.steps == len(requests) == 4
    assert result.input_tokens == 4 * USAGE.prompt_tokens
    assert result.output_tokens == 4 * USAGE.completion_tokens
    assert result.cost == pytest.approx(pricing.cost(USAGE, calls=4))

    # the terminal kept the working directory and the exported variable between commands
    second_observation = requests[2].messages[-1]
    assert "/workspace/repo/textkit" in str(second_observation["content"])
    assert "mark=kept" in str(second_observation["content"])
    # OpenHands' own system prompt, with CooperBench's context after it
    system = requests[0].text_of("system")[0]
    assert "OpenHands" in system and "You are solo" in system
    tools = {t["function"]["name"] for t in requests[0].body["tools"]}
    assert {"terminal", "file_editor", "finish"} <= tools and "send_message" not in tools

    traj = json.loads((tmp_path / "solo_traj.json").read_text())
    assert traj["info"]["status"] == "Submitted" and traj["info"]["steps"] == 4
    assert traj["info"]["cost"] == pytest.approx(result.cost)
    assert any(e.get("kind") == "ActionEvent" for e in traj["events"])
    assert traj["messages"] == result.messages
    log = (tmp_path / "solo.log").read_text()
    assert "kebab_case added" in log and "file_editor" in log


def test_model_answering_with_text_is_told_to_continue_until_it_finishes(
    bound: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig
):
    script = [text("I think I am done."), _finish()]
    with LLMTestServer(script, usage=USAGE) as server:
        result = _run(task, agent_config(server.base_url), tmp_path)
        second = server.chat_requests[1]

    assert result.status == "Submitted"
    assert result.steps == 2
    assert "call the `finish` tool" in second.text_of("user")[-1]
    assert result.patch == ""


def test_step_limit_ends_as_limits_exceeded_and_keeps_the_work(
    bound: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig
):
    script = [
        tool_call("file_editor", {"command": "create", "path": "/workspace/repo/NOTES.md", "file_text": "wip\n"}),
        forever(tool_call("terminal", {"command": "ls"})),
    ]
    with LLMTestServer(script, usage=USAGE) as server:
        result = _run(task, agent_config(server.base_url, agent={"step_limit": 3}), tmp_path)
        calls = len(server.chat_requests)

    assert result.status == "LimitsExceeded"
    assert "3" in (result.error or "")
    assert calls == result.steps == 3
    assert "+++ b/NOTES.md" in result.patch and "+wip" in result.patch


def test_cost_limit_ends_as_limits_exceeded(bound: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig):
    with LLMTestServer([forever(tool_call("terminal", {"command": "ls"}))], usage=USAGE) as server:
        # each call costs 120 * 0.001 + 30 * 0.002 = 0.18 USD: the second one passes 0.3
        result = _run(task, agent_config(server.base_url, agent={"cost_limit": 0.3}), tmp_path)

    assert result.status == "LimitsExceeded"
    assert result.steps == 2
    assert "budget" in (result.error or "").lower()


def test_git_collaboration_gives_the_sandbox_the_team_remote(
    local_run: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig
):
    git_server = local_run.backend.create_git_server(run=local_run.labels)
    script = [
        tool_call(
            "terminal", {"command": "git remote get-url team && git branch --show-current && git ls-remote team"}
        ),
        _finish(),
    ]
    try:
        # As the runner does: the agent's sandboxes mount its pair's repository.
        with (
            bind_run(dataclasses.replace(local_run, mounts=git_server.mounts)),
            LLMTestServer(script, usage=USAGE) as server,
        ):
            result = _run(
                task,
                agent_config(server.base_url),
                tmp_path,
                agent_id="agent1",
                agents=["agent1", "agent2"],
                git_enabled=True,
                git_server_url=git_server.url,
                messaging_enabled=False,
            )
            system, observation = server.chat_requests[0].text_of("system")[0], server.chat_requests[1].messages[-1]
    finally:
        git_server.cleanup()

    assert result.status == "Submitted"
    assert "git remote `team`" in system and "git push team agent1" in system
    assert "send_message" not in {t["function"]["name"] for t in server.chat_requests[0].body["tools"]}
    output = json.dumps(observation["content"])
    assert git_server.url in output and "agent1" in output and "refs/heads/agent1" in output


def test_provider_outage_after_retries_raises_infra_error(
    bound: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig
):
    with LLMTestServer([forever(server_error(503, "overloaded"))]) as server:
        config = agent_config(server.base_url, model={"num_retries": 1, "retry_min_wait": 0, "retry_max_wait": 0})
        with pytest.raises(InfraError, match="LLM provider failed after retries"):
            _run(task, config, tmp_path)
        assert len(server.chat_requests) == 2  # the first try and LiteLLM's one retry

    assert "infrastructure failure" in (tmp_path / "solo.log").read_text()
    assert json.loads((tmp_path / "solo_traj.json").read_text())["info"]["status"] == "Error"


def _held(reply: Reply, until: Callable[[], bool], timeout: float = 60.0) -> Callable[[RecordedRequest], Reply]:
    """A scripted answer the model gives only once ``until()`` holds, to order two agents' steps."""

    def answer(_request: RecordedRequest) -> Reply:
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            time.sleep(0.05)
        return reply

    return answer


def test_coop_agents_message_each_other_through_the_bus(
    local_run: ActiveRun, task: Task, tmp_path: Path, agent_config: MakeConfig
):
    url = f"embedded://oh-coop-{time.monotonic_ns()}"
    results: dict[str, AgentResult | BaseException] = {}

    def agent(agent_id: str) -> None:
        with bind_run(local_run):
            try:
                results[agent_id] = _run(
                    task, config, tmp_path, agent_id=agent_id, agents=["agent1", "agent2"], comm_url=url
                )
            except BaseException as exc:
                results[agent_id] = exc

    with LLMTestServer({}, usage=USAGE) as server:
        # The steps are ordered so each message is delivered at a known step: agent1 writes once
        # agent2 is in its first step; agent2 answers (and waits for agent1's message) once agent1
        # is in its second step; agent1's second answer waits for agent2's message, which is put
        # into agent1's conversation before its third step.
        server.add(
            _held(
                tool_call("send_message", {"to": "agent2", "message": "I take kebab_case in case.py"}),
                lambda: len(server.requests_for("agent2")) >= 1,
            ),
            _held(
                tool_call("terminal", {"command": "git status --short"}),
                lambda: any(m["from"] == "agent2" for m in Ledger.read(url)),
            ),
            _edit("/workspace/repo/textkit/case.py", SNAKE_BODY, SNAKE_BODY + KEBAB),
            _finish(),
            route="agent1",
        )
        server.add(
            _held(
                tool_call("send_message", {"to": "agent1", "message": "Fine, I take slug.py", "wait": True}),
                lambda: len(server.requests_for("agent1")) >= 2,
            ),
            _edit("/workspace/repo/textkit/slug.py", '"""URL slugs."""', '"""URL slugs (agent2)."""'),
            _finish(),
            route="agent2",
        )
        config = agent_config(server.base_url, agent={"wait_timeout": 30})
        threads = [threading.Thread(target=agent, args=(a,)) for a in ("agent1", "agent2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        third_of_agent1 = server.requests_for("agent1")[2]
        first_of_agent2, second_of_agent2 = server.requests_for("agent2")[:2]

    one, two = results["agent1"], results["agent2"]
    assert isinstance(one, AgentResult) and isinstance(two, AgentResult), results
    assert one.status == two.status == "Submitted"
    assert one.sent_messages == two.sent_messages == 1
    assert "+def kebab_case(text):" in one.patch and "slug.py" not in one.patch
    assert '+"""URL slugs (agent2)."""' in two.patch and "case.py" not in two.patch
    assert "send_message" in {t["function"]["name"] for t in first_of_agent2.body["tools"]}
    assert "You are agent2" in first_of_agent2.text_of("system")[0]
    # agent2 got agent1's message back from its waiting send_message ...
    tool_results = [json.dumps(m["content"]) for m in second_of_agent2.messages if m["role"] == "tool"]
    assert any("[Message from agent1]: I take kebab_case in case.py" in r for r in tool_results)
    # ... and agent1 got agent2's put into its conversation before its third step
    agent1_saw = "\n".join(third_of_agent1.text_of("user"))
    assert "[Message from agent2]: Fine, I take slug.py" in agent1_saw
    assert "[Notice from agent2]: agent2 is blocked waiting for a reply from agent1." in agent1_saw

    ledger = sorted((m for m in Ledger.read(url) if m["kind"] == "message"), key=lambda m: m["from"])
    assert [(m["from"], m["to"], m["text"]) for m in ledger] == [
        ("agent1", "agent2", "I take kebab_case in case.py"),
        ("agent2", "agent1", "Fine, I take slug.py"),
    ]
    assert [(m["sender_step"], m["receiver_step"]) for m in ledger] == [(1, 1), (1, 3)]
    assert all(m["delivered_at"] for m in ledger)
