"""One agent's run on one task: sandbox, connectors, model, agent loop, patch, logs."""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cooperbench.agents import AgentResult
from cooperbench.backends.base import REPO_DIR
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import ConfigError, InfraError
from cooperbench.outcomes import Outcome, exception_outcome
from cooperbench.patches import base_commit, patch_bytes, working_tree_patch
from cooperbench_agent_miniswe.agent import CooperbenchAgent
from cooperbench_agent_miniswe.compaction import default_threshold
from cooperbench_agent_miniswe.config import Settings
from cooperbench_agent_miniswe.environment import SandboxAdapter
from cooperbench_agent_miniswe.llm import build_model

__all__ = ["load_prompts", "run_agent"]

_counter = itertools.count()


@functools.lru_cache(maxsize=1)
def load_prompts() -> dict[str, str]:
    """The packaged prompt templates (``prompts.yaml``)."""
    text = resources.files("cooperbench_agent_miniswe").joinpath("prompts.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


@contextlib.contextmanager
def agent_log(log_dir: str | None, agent_id: str) -> Iterator[logging.Logger]:
    """A logger writing the human-readable ``<log_dir>/<agent_id>.log`` (retries, commands, messages)."""
    log = logging.getLogger(f"cooperbench_agent_miniswe.run.{agent_id}.{next(_counter)}")
    log.setLevel(logging.INFO)
    handler: logging.Handler | None = None
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(Path(log_dir) / f"{agent_id}.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.propagate = False  # two agents run at once: each has its own file, the console stays quiet
    try:
        yield log
    finally:
        if handler is not None:
            log.removeHandler(handler)
            handler.close()
        logging.Logger.manager.loggerDict.pop(log.name, None)  # one logger per run: do not accumulate them


def _status(info: dict[str, Any], agent: CooperbenchAgent) -> tuple[str, str | None]:
    exit_status = str(info.get("exit_status") or "")
    if exit_status in ("Submitted", "LimitsExceeded", "TimeExceeded"):
        return exit_status, None
    if exit_status == "RepeatedFormatError":
        errors = [m for m in agent.messages if m.get("extra", {}).get("interrupt_type") == "FormatError"]
        last = str(errors[-1].get("content", ""))[:500] if errors else ""
        return "Error", f"the model's answers were malformed {len(errors)} times, the last ones in a row: {last}"
    return (
        "Error",
        f"{exit_status or 'unknown exit'}: {info.get('exception_str') or info.get('submission') or ''}".strip(),
    )


def _attach_partial(
    exc: BaseException,
    env: SandboxEnvironment,
    base: str,
    agent: CooperbenchAgent,
    model: Any,
    adapter: SandboxAdapter,
    traj_path: Path | None,
) -> None:
    """Save the trajectory and hand the harness what the agent did and spent before ``exc`` (``exc.partial_result``).

    The provider billed the calls that were answered; the working tree is taken while the
    sandbox still answers (after a timeout the harness destroyed it and took the diff itself).
    """
    error = f"{type(exc).__name__}: {exc}"
    patch = ""
    with contextlib.suppress(Exception):
        patch = working_tree_patch(env, base)
    agent.save(traj_path, {"info": {"cooperbench": {"status": "Error", "error": error, "patch": patch}}})
    stats = model.stats
    exc.partial_result = AgentResult(  # type: ignore[attr-defined]
        status="Error",
        patch=patch,
        cost=agent.cost,
        steps=stats.calls,  # answered calls: a call that failed every retry was not a step
        messages=agent.messages,
        error=error,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        cache_read_tokens=stats.cache_read_tokens,
        cache_write_tokens=stats.cache_write_tokens,
        sent_messages=adapter.sent_messages,
    )


def run_agent(
    task: str,
    image: str,
    *,
    agent_id: str,
    model_name: str,
    agents: list[str] | None,
    comm_url: str | None,
    git_server_url: str | None,
    git_enabled: bool,
    messaging_enabled: bool,
    settings: Settings,
    log_dir: str | None,
    team_role: str | None = None,
    team: Any = None,
    messaging_endpoint: Any = None,
) -> AgentResult:
    """Run mini-swe-agent on ``task`` in a sandbox of ``image`` (see ``MiniSweAgentRunner.run``).

    Raises:
        InfraError: the sandbox, the messaging transport or the LLM provider failed (after retries).
        ConfigError: the configuration is invalid or the provider rejected the credentials.
    """
    from cooperbench.messaging import MessagingConnector

    prompts = load_prompts()
    members = list(agents or [agent_id])
    if agent_id not in members:
        members.insert(0, agent_id)
    teammates = [a for a in members if a != agent_id]
    traj_path = Path(log_dir) / f"{agent_id}_traj.json" if log_dir else None
    with agent_log(log_dir, agent_id) as log, contextlib.ExitStack() as stack:
        log.info("%s starts: model %s, image %s, teammates %s", agent_id, model_name, image, teammates or "none")
        env = SandboxEnvironment(image, cwd=REPO_DIR, env=settings.environment, timeout=settings.agent.command_timeout)
        stack.callback(env.cleanup)
        base = base_commit(env)
        comm = None
        if messaging_enabled and messaging_endpoint is not None and teammates:
            comm = messaging_endpoint.connector  # the endpoint's: `coop-msg` in the sandbox counts the same steps
        elif messaging_enabled and comm_url and teammates:
            comm = MessagingConnector(agent_id, members, comm_url)
            stack.callback(comm.close)
        team_text = ""
        if team is not None:
            from cooperbench.team import team_instructions

            team_text = team_instructions(team.info())
            log.info("team run: %s is the %s", agent_id, team_role or team.role)
        git_instructions = ""
        if git_enabled and git_server_url:
            from cooperbench.agents.mini_swe_agent.connectors import GitConnector

            git = GitConnector(agent_id, members, git_server_url)
            git.setup(env)
            git_instructions = git.instructions()
            log.info("git remote `team` set up (%s)", git_server_url)
        model = build_model(
            model_name,
            settings,
            log,
            observation_template=prompts["observation_template"],
            format_error_template=prompts[f"format_error_template_{settings.agent.action_format}"],
        )
        adapter = SandboxAdapter(
            env,
            log=log,
            comm=comm,
            timeout=settings.agent.command_timeout,
            message_wait_timeout=settings.agent.message_wait_timeout,
        )
        cfg = settings.agent
        agent = CooperbenchAgent(
            model,
            adapter,
            settings=settings,
            log=log,
            comm=comm,
            team=team,
            threshold=cfg.compaction_threshold or default_threshold(model_name),
            summary_prompt=prompts["summary_prompt"],
            system_template=cfg.system_prompt or prompts["system_template"],
            instance_template=cfg.instance_template or prompts["instance_template"],
            step_limit=cfg.step_limit,
            cost_limit=cfg.cost_limit,
            wall_time_limit_seconds=cfg.wall_time_limit_seconds,
            max_consecutive_format_errors=cfg.max_consecutive_format_errors,
            output_path=traj_path,
        )
        status, error = "Error", None
        try:
            info = agent.run(
                task,
                agent_id=agent_id,
                agents=members,
                teammates=teammates,
                team_role=team_role or "",
                team_instructions=team_text,
                coop=bool(teammates),
                messaging_enabled=comm is not None,
                git_enabled=bool(git_instructions),
                git_instructions=git_instructions,
                action_format=cfg.action_format,
                message_wait_timeout=cfg.message_wait_timeout,
                command_timeout=cfg.command_timeout,
            )
            status, error = _status(info, agent)
        except (InfraError, ConfigError) as exc:
            log.exception("%s stopped by an infrastructure or configuration failure", agent_id)
            _attach_partial(exc, env, base, agent, model, adapter, traj_path)
            raise
        except Exception as exc:  # the agent's own failure is a result, not a crash of the harness
            if exception_outcome(exc) is Outcome.INFRA_ERROR:  # a reset connection, a network timeout
                log.exception("%s stopped by a network or provider failure", agent_id)
                _attach_partial(exc, env, base, agent, model, adapter, traj_path)
                raise
            log.exception("%s failed", agent_id)
            status, error = "Error", f"{type(exc).__name__}: {exc}"
        patch = working_tree_patch(env, base)
        stats = model.stats
        log.info(
            "%s finished: status %s, %d steps, $%.6f, %d input / %d output tokens, %d retries, patch %d bytes",
            agent_id, status, agent.n_calls, agent.cost, stats.input_tokens, stats.output_tokens, stats.retries,
            len(patch_bytes(patch)),
        )  # fmt: skip
        agent.save(
            traj_path,
            {"info": {"cooperbench": {"status": status, "error": error, "base_commit": base, "patch": patch}}},
        )
        return AgentResult(
            status=status,
            patch=patch,
            cost=agent.cost,
            steps=agent.n_calls,
            messages=agent.messages,
            error=error,
            input_tokens=stats.input_tokens,
            output_tokens=stats.output_tokens,
            cache_read_tokens=stats.cache_read_tokens,
            cache_write_tokens=stats.cache_write_tokens,
            sent_messages=adapter.sent_messages,
        )
