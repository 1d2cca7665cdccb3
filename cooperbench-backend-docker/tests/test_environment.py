"""DockerEnvironment (what agents drive) and the plugin registration."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cooperbench_backend_docker._sandbox import DockerSandbox
from cooperbench_backend_docker.backend import DockerBackend
from cooperbench_backend_docker.environment import DockerEnvironment

from cooperbench.backends import get_backend
from cooperbench.backends._context import ActiveRun, bind_run
from cooperbench.backends.base import RunLabels
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import SandboxError
from cooperbench.plugins import get_plugin


def test_the_docker_backend_is_registered_lazily():
    assert get_plugin("backend", "docker") is DockerBackend
    assert isinstance(get_backend("docker", cpus=1.5), DockerBackend)


def test_loading_the_plugin_does_not_import_the_docker_sdk():
    code = (
        "import sys, cooperbench_backend_docker.plugin, cooperbench_backend_docker;"
        "from cooperbench.plugins import get_host; get_host().names('backend');"
        "print('docker' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_environment_is_a_sandbox_environment_on_docker():
    assert issubclass(DockerEnvironment, SandboxEnvironment)
    assert DockerEnvironment.default_backend == "docker"


@pytest.mark.docker
def test_environment_outside_a_run_executes_commands_and_cleans_up(task_image):
    with DockerEnvironment(image=task_image, cwd="/workspace/repo", timeout=30, env={"WHO": "agent"}) as env:
        result = env.execute("pwd; echo $WHO")
        assert (result["output"], result["returncode"]) == ("/workspace/repo\nagent\n", 0)
        assert env.execute({"command": "exit 4"})["returncode"] == 4
        slow = env.execute("echo a; sleep 20", timeout=1)
        assert slow["timed_out"] and slow["output"] == "a\n"
        assert isinstance(env.backend, DockerBackend) and isinstance(env.sandbox, DockerSandbox)
        labels = env.backend.client.api.inspect_container(env.sandbox.container_id)["Config"]["Labels"]
        assert labels["cooperbench.run_name"] == "adhoc"
    env.cleanup()  # idempotent
    with pytest.raises(SandboxError):
        env.execute("true")


@pytest.mark.docker
def test_environment_inside_a_run_uses_the_runs_backend_labels_and_images(
    backend: DockerBackend, run: RunLabels, task_image: str
):
    active = ActiveRun(backend=backend, labels=run, images={"agent-visible:name": task_image}, backend_name="docker")
    with bind_run(active), DockerEnvironment(image="agent-visible:name") as env:
        assert env.backend is backend  # the run's own instance, not a new one
        assert env.execute("git rev-parse --is-inside-work-tree")["output"] == "true\n"
        assert backend.resources(run.run_name) == [
            f"container {env.sandbox.id} (sandbox of run {run.run_name})",
            f"network cb-run-{run.run_id} (of run {run.run_name})",
        ]
    assert backend.resources(run.run_name) == []
