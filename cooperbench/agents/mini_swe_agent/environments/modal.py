"""``ModalEnvironment``, provided by the cooperbench-backend-modal distribution."""

from __future__ import annotations

from cooperbench.agents.mini_swe_agent.environments import load_environment_class

__all__ = ["ModalEnvironment"]

ModalEnvironment = load_environment_class(
    "cooperbench_backend_modal.environment", "ModalEnvironment", "cooperbench-backend-modal"
)
