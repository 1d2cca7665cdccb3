"""The documented Environment import paths resolve to the installed backends and behave as documented."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.dataset import load_tasks
from cooperbench.errors import UnknownPluginError

DATASET = Path(__file__).resolve().parents[1] / "examples" / "dataset"


@pytest.mark.parametrize(
    ("module", "name", "backend"),
    [
        ("local", "LocalEnvironment", "local"),
        ("docker", "DockerEnvironment", "docker"),
        ("modal", "ModalEnvironment", "modal"),
        ("gcp", "GCPEnvironment", "gcp"),
    ],
)
def test_documented_environment_paths_resolve_to_the_backend_classes(module, name, backend):
    cls = getattr(importlib.import_module(f"cooperbench.agents.mini_swe_agent.environments.{module}"), name)
    assert issubclass(cls, SandboxEnvironment)
    assert cls.default_backend == backend
    params = inspect.signature(cls).parameters
    assert {"image", "cwd", "timeout"} <= set(params)
    if module == "gcp":
        assert {"project_id", "zone"} <= set(params)


def test_local_environment_behaves_as_the_documentation_shows():
    from cooperbench.agents.mini_swe_agent.environments.local import LocalEnvironment
    from cooperbench.backends import get_backend

    task = load_tasks(DATASET, repo="textkit_task")[0]
    template = get_backend("local").resolve_image(task)
    env = LocalEnvironment(image=template, cwd="/workspace/repo", timeout=600)
    try:
        head = env.execute("git rev-parse HEAD", timeout=10).get("output").strip()
        assert len(head) == 40
        env.execute({"command": "echo '# TODO' > solution.py"})
        assert env.execute("cat solution.py")["output"] == "# TODO\n"
    finally:
        env.cleanup()
    env.cleanup()  # idempotent


def test_a_missing_backend_distribution_is_named_with_its_install_line():
    from cooperbench.agents.mini_swe_agent.environments import load_environment_class

    with pytest.raises(UnknownPluginError, match="pip install cooperbench-backend-nowhere"):
        load_environment_class(
            "cooperbench_backend_nowhere.environment", "NowhereEnvironment", "cooperbench-backend-nowhere"
        )
