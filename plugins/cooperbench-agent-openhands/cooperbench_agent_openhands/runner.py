"""``OpenHandsRunner``: the CooperBench agent contract around an OpenHands conversation.

The agent's sandbox comes from :class:`cooperbench.backends.environment.SandboxEnvironment`,
so it runs on whichever backend the run uses (local, docker, modal, gcp); its tools act
only there. The patch is the sandbox's working tree diff against the base commit, never
text from the model.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cooperbench.agents import AgentResult
from cooperbench.agents.mini_swe_agent.connectors import GitConnector
from cooperbench.agents.mini_swe_agent.connectors.messaging import MessagingConnector
from cooperbench.backends.base import REPO_DIR
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import InfraError
from cooperbench.patches import base_commit, working_tree_patch
from cooperbench_agent_openhands._sdk.conversation import Outcome, chat_messages, converse
from cooperbench_agent_openhands.config import check_api_key, parse_config
from cooperbench_agent_openhands.prompt import system_suffix, task_message
from cooperbench_agent_openhands.records import AgentLog, write_trajectory
from cooperbench_agent_openhands.session import SandboxSession

__all__ = ["OpenHandsRunner"]


def _sdk_version() -> str:
    try:
        return version("openhands-sdk")
    except PackageNotFoundError:
        return "unknown"


class OpenHandsRunner:
    """Runs the OpenHands agent (``openhands-sdk``) on a CooperBench task.

    Configuration (``--agent-config``): ``agent`` (``max_iterations``/``step_limit``,
    ``cost_limit``, ``temperature``, ``system_prompt``, ``command_timeout``,
    ``wait_timeout``), ``model`` (LiteLLM keyword arguments: ``api_base``, ``api_key``,
    ``max_tokens``, ``input_cost_per_token``, ...), ``environment`` (variables for every
    sandbox command). See :mod:`cooperbench_agent_openhands.config`.
    """

    @classmethod
    def preflight(cls, model_name: str, config: dict[str, Any] | None) -> None:
        """Check the configuration and the model's API key before any sandbox starts.

        Raises:
            ConfigError: an unknown key or bad value in the configuration, or no API key for the model.
        """
        check_api_key(model_name, parse_config(config))

    def run(
        self,
        task: str,
        image: str,
        *,
        agent_id: str = "agent",
        model_name: str = "gpt-4o",
        agents: list[str] | None = None,
        comm_url: str | None = None,
        git_server_url: str | None = None,
        git_enabled: bool = False,
        messaging_enabled: bool = True,
        config: dict[str, Any] | None = None,
        agent_config: str | None = None,
        log_dir: str | None = None,
        team_role: str | None = None,
        team: Any = None,
        messaging_endpoint: Any = None,
    ) -> AgentResult:
        """Run the agent on a task in a sandbox of ``image``; see :class:`cooperbench.agents.AgentRunner`.

        In a ``team`` run (``team_role`` and ``team``, a :class:`cooperbench.team.TeamClient`) the
        system message holds the team block (role, task list, requests, scratchpad, reached with
        ``coop-msg`` in the terminal), the task list is shown before a step when it changed
        (unless ``--team-no-auto-refresh``), and messages go through ``messaging_endpoint``'s
        connector, so the ledger counts one step per agent.

        Returns:
            The result; ``status`` is ``Submitted``, ``LimitsExceeded``, ``Stuck`` or ``Error``,
            and the patch is taken from the sandbox whatever the status.

        Raises:
            ConfigError: the configuration is invalid.
            InfraError: the sandbox, the message bus or the LLM provider failed (after the
                provider's retries); the log and trajectory are written first.
        """
        settings = parse_config(config)
        members = list(agents or [agent_id])
        teammates = [a for a in members if a != agent_id]
        with AgentLog(log_dir, agent_id) as log:
            log.write(f"openhands agent {agent_id}: model={model_name} image={image} sdk={_sdk_version()}")
            own_comm = messaging_endpoint is None
            if messaging_enabled and messaging_endpoint is not None and teammates:
                comm: MessagingConnector | None = messaging_endpoint.connector
            elif messaging_enabled and comm_url and teammates:
                comm = MessagingConnector(agent_id, members, comm_url)
            else:
                comm = None
            team_text = None
            if team is not None:
                from cooperbench.team import team_instructions

                team_text = team_instructions(team.info())
                log.write(f"team run: {agent_id} is the {team_role or team.role}")
            env: SandboxEnvironment | None = None
            try:
                env = SandboxEnvironment(image, cwd=REPO_DIR, env=settings.env or None)
                base = base_commit(env)
                git_text = None
                if git_enabled and git_server_url:
                    git = GitConnector(agent_id=agent_id, agents=members, server_url=git_server_url)
                    git.setup(env)
                    git_text = git.instructions()
                session = SandboxSession(
                    env=env,
                    agent_id=agent_id,
                    comm=comm,
                    team=team,
                    command_timeout=settings.command_timeout,
                    wait_timeout=settings.wait_timeout,
                )
                outcome = converse(
                    session,
                    settings,
                    model_name=model_name,
                    agent_id=agent_id,
                    first_message=task_message(task, repo_dir=REPO_DIR),
                    system_suffix=system_suffix(
                        agent_id=agent_id,
                        teammates=teammates,
                        repo_dir=REPO_DIR,
                        messaging=comm is not None,
                        git_instructions=git_text,
                        team_instructions=team_text,
                    ),
                    on_event=log.on_event,
                )
                log.write(f"finished: status={outcome.status} steps={session.steps} cost={outcome.cost:.6f}")
                messages = chat_messages(outcome.events)
                self._save(log_dir, agent_id, model_name, outcome, session, messages)
                if outcome.infra_error is not None:
                    raise outcome.infra_error
                patch = working_tree_patch(env, base)
                return AgentResult(
                    status=outcome.status,
                    patch=patch,
                    cost=outcome.cost,
                    steps=session.steps,
                    messages=messages,
                    error=outcome.error,
                    input_tokens=outcome.input_tokens,
                    output_tokens=outcome.output_tokens,
                    cache_read_tokens=outcome.cache_read_tokens,
                    cache_write_tokens=outcome.cache_write_tokens,
                    sent_messages=session.sent_messages,
                )
            except InfraError as exc:
                log.write(f"infrastructure failure: {type(exc).__name__}: {exc}")
                raise
            finally:
                if env is not None:
                    env.cleanup()
                if comm is not None and own_comm:
                    comm.close()

    @staticmethod
    def _save(
        log_dir: str | None,
        agent_id: str,
        model_name: str,
        outcome: Outcome,
        session: SandboxSession,
        messages: list[dict[str, Any]],
    ) -> None:
        if not log_dir:
            return
        info = {
            "agent_id": agent_id,
            "model": model_name,
            "status": outcome.status,
            "error": outcome.error or (str(outcome.infra_error) if outcome.infra_error else None),
            "steps": session.steps,
            "cost": outcome.cost,
            "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens,
            "cache_read_tokens": outcome.cache_read_tokens,
            "cache_write_tokens": outcome.cache_write_tokens,
            "sent_messages": session.sent_messages,
            "openhands_sdk_version": _sdk_version(),
        }
        write_trajectory(Path(log_dir) / f"{agent_id}_traj.json", info, messages, outcome.events)
