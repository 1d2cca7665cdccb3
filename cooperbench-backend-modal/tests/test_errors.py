"""Error paths of the Modal backend: credentials, images, options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cooperbench_backend_modal.backend import ModalBackend
from cooperbench_backend_modal.environment import ModalEnvironment
from cooperbench_backend_modal.testing import FakeModal

from cooperbench.backends.base import RunLabels
from cooperbench.dataset import Task, load_tasks
from cooperbench.errors import ConfigError, SandboxError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dataset"


@pytest.fixture()
def fake() -> Iterator[FakeModal]:
    sdk = FakeModal()
    yield sdk
    sdk.close()


@pytest.fixture()
def task() -> Task:
    return load_tasks(EXAMPLES)[0]


def test_missing_token_error_names_modal_token_new_and_env_vars() -> None:
    sdk = FakeModal(authenticated=False)
    try:
        with pytest.raises(SandboxError, match=r"modal token new.*MODAL_TOKEN_ID"):
            ModalBackend(sdk=sdk)
    finally:
        sdk.close()


def test_rejected_token_during_a_call_is_the_same_clear_error(fake: FakeModal, task: Task) -> None:
    backend = ModalBackend(sdk=fake)
    fake.authenticated = False  # the token was revoked after the backend started
    with pytest.raises(SandboxError, match=r"modal token new"):
        backend.resolve_image(task)


def test_registry_image_is_preferred_and_dockerfile_is_the_fallback(fake: FakeModal, task: Task) -> None:
    backend = ModalBackend(sdk=fake)
    image = backend.resolve_image(task)
    kinds = [recipe[0] for recipe in fake.builds]
    assert kinds[:2] == ["registry", "dockerfile"], "auto tries the upstream registry image first"
    assert fake.builds[0][1] == task.image_name()
    assert backend.resolve_image(task) == image, "resolved once per task"


def test_registry_only_fails_with_the_image_name_and_the_fix(fake: FakeModal, task: Task) -> None:
    backend = ModalBackend(sdk=fake, image_source="registry", image_prefix="example.invalid/cb-")
    with pytest.raises(SandboxError, match=r"example\.invalid/cb-.*image_prefix"):
        backend.resolve_image(task)


def test_registered_registry_image_is_used_without_building_the_dockerfile(fake: FakeModal, task: Task) -> None:
    fake.add_registry_image(task.image_name(), task.path / "Dockerfile")
    backend = ModalBackend(sdk=fake)
    backend.resolve_image(task)
    assert [recipe[0] for recipe in fake.builds] == ["registry"]


def test_broken_dockerfile_error_names_the_dockerfile(fake: FakeModal, tmp_path: Path, task: Task) -> None:
    broken = tmp_path / task.repo / task.path.name
    broken.mkdir(parents=True)
    (broken / "Dockerfile").write_text("FROM scratch\nRUN exit 9\n")
    bad = Task(task.repo, task.task_id, broken, task.feature_ids)
    with pytest.raises(SandboxError, match=r"Dockerfile.*exited with 9"):
        ModalBackend(sdk=fake, image_source="dockerfile").resolve_image(bad)


def test_image_without_repository_is_refused_with_the_path(fake: FakeModal) -> None:
    backend = ModalBackend(sdk=fake)
    image = fake.Image.debian_slim().build().object_id  # a bare image: no /workspace/repo
    with pytest.raises(SandboxError, match=r"/workspace/repo"):
        backend.create_sandbox(image, run=RunLabels("errors"))
    assert backend.resources("errors") == [], "the refused sandbox is not left running"


def test_invalid_option_is_config_error(fake: FakeModal) -> None:
    with pytest.raises(ConfigError, match="image_source"):
        ModalBackend(sdk=fake, image_source="somewhere")  # type: ignore[arg-type]


def test_sandbox_lifetime_cap_terminates_the_sandbox(fake: FakeModal, task: Task) -> None:
    backend = ModalBackend(sdk=fake, sandbox_lifetime=3)
    box = backend.create_sandbox(backend.resolve_image(task), run=RunLabels("lifetime"))
    assert box.exec("true").returncode == 0
    box.exec("sleep 4", timeout=10)
    with pytest.raises(SandboxError):
        box.exec("true")
    assert backend.resources("lifetime") == []


def test_environment_runs_on_the_modal_backend(fake: FakeModal, task: Task) -> None:
    backend = ModalBackend(sdk=fake)
    with ModalEnvironment(image=backend.resolve_image(task), timeout=60, backend=backend) as env:
        head = env.execute("git rev-parse --show-toplevel")
        assert head == {"output": "/workspace/repo\n", "returncode": 0, "timed_out": False}
        assert env.execute({"command": "sleep 5"}, timeout=1)["timed_out"] is True
    assert ModalEnvironment.default_backend == "modal"


def test_import_cooperbench_and_the_plugin_do_not_import_modal() -> None:
    code = (
        "import sys, cooperbench, cooperbench_backend_modal.plugin, cooperbench_backend_modal.environment; "
        "print('modal' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
