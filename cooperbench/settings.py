"""Defaults, from (highest first) arguments, environment variables, a config file, built-ins.

The config file is YAML: ``$COOPERBENCH_CONFIG``, else ``./cooperbench.yaml``, else
``~/.config/cooperbench/config.yaml``. Its keys are the :class:`Defaults` fields::

    backend: docker
    model: gpt-4o
    dataset_dir: ~/data/cooperbench/dataset

Each field can also be set as ``COOPERBENCH_<FIELD>`` (e.g. ``COOPERBENCH_BACKEND=docker``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from cooperbench.errors import ConfigError

__all__ = ["Defaults", "config_file_path", "defaults", "load_yaml_mapping"]


class Defaults(BaseModel):
    """Settings a user may fix once for every run."""

    model_config = ConfigDict(extra="forbid")

    backend: str = "local"
    """Sandbox backend."""
    agent: str = "mini_swe_agent"
    """Agent plugin."""
    model: str = "vertex_ai/gemini-3-flash-preview"
    """LLM model name."""
    redis_url: str = "redis://localhost:6379"
    """Where messaging looks for Redis first."""
    dataset_dir: str = "dataset"
    """The dataset folder."""
    logs_dir: str = "logs"
    """Where run folders are written."""
    image_prefix: str = "akhatua/cooperbench-"
    """Prefix of task image names."""


def config_file_path() -> Path | None:
    explicit = os.environ.get("COOPERBENCH_CONFIG")
    if explicit:
        return Path(explicit)
    for candidate in (Path("cooperbench.yaml"), Path.home() / ".config" / "cooperbench" / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_yaml_mapping(path: str | Path, what: str = "configuration") -> dict[str, Any]:
    """Read a YAML file that must hold a mapping.

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or not a mapping; the message names the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML in {what}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must be a mapping of keys to values, got {type(data).__name__}")
    return data


@lru_cache(maxsize=1)
def _file_defaults() -> dict[str, Any]:
    path = config_file_path()
    if path is None:
        return {}
    if not path.is_file():
        raise ConfigError(f"{path}: COOPERBENCH_CONFIG names a file that does not exist")
    return load_yaml_mapping(path, "CooperBench config file")


def defaults() -> Defaults:
    """The effective defaults.

    Raises:
        ConfigError: the config file has an unknown key or a bad value (the message names both).
    """
    values: dict[str, Any] = dict(_file_defaults())
    for field in Defaults.model_fields:
        env = os.environ.get(f"COOPERBENCH_{field.upper()}")
        if env:
            values[field] = env
    try:
        return Defaults(**values)
    except ValidationError as exc:
        where = config_file_path() or "environment"
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: invalid CooperBench settings: {problems}") from exc
