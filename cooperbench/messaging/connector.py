"""``MessagingConnector``: how one agent sends and receives messages."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from cooperbench.errors import ConfigError
from cooperbench.messaging._url import open_bus
from cooperbench.messaging.base import MessageBus, MessagingUsageError

__all__ = ["MessagingConnector"]


class MessagingConnector:
    """One agent's end of the message bus of its run.

    ``url`` picks the transport and the namespace: ``redis://host:6379/0#<namespace>`` for a
    Redis server (agents may then live in any process or sandbox that reaches it), or
    ``embedded://<namespace>`` for the in-process bus (agents are threads of the harness).
    Every message is also recorded in the namespace's ledger with the sender's step at send
    and the receiver's step at delivery; tell the connector the agent's step with
    :meth:`set_step`.

    Example::

        comm = MessagingConnector("agent1", ["agent1", "agent2"], "redis://localhost:6379#run:ab12")
        comm.send("agent2", "I'm taking the API layer")
        for msg in comm.receive():
            print(msg["from"], msg["text"])

    Args:
        agent_id: this agent's id.
        agents: the ids of every agent of the run, this one included.
        url: the messaging URL (``comm_url`` handed to the agent).
        bus: an open bus to use instead of opening ``url`` (the connector then does not close it).

    Raises:
        ConfigError: ``url`` is malformed, ``agents`` is empty, or ``agent_id`` is not in ``agents``.
        UnknownPluginError: no connector plugin handles the URL's scheme.
    """

    def __init__(
        self, agent_id: str, agents: Sequence[str] | None, url: str | None = None, *, bus: MessageBus | None = None
    ) -> None:
        team = list(agents or ())
        if agent_id not in team:
            raise ConfigError(
                f"MessagingConnector: agent {agent_id!r} is not among the run's agents {team}; "
                f"pass agents=[...] listing every agent id, this one included"
            )
        if bus is None:
            if not url:
                raise ConfigError("MessagingConnector needs url= (e.g. redis://localhost:6379#<namespace>) or bus=")
            bus = open_bus(url)
            self._owns_bus = True
        else:
            self._owns_bus = False
        self.agent_id = agent_id
        self.agents = team
        self.bus = bus
        self.url = bus.url
        self.step: int | None = None

    @property
    def namespace(self) -> str:
        """The namespace this connector talks in."""
        return self.bus.namespace

    @property
    def teammates(self) -> list[str]:
        """Every other agent of the run."""
        return [a for a in self.agents if a != self.agent_id]

    def set_step(self, step: int) -> None:
        """Record the agent's current step; later sends and receives are logged with it.

        Raises:
            MessagingUsageError: ``step`` is negative.
        """
        if step < 0:
            raise MessagingUsageError(f"{self.agent_id}: set_step needs a step >= 0, got {step}")
        self.step = int(step)

    def send(self, to_agent: str, message: str) -> int:
        """Send ``message`` to ``to_agent``; it waits in their inbox until they receive it.

        Returns:
            The message's id in the ledger.

        Raises:
            MessagingUsageError: ``to_agent`` is not a teammate.
            MessagingError: the transport failed.
        """
        if to_agent not in self.teammates:
            raise MessagingUsageError(
                f"{self.agent_id} cannot send to {to_agent!r}: not a teammate; teammates are {self.teammates}"
            )
        return self.bus.post(self.agent_id, [to_agent], str(message), step=self.step)[0].id

    def broadcast(self, message: str) -> list[int]:
        """Send ``message`` to every teammate (one ledger entry per recipient).

        Returns:
            The ledger ids, one per teammate.

        Raises:
            MessagingError: the transport failed.
        """
        return [m.id for m in self.bus.post(self.agent_id, self.teammates, str(message), step=self.step)]

    def receive(self, *, block: bool = False, timeout: float | None = None) -> list[dict[str, Any]]:
        """Return and consume the messages waiting for this agent, oldest first.

        Args:
            block: wait until a message arrives (or ``timeout`` passes) when none is waiting.
            timeout: with ``block``, the longest wait in seconds; ``None`` waits for ever.

        Returns:
            ``[{"from", "to", "text", "timestamp", "id"}]`` (``timestamp`` in seconds since the
            epoch, when it was sent); empty when nothing is waiting.

        Raises:
            MessagingError: the transport failed.
        """
        return [m.as_received() for m in self.bus.take(self.agent_id, step=self.step, block=block, timeout=timeout)]

    def wait_for_reply(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """Block until at least one message arrives or ``timeout`` seconds pass; same as ``receive(block=True)``.

        Raises:
            MessagingError: the transport failed.
        """
        return self.receive(block=True, timeout=timeout)

    def peek(self) -> int:
        """How many messages wait for this agent; nothing is consumed.

        Raises:
            MessagingError: the transport failed.
        """
        return self.bus.pending(self.agent_id)

    def close(self) -> None:
        """Close the bus if this connector opened it. Idempotent."""
        if self._owns_bus:
            self.bus.close()

    def __enter__(self) -> MessagingConnector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MessagingConnector(agent_id={self.agent_id!r}, agents={self.agents!r}, namespace={self.namespace!r})"
