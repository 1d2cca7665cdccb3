"""Registers the `docker` backend with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from typing import Any

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_backends(register: Register) -> None:
    register(
        "docker", "cooperbench_backend_docker.backend:DockerBackend", description="Docker sandboxes for CooperBench"
    )


@hookimpl
def cooperbench_register_commands(app: Any) -> None:
    """``cooperbench images ...`` (the typer app is imported only when the CLI starts; no docker import)."""
    from cooperbench_backend_docker.cli import images_app

    app.add_typer(images_app, name="images")
