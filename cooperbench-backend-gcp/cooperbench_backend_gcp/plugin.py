"""Registers the `gcp` backend with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_backends(register: Register) -> None:
    register(
        "gcp", "cooperbench_backend_gcp.backend:GCPBackend", description="Google Cloud VM sandboxes for CooperBench"
    )
