"""The ``openhands`` agent in a team run: its role and the task list in its prompt, ``coop-msg task`` in a terminal."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cooperbench_agent_openhands.runner import OpenHandsRunner

from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.dataset import Task
from cooperbench.messaging import PairMessaging
from cooperbench.team import TeamPair
from cooperbench.testing.llm_server import LLMTestServer, tool_call

AGENTS = ["agent1", "agent2"]
C = "/run/cooperbench/messaging/coop-msg"


def test_the_lead_sees_its_role_and_the_task_list_and_claims_a_task_from_its_terminal(
    local_run: ActiveRun, task: Task, tmp_path: Path, agent_config: Callable[..., dict[str, Any]]
) -> None:
    messaging = PairMessaging(f"embedded://oh-team-{uuid.uuid4().hex[:8]}", AGENTS, endpoints=AGENTS)
    bus: Any = messaging.bus
    team = TeamPair(AGENTS, {"agent1": [1], "agent2": [2]}, record=lambda a, t, e, s: bus.record(a, t, event=e, step=s))
    team.attach(messaging)  # as the runner does
    endpoint = messaging.endpoint("agent1")
    assert endpoint is not None and endpoint.team is not None
    script = [
        tool_call("terminal", {"command": f"{C} task claim 2 && echo plan > /workspace/shared/PLAN.md"}),
        tool_call("terminal", {"command": f"{C} task done 2 merged"}),
        tool_call("finish", {"message": "done"}),
    ]
    sandbox_run = dataclasses.replace(local_run, mounts=(*messaging.mounts("agent1"), *team.mounts()))
    try:
        with bind_run(sandbox_run), LLMTestServer(script) as server:
            result = OpenHandsRunner().run(
                "Add kebab_case to textkit.",
                task.image_name(),
                agent_id="agent1",
                agents=AGENTS,
                model_name="openai/test-model",
                comm_url=messaging.agent_url("agent1"),
                config=agent_config(server.base_url),
                log_dir=str(tmp_path),
                team_role="lead",
                team=endpoint.team,
                messaging_endpoint=endpoint,
            )
            requests = server.chat_requests
        ledger = messaging.ledger()
    finally:
        messaging.close()
    assert result.status == "Submitted", result.error
    assert "Your role: team lead" in requests[0].text_of("system")[0]
    first_users = "\n".join(requests[0].text_of("user"))
    assert "#2 [open] unclaimed, for agent1 (yours): Integrate and submit" in first_users  # auto-refresh
    assert any("#2 [done] agent1 (yours): Integrate and submit" in "\n".join(r.text_of("user")) for r in requests[2:])
    (_, lead_task) = team.task_list.tasks() if team.task_list else ((), None)
    assert lead_task is not None and (lead_task.owner, lead_task.status, lead_task.note) == ("agent1", "done", "merged")
    assert [(e.by, e.action, e.step) for e in team.task_list.events()[1:]] == [  # type: ignore[union-attr]
        ("cooperbench", "create", None),
        ("agent1", "claim", 1),
        ("agent1", "done", 2),
    ]
    assert [(m["from"], m["sender_step"]) for m in ledger if m["kind"] == "task"][-2:] == [("agent1", 1), ("agent1", 2)]
    assert team.scratchpad is not None and (team.scratchpad / "PLAN.md").read_text() == "plan\n"
    team.close()
