"""Messaging and git between agents: the real connector (embedded bus), the real local git server."""

from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from cooperbench_agent_miniswe.runner import MiniSweAgentRunner
from miniswe_helpers import MODEL, agent_config, run_in_threads

from cooperbench.agents import AgentResult
from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.backends.local import LocalBackend
from cooperbench.messaging import EmbeddedBus, MessagingConnector
from cooperbench.testing.llm_server import LLMTestServer, bash

pytestmark = pytest.mark.usefixtures("active_run")

SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
TEAM = ["agent1", "agent2"]


@pytest.fixture
def comm_url() -> str:
    return f"embedded://miniswe-{uuid.uuid4().hex[:8]}"


def run_agent1(server: LLMTestServer, image: str, log_dir: Path, comm_url: str, **kwargs: object) -> AgentResult:
    return MiniSweAgentRunner().run(
        "Implement feature one.",
        image,
        agent_id="agent1",
        model_name=MODEL,
        agents=TEAM,
        comm_url=comm_url,
        config=agent_config(server),
        log_dir=str(log_dir),
        **kwargs,  # type: ignore[arg-type]
    )


def test_send_message_goes_through_the_connector_and_the_rest_runs_in_the_sandbox(
    task_image: str, log_dir: Path, comm_url: str
) -> None:
    mixed = (
        "echo before > a.txt && send_message agent2 <<'MSG'\nhello from agent1\nMSG\necho after >> a.txt && cat a.txt"
    )
    with MessagingConnector("agent2", TEAM, comm_url) as agent2, LLMTestServer([bash(mixed), SUBMIT]) as server:
        result = run_agent1(server, task_image, log_dir, comm_url)
        received = agent2.receive()
    assert result.status == "Submitted"
    assert [(m["from"], m["text"]) for m in received] == [("agent1", "hello from agent1")]
    assert result.sent_messages == 1
    assert "+before" in result.patch and "+after" in result.patch
    observation = [m for m in server.chat_requests[1].messages if m.get("role") == "tool"][-1]["content"]
    assert "before\nafter" in observation and "Message sent to agent2." in observation
    (entry,) = EmbeddedBus(comm_url).ledger()
    assert (entry.sender, entry.recipient, entry.sender_step) == ("agent1", "agent2", 1)
    assert "sent to agent2: hello from agent1" in (log_dir / "agent1.log").read_text()


def test_teammate_messages_are_shown_before_the_next_step(task_image: str, log_dir: Path, comm_url: str) -> None:
    with MessagingConnector("agent2", TEAM, comm_url) as agent2, LLMTestServer([bash("ls"), SUBMIT]) as server:
        agent2.send("agent1", "heads up: I am editing minicalc/ops.py")
        run_agent1(server, task_image, log_dir, comm_url)
    first_user_messages = server.chat_requests[0].text_of("user")
    assert first_user_messages[-1] == "[Message from agent2]: heads up: I am editing minicalc/ops.py"
    (entry,) = EmbeddedBus(comm_url).ledger()
    assert entry.receiver_step == 1 and entry.delivered_at is not None


def test_send_message_wait_blocks_until_the_reply(task_image: str, log_dir: Path, comm_url: str) -> None:
    ask = bash("send_message --wait --timeout 30 agent2 <<'MSG'\nWhich file do you take?\nMSG")
    replied_at: list[float] = []

    def teammate(agent2: MessagingConnector) -> None:
        question = agent2.receive(block=True, timeout=60)
        assert question and question[0]["text"] == "Which file do you take?"
        time.sleep(1.0)
        replied_at.append(time.monotonic())
        agent2.send("agent1", "I take ops.py")

    with MessagingConnector("agent2", TEAM, comm_url) as agent2, LLMTestServer([ask, SUBMIT]) as server:
        thread = threading.Thread(target=teammate, args=(agent2,))
        thread.start()
        result = run_agent1(server, task_image, log_dir, comm_url)
        thread.join()
    assert result.status == "Submitted"
    observation = [m for m in server.chat_requests[1].messages if m.get("role") == "tool"][-1]["content"]
    assert "[Message from agent2]: I take ops.py" in observation
    assert replied_at and server.chat_requests[1].received_at >= server.chat_requests[0].received_at + 1.0


def test_send_message_wait_times_out(task_image: str, log_dir: Path, comm_url: str) -> None:
    with LLMTestServer([bash("send_message --wait --timeout 0.5"), SUBMIT]) as server:
        run_agent1(server, task_image, log_dir, comm_url)
    observation = [m for m in server.chat_requests[1].messages if m.get("role") == "tool"][-1]["content"]
    assert "No message arrived within 0.5 seconds." in observation


