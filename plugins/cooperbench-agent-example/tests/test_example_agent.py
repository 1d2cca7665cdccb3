"""The example agent on the real ``local`` backend (bubblewrap sandboxes) and the in-process message bus.

Copy these tests with the agent: they show how to drive an agent outside a run. A
``SandboxEnvironment`` created outside a run uses the ``local`` backend, which accepts the
task's image name once :meth:`resolve_image` has built the task's workspace in this process.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cooperbench_agent_example.runner import ExampleAgent

from cooperbench.agents import AgentRunner, get_runner
from cooperbench.backends import get_backend
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.dataset import Task, load_task
from cooperbench.messaging import MessagingConnector
from cooperbench.plugins import list_plugins

TASK_DIR = Path(__file__).resolve().parents[3] / "examples" / "dataset" / "minicalc_task" / "task2"


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Task]:
    """The example task, its workspace built by the local backend in a private cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COOPERBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        task = load_task(TASK_DIR)
        assert task is not None, f"{TASK_DIR} is not a task with two features or more"
        get_backend("local").resolve_image(task)
        yield task


@pytest.fixture
def feature_text(task: Task) -> str:
    return task.feature_text(1)


def test_writes_notes_describing_the_task_and_returns_them_as_a_patch(task: Task, feature_text: str) -> None:
    result = ExampleAgent().run(feature_text, task.image_name(), agent_id="agent1")

    assert (result.status, result.error) == ("Submitted", None)
    assert "+++ b/NOTES-agent1.md" in result.patch
    assert "+Task: Add variance and standard deviation\n" in result.patch
    assert "+# Notes by agent1" in result.patch
    assert result.steps == 1 and result.cost == 0.0 and result.sent_messages == 0
    assert result.messages[0] == {"role": "user", "content": feature_text}


def test_patch_applies_to_the_base_commit_and_is_the_same_on_every_run(task: Task, feature_text: str) -> None:
    first = ExampleAgent().run(feature_text, task.image_name(), agent_id="agent2")
    second = ExampleAgent().run(feature_text, task.image_name(), agent_id="agent2")
    assert first.patch == second.patch

    with SandboxEnvironment(task.image_name()) as env:
        env.sandbox.write_file("/tmp/agent.patch", first.patch)
        applied = env.execute("git apply /tmp/agent.patch && git status --porcelain && head -1 NOTES-agent2.md")

    assert applied["returncode"] == 0, applied["output"]
    assert "?? NOTES-agent2.md" in applied["output"]
    assert "# Notes by agent2" in applied["output"]


def test_tells_each_teammate_once_when_messaging_is_enabled(task: Task, feature_text: str) -> None:
    url = f"embedded://example-{secrets.token_hex(4)}"
    team = ["agent1", "agent2", "agent3"]

    result = ExampleAgent().run(
        feature_text, task.image_name(), agent_id="agent1", agents=team, comm_url=url, messaging_enabled=True
    )

    assert result.sent_messages == 2
    for teammate in ("agent2", "agent3"):
        with MessagingConnector(teammate, team, url) as inbox:
            [message] = inbox.receive()
        assert (message["from"], message["to"]) == ("agent1", teammate)
        assert "NOTES-agent1.md" in message["text"]


def test_reads_what_teammates_sent_into_its_trajectory(task: Task, feature_text: str) -> None:
    url = f"embedded://example-{secrets.token_hex(4)}"
    team = ["agent1", "agent2"]
    with MessagingConnector("agent2", team, url) as teammate:
        teammate.send("agent1", "I take the statistics module")

        result = ExampleAgent().run(feature_text, task.image_name(), agent_id="agent1", agents=team, comm_url=url)

    received = [m for m in result.messages if m["role"] == "message"]
    assert [(m["from"], m["text"]) for m in received] == [("agent2", "I take the statistics module")]


@pytest.mark.parametrize(
    ("agents", "messaging_enabled"), [(["agent1", "agent2"], False), (["agent1"], True), (None, True)]
)
def test_sends_nothing_when_messaging_is_off_or_it_has_no_teammate(
    task: Task, feature_text: str, agents: list[str] | None, messaging_enabled: bool
) -> None:
    url = f"embedded://example-{secrets.token_hex(4)}"

    result = ExampleAgent().run(
        feature_text,
        task.image_name(),
        agent_id="agent1",
        agents=agents,
        comm_url=url,
        messaging_enabled=messaging_enabled,
    )

    assert (result.status, result.sent_messages) == ("Submitted", 0)
    with MessagingConnector("agent2", ["agent1", "agent2"], url) as inbox:
        assert inbox.peek() == 0


def test_notes_file_comes_from_the_agent_section_of_the_config(task: Task, feature_text: str) -> None:
    config = {"agent": {"notes_file": "docs/{agent_id} notes.md"}}

    result = ExampleAgent().run(feature_text, task.image_name(), agent_id="solo", config=config)

    assert result.status == "Submitted", result.error
    assert "+++ b/docs/solo notes.md" in result.patch


def test_its_own_failure_is_an_error_result_not_an_exception(task: Task, feature_text: str) -> None:
    # The repository's package folder: writing notes over a directory fails.
    config = {"agent": {"notes_file": "minicalc"}}

    result = ExampleAgent().run(feature_text, task.image_name(), agent_id="agent1", config=config)

    assert result.status == "Error"
    assert result.error is not None and "minicalc: Is a directory" in result.error
    assert result.patch == ""
    assert result.messages[-1] == {"role": "assistant", "content": result.error}


def test_is_registered_as_example_by_its_distribution() -> None:
    [row] = [r for r in list_plugins("agent") if r.name == "example"]

    assert (row.distribution, row.source, row.status) == ("cooperbench-agent-example", "entry point", "ok")
    runner = get_runner("example")
    assert isinstance(runner, ExampleAgent)
    assert isinstance(runner, AgentRunner)


def test_cooperbench_run_with_the_example_agent_merges_both_notes_and_records_the_messages(
    task: Task, tmp_path: Path
) -> None:
    # The user's path: `cooperbench run --agent example`, a coop pair on the local backend, evaluated.
    argv = [sys.executable, "-m", "cooperbench", "run", "-n", "example-e2e", "--agent", "example"]
    argv += ["--backend", "local", "--setting", "coop", "-r", task.repo, "-t", str(task.task_id), "-f", "1,2"]
    argv += ["--dataset-dir", str(TASK_DIR.parents[1]), "--log-dir", str(tmp_path / "logs"), "-c", "1"]

    proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=600)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    pair = tmp_path / "logs" / "example-e2e" / "coop" / task.repo / str(task.task_id) / "f1_f2"
    assert "+++ b/NOTES-agent1.md" in (pair / "agent1.patch").read_text()
    assert "+++ b/NOTES-agent2.md" in (pair / "agent2.patch").read_text()
    # the ledger also holds presence notices and status entries (their "kind"); only messages count here
    conversation = [
        m for m in json.loads((pair / "conversation.json").read_text()) if m.get("kind", "message") == "message"
    ]
    assert sorted((m["from"], m["to"]) for m in conversation) == [("agent1", "agent2"), ("agent2", "agent1")]
    result = json.loads((pair / "result.json").read_text())
    assert [result["agents"][a]["status"] for a in ("agent1", "agent2")] == ["Submitted", "Submitted"]
    evaluation = json.loads((pair / "eval.json").read_text())
    assert evaluation["merge"]["status"] == "clean"  # one notes file per agent: the patches never conflict
    assert not evaluation["feature1"]["passed"]  # notes implement nothing
