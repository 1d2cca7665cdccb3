"""Ctrl-C or SIGTERM during a `cooperbench run --backend docker --git`: nothing of the run is left in Docker.

A real SIGINT (or SIGTERM) goes to a real `cooperbench run` process while every pair is in the middle of its
agents (their sandboxes and git servers up); once the process has exited, no container and no
network of the run may remain. Upstream of the fix, the git server and the run network leaked
in 3 of 3 tries: the pair thread marked the server closed, the main thread skipped it, and the
process exited before the removal ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cooperbench.testing.waiting import wait_for

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "examples" / "dataset"

# An agent that starts its sandbox, sets up git with its teammate, then works for a long time.
SLOW_AGENT = textwrap.dedent(
    """
    from cooperbench.agents import AgentResult
    from cooperbench.agents.registry import register
    from cooperbench.agents.mini_swe_agent.environments.docker import DockerEnvironment


    @register("slow_docker_agent")
    class SlowDockerAgent:
        def run(self, task, image, *, agent_id="agent", git_server_url=None, **kwargs):
            env = DockerEnvironment(image=image, timeout=600)
            if git_server_url:
                env.execute(f"git remote add team {git_server_url} && git push -q team HEAD:refs/heads/{agent_id}")
            env.execute("sleep 600")
            return AgentResult(status="Submitted", patch="", cost=0.0, steps=1, messages=[], error=None)
    """
)


@pytest.fixture(scope="module")
def base_image() -> str:
    from cooperbench_backend_docker.testing import ensure_base_image, ensure_task_images

    from cooperbench.errors import SandboxError

    try:
        image = ensure_base_image()
    except SandboxError as exc:
        if os.environ.get("COOPERBENCH_REQUIRE_DOCKER") == "1" or "Cannot reach the Docker daemon" not in str(exc):
            raise
        pytest.skip(f"no Docker Engine: {exc}")
    ensure_task_images(DATASET, base_image=image)
    return image


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_with_git_leaves_no_container_or_network(tmp_path: Path, base_image: str, signum):
    from cooperbench_backend_docker.backend import DockerBackend

    (tmp_path / "slow_docker_agent.py").write_text(SLOW_AGENT)
    config = tmp_path / "config.yaml"
    config.write_text(f"backend:\n  name: docker\n  pull: false\n  build_args: {{BASE_IMAGE: '{base_image}'}}\n")
    run_name = f"docker-interrupt-{os.getpid()}-{signum.name.lower()}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "COOPERBENCH_EXTERNAL_AGENTS": "slow_docker_agent",
    }
    command = [sys.executable, "-m", "cooperbench", "run", "--backend", "docker", "-a", "slow_docker_agent", "--git"]
    command += ["--agent-config", str(config), "--dataset-dir", str(DATASET), "--log-dir", str(tmp_path / "logs")]
    command += ["-n", run_name, "-r", "textkit_task", "-c", "6", "--no-auto-eval"]  # its 6 pairs at once
    backend = DockerBackend()
    api = backend.client.api
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:

        def pair_is_working() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before it was interrupted:\n{proc.stdout.read()}")
            running = api.containers(filters={"label": f"cooperbench.run_name={run_name}"})
            kinds = sorted(c["Labels"].get("cooperbench.kind") for c in running)
            return kinds == ["git-server"] * 6 + ["sandbox"] * 12

        wait_for(pair_is_working, "the pairs' agent sandboxes and git servers", limit=240, interval=0.2)
        # 18 containers, the run's network and each git server's.
        assert len(backend.resources(run_name)) == 18 + 1 + 6
        proc.send_signal(signum)  # SIGTERM: what `timeout`, CI runners and `docker stop` send
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = backend.resources(run_name)
    backend.cleanup(run_name=run_name)  # never leave anything for the next test, even when failing
    assert left == [], f"left behind after Ctrl-C: {left}\n{output}"
    assert proc.returncode == 128 + signum.value, output
