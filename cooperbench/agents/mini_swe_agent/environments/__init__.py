"""Compatibility import paths for sandbox environments.

``cooperbench.agents.mini_swe_agent.environments.<backend>.<Name>Environment`` resolves to
the installed backend distribution's class, or fails with the ``pip install`` line.
"""

from __future__ import annotations

import importlib
from typing import Any

from cooperbench.errors import UnknownPluginError


def load_environment_class(module: str, attr: str, distribution: str) -> Any:
    """Import ``module:attr`` from a backend distribution, or explain what to install."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name.split(".")[0]):
            raise UnknownPluginError(
                f"{attr} needs the {distribution} distribution, which is not installed: pip install {distribution}"
            ) from exc
        raise
