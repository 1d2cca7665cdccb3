"""Registers the `docker` backend with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_backends(register: Register) -> None:
    register(
        "docker", "cooperbench_backend_docker.backend:DockerBackend", description="Docker sandboxes for CooperBench"
    )
