"""The agent contract: what the harness hands an agent and what it gets back."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class AgentResult:
    """What an agent returns for one run on one task.

    Attributes:
        status: ``"Submitted"`` when the agent finished, ``"Error"`` when it failed,
            ``"LimitsExceeded"`` and the like for other endings.
        patch: the agent's change as a unified git diff from the base commit.
        cost: total LLM cost in USD.
        steps: number of agent steps (model calls).
        messages: the conversation history (trajectory).
        error: what went wrong, when ``status`` is an error.
    """

    status: str
    patch: str = ""
    cost: float = 0.0
    steps: int = 0
    messages: list[Any] = field(default_factory=list)
    error: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    sent_messages: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class AgentRunner(Protocol):
    """Adapter between the harness and one agent framework.

    The harness instantiates the registered class with no arguments and calls :meth:`run`
    once per agent of a pair, possibly concurrently from several threads.
    """

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
    ) -> AgentResult:
        """Run the agent on a task.

        Args:
            task: the feature description(s) to implement.
            image: the task image; a backend turns it into a sandbox.
            agent_id: this agent's id (``agent1``, ``agent2``, ... in coop; ``solo``).
            model_name: the LLM to use.
            agents: every agent id of the pair, for messaging.
            comm_url: where the messaging bus is (``redis://...`` or ``embedded://<run>``).
            git_server_url: the per-run git remote, when git collaboration is on.
            git_enabled: whether to set up the ``team`` git remote.
            messaging_enabled: whether the agent may message its teammates.
            config: the merged configuration dictionary (``backend``, ``agent``, ``model``
                sections, and the harness's ``task`` and ``run`` context).
            agent_config: path of the ``--agent-config`` YAML file, if one was given.
            log_dir: the pair's log folder.

        Returns:
            An :class:`AgentResult`. Agents should catch their own failures and return
            ``status="Error"``; an exception escaping ``run`` is recorded as ``agent_error``.
        """
        ...
