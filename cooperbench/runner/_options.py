"""Validated options of one run, the run name, and the agent configuration."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cooperbench.errors import ConfigError
from cooperbench.messaging._url import redact as redact_url
from cooperbench.messaging.faults import MessageFaults
from cooperbench.settings import load_yaml_mapping
from cooperbench.team import TeamFeatures

CONFIG_SECTIONS = ("backend", "agent", "model", "environment")


@dataclass
class RunOptions:
    run_name: str
    setting: str
    agent: str
    model_name: str
    backend: str
    dataset_dir: Path
    logs_dir: Path
    subset: str | None = None
    repo: str | None = None
    task_id: int | None = None
    features: list[int] | None = None
    concurrency: int = 20
    force: bool = False
    redis_url: str = "redis://localhost:6379"
    git_enabled: bool = False
    messaging_enabled: bool = True
    auto_eval: bool = True
    eval_concurrency: int = 10
    agent_config_path: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    agent_timeout: float | None = None
    attempts: int = 1
    repeats: int = 1
    messaging_faults: MessageFaults | None = None
    image_prefix: str = "akhatua/cooperbench-"
    policy: str = "upstream"  # the scoring policy of the run's evaluations (cooperbench.evaluation.policy)
    team: TeamFeatures | None = None  # the team setting's pieces (setting "team" only)

    def describe(self) -> dict[str, Any]:
        """The options as recorded in ``config.json``."""
        return {
            "run_name": self.run_name,
            "setting": self.setting,
            "agent": self.agent,
            "model": self.model_name,
            "backend": self.backend,
            "dataset_dir": str(self.dataset_dir),
            "logs_dir": str(self.logs_dir),
            "subset": self.subset,
            "repo": self.repo,
            "task_id": self.task_id,
            "features": self.features,
            "concurrency": self.concurrency,
            "redis_url": redact_url(self.redis_url),
            "git_enabled": self.git_enabled,
            "messaging_enabled": self.messaging_enabled,
            "messaging_faults": self.messaging_faults.as_dict() if self.messaging_faults is not None else None,
            "auto_eval": self.auto_eval,
            "eval_concurrency": self.eval_concurrency,
            "agent_config": self.agent_config_path,
            "config": redact(self.config),
            "agent_timeout": self.agent_timeout,
            "attempts": self.attempts,
            "repeats": self.repeats,
            "policy": self.policy,
            "team_features": self.team.as_dict() if self.team is not None else None,
        }


_SECRET_KEY = re.compile(r"(api_?key|token|secret|password)", re.IGNORECASE)


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with values of secret-looking keys replaced, for logs and config.json."""
    if isinstance(obj, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEY.search(k) else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def load_agent_config(path: str | None, config: dict[str, Any] | None) -> dict[str, Any]:
    """Merge the ``--agent-config`` YAML (read once) with a ``config`` dict (which wins).

    Raises:
        ConfigError: the file is unreadable or invalid, or a top-level key is not one of
            ``backend``, ``agent``, ``model``, ``environment`` (the message names it and the file).
    """
    merged: dict[str, Any] = {}
    sources: list[tuple[str, dict[str, Any]]] = []
    if path:
        sources.append((str(path), load_yaml_mapping(path, "agent config")))
    if config:
        sources.append(("the config argument", copy.deepcopy(config)))
    for where, data in sources:
        for key, value in data.items():
            if key not in CONFIG_SECTIONS:
                raise ConfigError(
                    f"{where}: unknown top-level key {key!r}; expected one of {', '.join(CONFIG_SECTIONS)}"
                )
            if key == "backend" and isinstance(value, str):
                value = {"name": value}
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: `{key}` must be a mapping, got {type(value).__name__}")
            merged.setdefault(key, {}).update(value)
    return merged


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def generate_run_name(
    *,
    setting: str,
    agent: str,
    model_name: str,
    subset: str | None,
    repo: str | None,
    task_id: int | None,
    features: list[int] | None,
    git_enabled: bool,
    messaging_enabled: bool,
    config: dict[str, Any],
    messaging_faults: MessageFaults | None = None,
    policy: str = "upstream",
    team: TeamFeatures | None = None,
) -> str:
    """A name from every option that changes the experiment, so two experiments never share a folder."""
    parts = [setting, agent, model_name]
    if subset:
        parts.append(Path(subset).stem)
    if repo:
        parts.append(repo)
    if task_id is not None:
        parts.append(f"t{task_id}")
    if features:
        parts.append("f" + "-".join(str(f) for f in sorted(features)))
    if git_enabled:
        parts.append("git")
    if not messaging_enabled:
        parts.append("nomsg")
    if messaging_faults is not None:
        parts.append("mf-" + messaging_faults.spec().replace("=", "").replace(",", "-"))
    if policy != "upstream":  # the scoring policy changes the results (the default adds nothing)
        parts.append(f"policy-{policy}")
    if team is not None and team.disabled():  # --team-no-task-list -> team-no-task-list
        parts.extend(flag.lstrip("-") for flag in team.flags())
    if config:
        digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
        parts.append(f"cfg{digest}")
    return "_".join(_slug(p) for p in parts)
