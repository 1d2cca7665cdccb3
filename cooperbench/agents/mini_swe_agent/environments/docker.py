"""``DockerEnvironment``, provided by the cooperbench-backend-docker distribution."""

from __future__ import annotations

from cooperbench.agents.mini_swe_agent.environments import load_environment_class

__all__ = ["DockerEnvironment"]

DockerEnvironment = load_environment_class(
    "cooperbench_backend_docker.environment", "DockerEnvironment", "cooperbench-backend-docker"
)
