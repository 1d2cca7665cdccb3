"""Agents used by the runner tests, registered with the compatibility decorator.

Importable as a module (``COOPERBENCH_EXTERNAL_AGENTS=cb_test_agents`` with this folder on
``PYTHONPATH``) so subprocess runs of ``cooperbench run`` can use them too.
"""

from __future__ import annotations

import os
import time

from cooperbench.agents import AgentResult
from cooperbench.agents.mini_swe_agent.connectors import GitConnector
from cooperbench.agents.mini_swe_agent.connectors.messaging import MessagingConnector
from cooperbench.agents.mini_swe_agent.environments.local import LocalEnvironment
from cooperbench.agents.registry import register
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import SandboxError
from cooperbench.patches import base_commit, working_tree_patch


@register("t_chatty")
class ChattyAgent:
    """agent1 says hello at step 1 and waits for the reply; agent2 connects late, then answers at step 3."""

    def run(self, task, image, *, agent_id="agent", agents=None, comm_url=None, config=None, **kwargs):
        comm = MessagingConnector(agent_id=agent_id, agents=agents, url=comm_url)
        got = []
        if agent_id == "agent1":
            comm.set_step(1)
            comm.send("agent2", f"hello from agent1 about: {task.splitlines()[0][:40]}")
            kill_on = os.environ.get("CB_TEST_KILL_REDIS_ON_PAIR")  # e.g. "1,3": Redis dies during that pair
            if kill_on and config["task"]["pair_features"] == [int(x) for x in kill_on.split(",")]:
                os.kill(int(os.environ["CB_TEST_REDIS_PID"]), 9)
                time.sleep(0.2)
            comm.set_step(2)
            got = comm.receive(block=True, timeout=30)
        else:
            time.sleep(float(os.environ.get("CB_TEST_LATE_START", "0.5")))  # the message is sent before we connect
            comm.set_step(3)
            got = comm.receive(block=True, timeout=30)
            comm.send("agent1", "hi agent1, got it")
            comm.send("agent1", "second reply")
        return AgentResult(status="Submitted", patch="", steps=3, messages=[{"received": got}], sent_messages=1)


@register("t_raiser")
class RaisingAgent:
    """agent1 raises; agent2 (and solo) finish normally."""

    def run(self, task, image, *, agent_id="agent", **kwargs):
        if agent_id == "agent1":
            raise RuntimeError("boom from the test agent")
        return AgentResult(status="Submitted", patch="", steps=1)


@register("t_hanger")
class HangingAgent:
    """Starts a sandbox and runs a command that never ends."""

    def run(self, task, image, **kwargs):
        env = LocalEnvironment(image=image, cwd="/workspace/repo")
        env.execute("touch started_marker && sleep 3600", timeout=7200)
        return AgentResult(status="Submitted", patch="", steps=1)


@register("t_slow")
class SlowAgent:
    """Applies nothing and takes a while (for kill -9 tests)."""

    def run(self, task, image, **kwargs):
        time.sleep(float(os.environ.get("CB_TEST_SLOW_SECONDS", "1.5")))
        return AgentResult(status="Submitted", patch="", steps=1, cost=0.25, input_tokens=10, output_tokens=5)


@register("t_git")
class GitAgent:
    """agent1 commits a file and pushes its branch; agent2 fetches agent1's branch and reports what it saw."""

    def run(self, task, image, *, agent_id="agent", agents=None, git_server_url=None, **kwargs):
        with SandboxEnvironment(image) as env:  # the run's backend: local or docker
            base = base_commit(env)
            GitConnector(agent_id=agent_id, agents=agents, server_url=git_server_url).setup(env)
            if agent_id == "agent1":
                env.execute("echo shared > shared_by_agent1.txt && git add -A && git commit -qm share")
                out = env.execute("git push -q team HEAD:refs/heads/agent1")
                seen = out["output"]
            else:
                seen = ""
                for _ in range(100):
                    out = env.execute("git fetch -q team agent1 && git show FETCH_HEAD:shared_by_agent1.txt")
                    if out["returncode"] == 0:
                        seen = out["output"].strip()
                        break
                    time.sleep(0.2)
            patch = working_tree_patch(env, base)
        return AgentResult(status="Submitted", patch=patch, steps=1, messages=[{"seen": seen}])