def test_send_message_usage_errors_run_nothing(task_image: str, log_dir: Path, comm_url: str) -> None:
    script = [bash("touch ran.txt && send_message agent3 hi"), bash("touch ran2.txt; send_message agent2"), SUBMIT]
    with LLMTestServer(script) as server:
        result = run_agent1(server, task_image, log_dir, comm_url)
    first = [m for m in server.chat_requests[1].messages if m.get("role") == "tool"][-1]["content"]
    second = [m for m in server.chat_requests[2].messages if m.get("role") == "tool"][-1]["content"]
    assert "not a teammate" in first and "<returncode>1</returncode>" in first
    assert "no message text for agent2" in second and "Nothing was run." in second
    assert "ran.txt" in result.patch  # the shell part of the first command ran; the second did not
    assert "ran2.txt" not in result.patch


def test_two_agents_talk_and_each_gets_its_own_script(task_image: str, log_dir: Path, comm_url: str) -> None:
    script = {
        "agent1": [
            bash("echo one > one.txt && send_message agent2 <<'MSG'\nI did one.txt\nMSG"),
            bash("send_message --wait --timeout 30"),
            SUBMIT,
        ],
        "agent2": [bash("sleep 1.5 && echo two > two.txt"), bash("send_message agent1 'two.txt done'"), SUBMIT],
    }
    with LLMTestServer(script) as server:

        def run(agent_id: str) -> AgentResult:
            return MiniSweAgentRunner().run(
                f"Implement the feature of {agent_id}.",
                task_image,
                agent_id=agent_id,
                model_name=MODEL,
                agents=TEAM,
                comm_url=comm_url,
                config=agent_config(server),
                log_dir=str(log_dir),
            )

        one, two = run_in_threads(lambda: run("agent1"), lambda: run("agent2"))
    assert one.status == two.status == "Submitted", (one, two)
    assert "one.txt" in one.patch and "two.txt" not in one.patch
    assert "two.txt" in two.patch and "one.txt" not in two.patch
    assert len(server.requests_for("agent1")) == len(server.requests_for("agent2")) == 3
    agent2_step2 = "\n".join(server.requests_for("agent2")[1].text_of("user"))
    assert "[Message from agent1]: I did one.txt" in agent2_step2
    # agent1's `send_message --wait` shows it blocked, waiting for agent2
    assert "[Notice from agent1]: agent1 is blocked waiting for a reply from agent2." in agent2_step2
    agent1_step3 = server.requests_for("agent1")[2]
    assert "[Message from agent2]: two.txt done" in agent1_step3.messages[-1]["content"]
    assert [(m.sender, m.text) for m in EmbeddedBus(comm_url).ledger() if m.kind == "message"] == [
        ("agent1", "I did one.txt"),
        ("agent2", "two.txt done"),
    ]
    assert (log_dir / "agent1_traj.json").exists() and (log_dir / "agent2_traj.json").exists()


def test_git_enabled_sets_up_the_team_remote(
    task_image: str, log_dir: Path, comm_url: str, local_backend: LocalBackend, active_run: ActiveRun
) -> None:
    git_server = local_backend.create_git_server(run=active_run.labels)
    try:
        push = bash("echo shared > shared.txt && git add -A && git commit -qm share && git push -q team agent1")
        # As the runner does: the agent's sandboxes mount its pair's repository.
        with (
            bind_run(dataclasses.replace(active_run, mounts=git_server.mounts)),
            LLMTestServer([push, SUBMIT]) as server,
        ):
            result = run_agent1(server, task_image, log_dir, comm_url, git_enabled=True, git_server_url=git_server.url)
        assert result.status == "Submitted"
        assert "`team`" in server.chat_requests[0].text_of("user")[0]
        log = subprocess.run(
            ["git", "--git-dir", str(git_server.path), "log", "--format=%s", "agent1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert log.splitlines()[0] == "share"
        assert "b/shared.txt" in result.patch  # committed work is in the patch too
    finally:
        git_server.cleanup()


def test_send_message_without_messaging_is_refused_not_run(task_image: str, log_dir: Path, comm_url: str) -> None:
    script = [bash("touch ran.txt && send_message agent2 <<'MSG'\nhi\nMSG"), SUBMIT]
    with LLMTestServer(script) as server:
        result = run_agent1(server, task_image, log_dir, comm_url, messaging_enabled=False)
    observation = [m for m in server.chat_requests[1].messages if m.get("role") == "tool"][-1]["content"]
    assert "messaging is off in this run" in observation
    assert "ran.txt" not in result.patch
    assert "send_message" not in server.chat_requests[0].text_of("user")[0]  # the prompt does not offer it
    assert EmbeddedBus(comm_url).ledger() == []
