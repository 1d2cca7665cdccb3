"""Registers the `modal` backend with CooperBench (hookimpls only: nothing heavy is imported here)."""

from __future__ import annotations

from cooperbench import hookimpl
from cooperbench.hookspecs import Register


@hookimpl
def cooperbench_register_backends(register: Register) -> None:
    register("modal", "cooperbench_backend_modal.backend:ModalBackend", description="Modal sandboxes for CooperBench")
