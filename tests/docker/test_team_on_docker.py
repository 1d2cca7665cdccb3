"""The team setting on docker: the scratchpad is shared between containers, ``coop-msg task`` works in them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from cooperbench.agents import AgentResult
from cooperbench.agents.registry import register
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.runner import run

pytestmark = pytest.mark.docker

DATASET = Path(__file__).resolve().parents[2] / "examples" / "dataset"
C = "/run/cooperbench/messaging/coop-msg"


@pytest.fixture(scope="module")
def base_image() -> str:
    from cooperbench_backend_docker.testing import ensure_base_image

    from cooperbench.errors import SandboxError

    try:
        return ensure_base_image()
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1" or "Cannot reach the Docker daemon" not in str(exc):
            raise
        pytest.skip(f"no Docker Engine: {exc}")


@register("t_docker_team")
class DockerTeamAgent:
    """agent2 claims and finishes its task and leaves a note in the scratchpad; agent1 reads it."""

    def run(self, task: str, image: str, *, agent_id: str = "agent", **kwargs: Any) -> AgentResult:
        seen: list[str] = []
        with SandboxEnvironment(image) as env:
            if agent_id == "agent2":
                claim = f"{C} task claim 1 && echo from-agent2 > /workspace/shared/note.txt && {C} task done 1 ok"
                seen.append(env.execute(claim)["output"])
            else:
                for _ in range(300):  # until agent2's container has written it
                    note = env.execute("cat /workspace/shared/note.txt")
                    if note["returncode"] == 0:
                        break
                    time.sleep(0.1)
                seen.append(note["output"])
        return AgentResult(status="Submitted", patch="", messages=[{"seen": seen}])


def test_teammates_containers_share_the_scratchpad_and_the_task_list(tmp_path: Path, base_image: str) -> None:
    from cooperbench_backend_docker.backend import DockerBackend

    config = {"backend": {"name": "docker", "pull": False, "build_args": {"BASE_IMAGE": base_image}}}
    run("team-docker", agent="t_docker_team", setting="team", config=config, dataset_dir=DATASET,
        logs_dir=tmp_path, repo="textkit_task", task_id=1, features=[1, 2], redis_url="redis://127.0.0.1:1",
        auto_eval=False)  # fmt: skip
    pdir = tmp_path / "team-docker" / "team" / "textkit_task" / "1" / "f1_f2"
    seen = json.loads((pdir / "agent1_traj.json").read_text())[0]["seen"]
    assert seen == ["from-agent2\n"]
    assert (pdir / "scratchpad" / "note.txt").read_text() == "from-agent2\n"
    metrics = json.loads((pdir / "result.json").read_text())["team"]["metrics"]
    assert (metrics["tasks_done"], metrics["claims_per_agent"]) == (1, {"agent1": 0, "agent2": 1})
    assert DockerBackend().resources("team-docker") == []
