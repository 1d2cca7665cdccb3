"""Large evaluations on Google Cloud Batch: one job, one Batch task per evaluation.

Each Batch task runs the task image's own ``runner.sh`` (as ``runner.sh <args>`` in
``/workspace/repo``) after unpacking its patches into ``/patches``; the patches travel in the
task's environment (a base64 tar.gz, so keep each item's patches under a few hundred KiB).
Output and exit code land in a Cloud Storage folder mounted into every task::

    <results_gcs>/<item name>/output.txt
    <results_gcs>/<item name>/exit_code

A task whose ``runner.sh`` fails still succeeds as a Batch task (the exit code is the result),
so Batch retries only infrastructure failures. One job covers one task image (a Batch task
group has one container spec): submit one job per dataset task.
"""

from __future__ import annotations

import base64
import datetime
import io
import re
import secrets
import shlex
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cooperbench.errors import ConfigError, SandboxError
from cooperbench_backend_gcp._sdk import GoogleCloudSDK, credentials, label_value, load_sdk

__all__ = ["RESULTS_MOUNT", "BatchItem", "submit_batch_evaluation"]

RESULTS_MOUNT = "/srv/cooperbench"
_ITEM_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_SCRIPT = f"""
set -u
mkdir -p /patches
printf %s "$CB_FILES" | base64 -d | tar -xzf - -C /patches
out="{RESULTS_MOUNT}/$CB_ITEM"
mkdir -p "$out"
cd /workspace/repo
eval "runner.sh $CB_RUNNER_ARGS" >"$out/output.txt" 2>&1
echo $? >"$out/exit_code"
"""


@dataclass(frozen=True)
class BatchItem:
    """One evaluation: ``runner.sh <runner_args>`` with ``files`` placed in ``/patches`` first.

    Attributes:
        name: its results folder, e.g. ``textkit_task/1/f1_f2/feature1`` (letters, digits, ``._-``, ``/``).
        runner_args: arguments of ``runner.sh`` (``("tests1.patch", "merged.patch")``).
        files: file name in ``/patches`` -> contents.
    """

    name: str
    runner_args: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)


def _pack(files: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def submit_batch_evaluation(
    items: Sequence[BatchItem],
    *,
    image: str,
    results_gcs: str,
    project_id: str | None = None,
    region: str = "us-central1",
    job_id: str | None = None,
    machine_type: str = "e2-standard-2",
    parallelism: int = 50,
    max_run_seconds: int = 3600,
    labels: dict[str, str] | None = None,
    sdk: GoogleCloudSDK | None = None,
) -> str:
    """Submit one Batch job evaluating ``items`` in ``image``; return the job's resource name.

    Args:
        items: the evaluations, one Batch task each.
        image: the task image, in a registry Batch can pull from (e.g. Artifact Registry).
        results_gcs: ``gs://bucket/folder`` receiving each item's output and exit code.
        project_id: the project (else GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, the credentials').
        region: the Batch location.
        job_id: the job's id (a new ``cooperbench-eval-<hex>`` by default).
        machine_type: machine type of Batch's VMs.
        parallelism: tasks running at once.
        max_run_seconds: time limit of one task.
        labels: extra job labels (values made GCE-label safe).
        sdk: the SDKs, or a fake one (:mod:`cooperbench_backend_gcp.testing`).

    Raises:
        ConfigError: no items, a bad item name, or ``results_gcs`` is not ``gs://bucket/...``.
        SandboxError: no credentials, or Batch refused the job.
    """
    if not items:
        raise ConfigError("submit_batch_evaluation: no items to evaluate")
    for item in items:
        if not _ITEM_NAME.match(item.name) or {".", ".."} & set(item.name.split("/")):
            raise ConfigError(
                f"batch item name {item.name!r}: use letters, digits, '._-' and '/' only (no '.' or '..' parts)"
            )
    if not results_gcs.startswith("gs://") or len(results_gcs) <= len("gs://"):
        raise ConfigError(f"results_gcs={results_gcs!r}: give a Cloud Storage folder as gs://bucket/folder")
    sdk = sdk if sdk is not None else load_sdk()
    creds, project = credentials(sdk, project_id)
    b = sdk.batch_v1
    runnable = b.Runnable(
        container=b.Runnable.Container(
            image_uri=image, entrypoint="bash", commands=["-c", _SCRIPT], volumes=[f"{RESULTS_MOUNT}:{RESULTS_MOUNT}"]
        )
    )
    task_spec = b.TaskSpec(
        runnables=[runnable],
        volumes=[b.Volume(gcs=b.GCS(remote_path=results_gcs.removeprefix("gs://")), mount_path=RESULTS_MOUNT)],
        max_run_duration=datetime.timedelta(seconds=max_run_seconds),
        max_retry_count=2,
    )
    group = b.TaskGroup(
        task_count=len(items),
        parallelism=max(1, min(parallelism, len(items))),
        task_spec=task_spec,
        task_environments=[
            b.Environment(
                variables={"CB_ITEM": i.name, "CB_RUNNER_ARGS": shlex.join(i.runner_args), "CB_FILES": _pack(i.files)}
            )
            for i in items
        ],
    )
    job = b.Job(
        task_groups=[group],
        allocation_policy=b.AllocationPolicy(
            instances=[
                b.AllocationPolicy.InstancePolicyOrTemplate(
                    policy=b.AllocationPolicy.InstancePolicy(machine_type=machine_type)
                )
            ]
        ),
        labels={"cooperbench": "eval", **{k: label_value(v) for k, v in (labels or {}).items()}},
        logs_policy=b.LogsPolicy(destination=b.LogsPolicy.Destination.CLOUD_LOGGING),
    )
    client = b.BatchServiceClient(credentials=creds)
    try:
        created: Any = client.create_job(
            parent=f"projects/{project}/locations/{region}",
            job=job,
            job_id=job_id or f"cooperbench-eval-{secrets.token_hex(6)}",
        )
    except (sdk.api_exceptions.GoogleAPICallError, sdk.auth.exceptions.GoogleAuthError) as exc:
        raise SandboxError(f"gcp batch: cannot submit the evaluation job in {project}/{region}: {exc}") from exc
    return str(created.name)
