"""The run pipeline: ``run()`` orchestrates coop and solo pairs, messaging, git, logs and resume."""

from __future__ import annotations

from cooperbench.runner._run import run

__all__ = ["run"]
