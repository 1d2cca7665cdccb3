"""``MiniSweAgentRunner``: the ``mini_swe_agent`` agent's entry point for the harness.

Importing this module is cheap; LiteLLM and mini-swe-agent are imported when an agent runs
or when :meth:`MiniSweAgentRunner.preflight` is called.
"""

from __future__ import annotations

from typing import Any

from cooperbench.agents import AgentResult
from cooperbench_agent_miniswe.config import load_settings

__all__ = ["MiniSweAgentRunner"]


class MiniSweAgentRunner:
    """The ``mini_swe_agent`` agent (alias ``mini_swe_agent_v2``): mini-swe-agent on LiteLLM in a CooperBench sandbox.

    The harness calls :meth:`preflight` once per run before any sandbox starts, then
    :meth:`run` once per agent of each pair (two threads at once in coop).
    """

    @classmethod
    def preflight(
        cls, model_name: str, config: dict[str, Any] | None = None, *, agent_config: str | None = None
    ) -> None:
        """Check the configuration, the model and its credentials before a run starts.

        The runner's hook: called once per run, before sandboxes start, when the agent class
        has a ``preflight`` attribute.

        Args:
            model_name: the LiteLLM model name (``openai/gpt-4o``, ``vertex_ai/gemini-3-flash-preview``, ...).
            config: the configuration dict (sections ``agent``, ``model``, ``environment``; others ignored).
            agent_config: path of the ``--agent-config`` file, so errors can name it.

        Raises:
            ConfigError: an unknown or invalid config key, a model LiteLLM cannot route, a
                missing API key (the message names the variable to export), or credentials or
                a model name the provider rejects (one tiny test call; ``agent.check_model: false`` skips it).
            InfraError: the provider is down or rate limiting even after retries.
        """
        settings = load_settings(config, agent_config)
        from cooperbench_agent_miniswe.preflight import check_model

        check_model(model_name, settings)

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
        """Run mini-swe-agent on ``task`` in a sandbox of ``image``.

        The sandbox is a :class:`~cooperbench.backends.environment.SandboxEnvironment` on the
        run's backend. ``send_message`` commands go through the messaging connector; with
        ``git_enabled`` the sandbox gets the ``team`` remote. The patch is the sandbox's
        working tree against the base commit, whatever the model said.

        Args:
            task: the feature description(s).
            image: the task image.
            agent_id: this agent's id.
            model_name: the LiteLLM model name.
            agents: every agent id of the pair.
            comm_url: the messaging URL (``redis://...#ns`` or ``embedded://ns``).
            git_server_url: the run's shared git repository.
            git_enabled: whether to set up the ``team`` remote.
            messaging_enabled: whether the agent may message its teammates.
            config: the configuration dict.
            agent_config: path of the ``--agent-config`` YAML file.
            log_dir: where ``<agent_id>.log`` and ``<agent_id>_traj.json`` go.
            team_role: ``lead`` or ``member`` in a ``team`` run (the prompt says so).
            team: the agent's :class:`cooperbench.team.TeamClient` in a ``team`` run: the prompt
                explains the task list, scratchpad and requests (``coop-msg`` in the sandbox), and
                the task list is shown before each step when it changed (unless ``--team-no-auto-refresh``).
            messaging_endpoint: the agent's in-sandbox messaging endpoint (team runs); its
                connector is the one the agent uses, so the ledger has one step count per agent.

        Returns:
            The result: ``Submitted``, ``LimitsExceeded``, ``TimeExceeded``, or ``Error``
            (malformed model output, a failure of the agent), with patch, cost, steps and tokens.

        Raises:
            InfraError: the sandbox, the messaging transport, or the LLM provider failed
                (after retries); the runner records ``infra_error``.
            ConfigError: invalid configuration, or credentials the provider rejects.
        """
        settings = load_settings(config, agent_config)
        from cooperbench_agent_miniswe.session import run_agent

        return run_agent(
            task,
            image,
            agent_id=agent_id,
            model_name=model_name,
            agents=agents,
            comm_url=comm_url,
            git_server_url=git_server_url,
            git_enabled=git_enabled,
            messaging_enabled=messaging_enabled,
            settings=settings,
            log_dir=log_dir,
            team_role=team_role,
            team=team,
            messaging_endpoint=messaging_endpoint,
        )
