"""Batch evaluation: one Cloud Batch job whose tasks each run the task's runner.sh, run on the fake."""

from __future__ import annotations

import pytest
from cooperbench_backend_gcp.batch import BatchItem, submit_batch_evaluation
from cooperbench_backend_gcp.testing import FakeGoogleCloud

from cooperbench.dataset import Task
from cooperbench.errors import ConfigError, SandboxError

IMAGE = "us-docker.pkg.dev/demo/cooperbench/textkit:task1"


def _items(task: Task) -> list[BatchItem]:
    first, second = task.feature_ids[:2]
    return [
        BatchItem(
            f"{task.repo}/{task.task_id}/{kind}/feature{feature}",
            ("tests.patch", "feature.patch"),
            {
                "tests.patch": task.feature_file(feature, "tests.patch").read_bytes(),
                "feature.patch": task.feature_file(feature, patch).read_bytes(),
            },
        )
        for kind, feature, patch in (
            ("gold", first, "feature.patch"),
            ("gold", second, "feature.patch"),
            ("no-feature", first, "tests.patch"),
        )
    ]


def test_one_job_with_a_task_per_item_runs_runner_sh(cloud: FakeGoogleCloud, task: Task) -> None:
    cloud.add_registry_image(IMAGE, task.path / "Dockerfile")
    items = _items(task)
    name = submit_batch_evaluation(
        items,
        image=IMAGE,
        results_gcs="gs://demo-bucket/run-1",
        project_id="demo",
        region="europe-west1",
        job_id="eval-1",
        labels={"run": "My Run"},
        sdk=cloud.sdk,
    )
    assert name == "projects/demo/locations/europe-west1/jobs/eval-1"
    job = cloud.jobs[name]
    (group,) = job.task_groups
    assert group.task_count == 3 and job.labels["run"] == "my-run"
    assert group.task_spec.volumes[0].gcs.remote_path == "demo-bucket/run-1"

    assert cloud.run_batch_job(name) == [0, 0, 0], "runner.sh failing is a result, not a failed Batch task"
    results = cloud.gcs_dir / "demo-bucket" / "run-1"
    codes = [(results / item.name / "exit_code").read_text().strip() for item in items]
    assert codes[:2] == ["0", "0"], (results / items[0].name / "output.txt").read_text()[-2000:]
    assert codes[2] != "0", "the tests without the feature fail"
    assert "passed" in (results / items[0].name / "output.txt").read_text()


def test_bad_inputs_are_config_errors(cloud: FakeGoogleCloud, task: Task) -> None:
    with pytest.raises(ConfigError, match="gs://bucket/folder"):
        submit_batch_evaluation(_items(task), image=IMAGE, results_gcs="/local/dir", sdk=cloud.sdk)
    with pytest.raises(ConfigError, match="no items"):
        submit_batch_evaluation([], image=IMAGE, results_gcs="gs://b/x", sdk=cloud.sdk)
    with pytest.raises(ConfigError, match="item name"):
        submit_batch_evaluation([BatchItem("../escape", ("t",))], image=IMAGE, results_gcs="gs://b/x", sdk=cloud.sdk)


def test_missing_credentials_error_names_gcloud_login(task: Task) -> None:
    cloud = FakeGoogleCloud(authenticated=False)
    try:
        with pytest.raises(SandboxError, match="gcloud auth application-default login"):
            submit_batch_evaluation(_items(task), image=IMAGE, results_gcs="gs://b/x", sdk=cloud.sdk)
    finally:
        cloud.close()
