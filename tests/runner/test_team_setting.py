"""The team setting with agents that do not know it: they run as in coop, with their roles in the task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register
from cooperbench.errors import ConfigError
from cooperbench.runner import run
from cooperbench.testing.redis_server import redis_server

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"


@register("t_team_unaware")
class TeamUnawareAgent:
    """Knows nothing of teams: records the task it was given."""

    def run(self, task: str, image: str, *, agent_id: str = "agent", **kwargs: Any) -> AgentResult:
        return AgentResult(status="Submitted", patch="", messages=[{"task": task, "kwargs": sorted(kwargs)}])


@register("t_team_aware")
class TeamAwareAgent:
    """Names ``team_role``: gets its role and its TeamClient, and the task unchanged."""

    def run(self, task: str, image: str, *, agent_id: str = "agent", team_role: str | None = None,
            team: Any = None, **kwargs: Any) -> AgentResult:  # fmt: skip
        claimed = team.claim(team.tasks(mine=False)[0]["id"]) if agent_id == "agent2" else None
        return AgentResult(
            status="Submitted", patch="", messages=[{"task": task, "role": team_role, "claimed": claimed}]
        )


def team_run(logs: Path, agent: str, redis_url: str = "redis://127.0.0.1:1") -> Path:
    run("t", agent=agent, setting="team", dataset_dir=DATASET, logs_dir=logs, repo="textkit_task", task_id=1,
        features=[1, 2], redis_url=redis_url, auto_eval=False)  # fmt: skip
    return logs / "t" / "team" / "textkit_task" / "1" / "f1_f2"


def trajectory(pdir: Path, agent_id: str) -> dict[str, Any]:
    return json.loads((pdir / f"{agent_id}_traj.json").read_text())[0]


def test_an_agent_that_does_not_know_the_setting_gets_its_role_in_the_task(tmp_path: Path) -> None:
    pdir = team_run(tmp_path, "t_team_unaware")
    lead, member = trajectory(pdir, "agent1"), trajectory(pdir, "agent2")
    assert lead["task"].startswith("## Your role: team lead") and "coop-msg task claim ID" in lead["task"]
    assert member["task"].startswith("## Your role: team member") and "led by agent1" in member["task"]
    assert "team_role" in lead["kwargs"] and "team" in lead["kwargs"]  # **kwargs gets them too
    result = json.loads((pdir / "result.json").read_text())
    assert result["lead_agent"] == "agent1" and result["agents"]["agent2"]["team_role"] == "member"


def test_an_agent_that_knows_the_setting_gets_its_role_and_its_team_and_the_plain_task(tmp_path: Path) -> None:
    with redis_server() as server:  # the task-list events reach the ledger on Redis too
        pdir = team_run(tmp_path, "t_team_aware", server.url)
    lead, member = trajectory(pdir, "agent1"), trajectory(pdir, "agent2")
    assert lead["role"] == "lead" and member["role"] == "member"
    assert "Your role" not in lead["task"]
    assert member["claimed"]["owner"] == "agent2"  # as agent2, whatever it could have named
    metrics = json.loads((pdir / "result.json").read_text())["team"]["metrics"]
    assert metrics["claims_per_agent"] == {"agent1": 0, "agent2": 1}
    assert metrics["tasks_unowned"] == 1
    ledger = json.loads((pdir / "conversation.json").read_text())
    claims = [e for e in ledger if e["kind"] == "task" and e["event"]["action"] == "claim"]
    assert [(e["from"], e["event"]["task_id"]) for e in claims] == [("agent2", 1)]


def test_team_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs messaging"):
        run(agent="nop", setting="team", messaging_enabled=False, dataset_dir=DATASET, logs_dir=tmp_path)
    with pytest.raises(ConfigError, match="need the team setting"):
        run(agent="nop", team_features={"scratchpad": False}, dataset_dir=DATASET, logs_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown team feature"):
        run(agent="nop", setting="team", team_features={"mcp": False}, dataset_dir=DATASET, logs_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
