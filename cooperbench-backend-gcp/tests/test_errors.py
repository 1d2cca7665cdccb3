"""Error paths and options of the GCP backend: credentials, project, zone, labels, images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cooperbench_backend_gcp.backend import GCPBackend
from cooperbench_backend_gcp.environment import GCPEnvironment
from cooperbench_backend_gcp.testing import FakeGoogleCloud

from cooperbench.backends.base import RunLabels
from cooperbench.dataset import Task
from cooperbench.errors import ConfigError, SandboxError


@pytest.fixture(autouse=True)
def _no_ambient_project(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "COOPERBENCH_GCP_ZONE"):
        monkeypatch.delenv(name, raising=False)


def test_missing_credentials_error_names_gcloud_login_and_env_vars() -> None:
    cloud = FakeGoogleCloud(authenticated=False)
    try:
        with pytest.raises(SandboxError, match=r"gcloud auth application-default login.*GOOGLE_CLOUD_PROJECT"):
            GCPBackend(sdk=cloud.sdk)
    finally:
        cloud.close()


def test_missing_project_error_names_the_option_and_variable() -> None:
    cloud = FakeGoogleCloud(project=None)
    try:
        with pytest.raises(SandboxError, match=r"project_id.*GOOGLE_CLOUD_PROJECT"):
            GCPBackend(sdk=cloud.sdk)
    finally:
        cloud.close()


def test_project_and_zone_come_from_options_then_environment(
    cloud: FakeGoogleCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert GCPBackend(sdk=cloud.sdk).spec.project == "fake-project", "the credentials' project is the last resort"
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "from-gcloud")
    monkeypatch.setenv("COOPERBENCH_GCP_ZONE", "asia-east1-c")
    backend = GCPBackend(sdk=cloud.sdk)
    assert (backend.spec.project, backend.spec.zone) == ("from-gcloud", "asia-east1-c")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert GCPBackend(sdk=cloud.sdk).spec.project == "from-env"
    explicit = GCPBackend(sdk=cloud.sdk, project_id="explicit", zone="us-east1-b")
    assert (explicit.spec.project, explicit.spec.zone) == ("explicit", "us-east1-b")


def test_vms_carry_run_labels_and_a_lifetime_cap(cloud: FakeGoogleCloud, task: Task) -> None:
    backend = GCPBackend(sdk=cloud.sdk, sandbox_lifetime=5400)
    run = RunLabels("My Run.v2")
    box = backend.create_sandbox(backend.resolve_image(task), run=run)
    try:
        (vm,) = [vm.resource for vm in cloud.vms.values()]
        assert vm.labels["cooperbench-run-name"] == "my-run-v2", "label values are made GCE-safe"
        assert vm.labels["cooperbench-run-id"] == run.run_id and vm.labels["cooperbench-purpose"] == "agent"
        assert vm.scheduling.max_run_duration.seconds == 5400
        assert backend.resources("My Run.v2") and backend.resources("my-run-v2") == [], "the exact name is kept"
    finally:
        box.cleanup()
    assert cloud.vms == {}, "cleanup deletes the VM"


def test_dockerfile_only_without_dockerfile_names_the_path(cloud: FakeGoogleCloud, tmp_path: Path, task: Task) -> None:
    empty = Task(task.repo, task.task_id, tmp_path, task.feature_ids)
    with pytest.raises(SandboxError, match=str(tmp_path / "Dockerfile")):
        GCPBackend(sdk=cloud.sdk, image_source="dockerfile").resolve_image(empty)


def test_registry_image_is_pulled_when_it_exists(cloud: FakeGoogleCloud, task: Task) -> None:
    cloud.add_registry_image(task.image_name(), task.path / "Dockerfile")
    backend = GCPBackend(sdk=cloud.sdk, image_source="registry")
    image = backend.resolve_image(task)
    assert image == task.image_name()
    box = backend.create_sandbox(image, run=RunLabels("pull"))
    try:
        assert box.exec("git rev-parse --show-toplevel").output.strip() == "/workspace/repo"
    finally:
        box.cleanup()


def test_failed_vm_setup_leaves_no_vm(cloud: FakeGoogleCloud) -> None:
    backend = GCPBackend(sdk=cloud.sdk)
    with pytest.raises(SandboxError, match="pull access denied"):
        backend.create_sandbox("example.invalid/nothing:here", run=RunLabels("broken"))
    assert cloud.vms == {} and backend.resources("broken") == []


def test_invalid_option_is_config_error(cloud: FakeGoogleCloud) -> None:
    with pytest.raises(ConfigError, match="image_source"):
        GCPBackend(sdk=cloud.sdk, image_source="elsewhere")  # type: ignore[arg-type]


def test_environment_passes_project_and_zone_to_the_backend(
    cloud: FakeGoogleCloud, task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = GCPBackend(sdk=cloud.sdk, project_id="p1", zone="europe-west4-a")
    with GCPEnvironment(image=backend.resolve_image(task), timeout=60, backend=backend) as env:
        assert env.execute("pwd") == {"output": "/workspace/repo\n", "returncode": 0, "timed_out": False}
        assert [key[:2] for key in cloud.vms] == [("p1", "europe-west4-a")]
    assert cloud.vms == {}
    from cooperbench.plugins import get_plugin

    assert get_plugin("backend", "gcp") is GCPBackend
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    with pytest.raises(SandboxError, match="gcloud auth application-default login"):
        # Outside a run the environment builds its own backend from project_id/zone (real SDK, no credentials here).
        GCPEnvironment(image="x", project_id="p2", zone="us-west1-a")


def test_import_cooperbench_and_the_plugin_do_not_import_google_cloud() -> None:
    code = (
        "import sys, cooperbench, cooperbench_backend_gcp.plugin, cooperbench_backend_gcp.environment; "
        "print(sorted(m for m in sys.modules if m.startswith(('google', 'paramiko'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