class _SlowToRemove:
    """Tracked like a sandbox; its removal waits until the test releases it (a slow backend's cleanup)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def exec(self, command, **kwargs):
        raise SandboxError("a stand-in for a slow backend's sandbox: it runs nothing")  # as a sandbox that is gone

    def cleanup(self) -> None:
        open(os.path.join(self.folder, "cleanup_started"), "w").close()
        deadline = time.monotonic() + 120
        while not os.path.exists(os.path.join(self.folder, "cleanup_release")) and time.monotonic() < deadline:
            time.sleep(0.05)


def _mark(name: str, text: str = "") -> None:
    """Tell the test (CB_TEST_MARKERS: its folder) how far the agent got; written whole, then renamed."""
    path = os.path.join(os.environ["CB_TEST_MARKERS"], name)
    with open(path + ".tmp", "w") as fh:
        fh.write(text)
    os.replace(path + ".tmp", path)


@register("t_slow_cleanup")
class SlowCleanupAgent:
    """Holds a real sandbox whose removal comes after a slow one (CB_TEST_MARKERS: the test's folder), then hangs.

    Marks ``sandbox_tracked`` (holding the sandbox's id) once the sandbox is the run's to remove: a
    signal from then on finds it still there while the slow removal goes on.
    """

    def run(self, task, image, **kwargs):
        from cooperbench.backends._context import current_tracker

        current_tracker().add(_SlowToRemove(os.environ["CB_TEST_MARKERS"]))
        env = LocalEnvironment(image=image, cwd="/workspace/repo")
        _mark("sandbox_tracked", env.sandbox.id)
        env.execute("sleep 3600", timeout=7200)
        return AgentResult(status="Submitted", patch="", steps=1)


@register("t_late_sandbox")
class LateSandboxAgent:
    """Creates its sandbox only after the run's shutdown has begun (its tracker closed), as a slow start would.

    The shutdown waits on a slow removal (CB_TEST_MARKERS: the test's folder); the late sandbox is
    removed as soon as it exists, and ``late_sandbox_removed`` (holding its id) says so.
    """

    def run(self, task, image, **kwargs):
        from cooperbench.backends._context import current_tracker

        tracker = current_tracker()
        tracker.add(_SlowToRemove(os.environ["CB_TEST_MARKERS"]))
        _mark("agent_started")
        deadline = time.monotonic() + 120
        while not tracker.closed and time.monotonic() < deadline:
            time.sleep(0.02)
        env = LocalEnvironment(image=image, cwd="/workspace/repo")
        _mark("late_sandbox_removed" if not env.sandbox.root.exists() else "late_sandbox_kept", env.sandbox.id)
        env.execute("sleep 3600", timeout=7200)  # fails at once: its sandbox is gone
        return AgentResult(status="Submitted", patch="", steps=1)


@register("t_fill_disk")
class FillDiskAgent:
    """On the pair of features CB_TEST_FILL_ON (e.g. "1,3"), fills the file system of CB_TEST_FILL_PATH first."""

    def run(self, task, image, *, config=None, **kwargs):
        if config["task"]["pair_features"] == [int(x) for x in os.environ["CB_TEST_FILL_ON"].split(",")]:
            try:
                with open(os.environ["CB_TEST_FILL_PATH"], "wb") as fh:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()
            except OSError:
                pass  # the disk is full now
        return AgentResult(status="Submitted", patch="diff --git a/x b/x\n" + "+" * 20000 + "\n", steps=1)
