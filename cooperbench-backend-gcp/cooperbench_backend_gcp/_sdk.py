"""The third-party SDKs the GCP backend talks to, loaded lazily, and what to do when credentials are missing."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from cooperbench.errors import SandboxError

__all__ = ["CREDENTIALS_HINT", "GoogleCloudSDK", "label_value", "load_sdk"]

CREDENTIALS_HINT = (
    "Google Cloud credentials are missing or invalid: run `gcloud auth application-default login` (or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file), and set the project with the backend option "
    "project_id or GOOGLE_CLOUD_PROJECT / CLOUDSDK_CORE_PROJECT (zone: option zone or COOPERBENCH_GCP_ZONE)"
)


@dataclass
class GoogleCloudSDK:
    """The modules the backend uses; :mod:`cooperbench_backend_gcp.testing` builds a fake one.

    Attributes:
        compute_v1: ``google.cloud.compute_v1`` (``InstancesClient`` and the message types).
        batch_v1: ``google.cloud.batch_v1`` (``BatchServiceClient`` and the message types).
        auth: ``google.auth`` (``default()`` and ``exceptions``).
        api_exceptions: ``google.api_core.exceptions``.
        paramiko: the ``paramiko`` SSH library (``SSHClient``, ``RSAKey``, ``AutoAddPolicy``).
    """

    compute_v1: Any
    batch_v1: Any
    auth: Any
    api_exceptions: Any
    paramiko: Any


def load_sdk() -> GoogleCloudSDK:
    """Import the real SDKs (only when a GCP backend is created: ``import cooperbench`` never does).

    Raises:
        SandboxError: a package is missing; the message names the distribution to install.
    """
    try:
        import google.api_core.exceptions as api_exceptions
        import google.auth
        import google.auth.exceptions
        import paramiko
        from google.cloud import batch_v1, compute_v1
    except ImportError as exc:
        raise SandboxError(
            f"the gcp backend needs google-cloud-compute, google-cloud-batch and paramiko ({exc}): "
            "pip install cooperbench-backend-gcp"
        ) from exc
    return GoogleCloudSDK(compute_v1, batch_v1, google.auth, api_exceptions, paramiko)


def credentials(sdk: GoogleCloudSDK, project_id: str | None) -> tuple[Any, str]:
    """Application default credentials and the project to use.

    Raises:
        SandboxError: no credentials, or no project from the option, the environment or the credentials.
    """
    try:
        creds, adc_project = sdk.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except sdk.auth.exceptions.DefaultCredentialsError as exc:
        raise SandboxError(f"gcp: {CREDENTIALS_HINT} ({exc})") from exc
    project = (
        project_id or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT") or adc_project
    )
    if not project:
        raise SandboxError(
            "gcp: no Google Cloud project: pass the backend option project_id, or set GOOGLE_CLOUD_PROJECT"
        )
    return creds, project


def label_value(value: str) -> str:
    """``value`` as a GCE label value: lowercase letters, digits, ``-`` and ``_``, at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def host_label() -> str:
    return label_value(socket.gethostname())
