"""``GCPEnvironment``, provided by the cooperbench-backend-gcp distribution."""

from __future__ import annotations

from cooperbench.agents.mini_swe_agent.environments import load_environment_class

__all__ = ["GCPEnvironment"]

GCPEnvironment = load_environment_class(
    "cooperbench_backend_gcp.environment", "GCPEnvironment", "cooperbench-backend-gcp"
)
