"""``MessagingConnector``: how one agent sends and receives messages."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

from cooperbench.errors import ConfigError
from cooperbench.messaging._url import open_bus
from cooperbench.messaging.base import TERMINAL_STATES, BusBase, MessageBus, MessagingUsageError

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
        identity = getattr(bus, "identity", None)
        if identity is not None and identity != agent_id:
            if self._owns_bus:
                bus.close()
            raise MessagingUsageError(
                f"refused: the messaging URL holds {identity}'s credentials, so it cannot connect as {agent_id!r}"
            )
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

        Besides teammates' messages this returns *notices* (``"kind": "notice"``): from
        ``cooperbench`` when a teammate finished, failed or was stopped, and from a teammate
        that is blocked waiting for this agent's reply.

        Args:
            block: wait until a message arrives (or ``timeout`` passes) when none is waiting;
                the wait also ends as soon as every teammate has finished or left, since
                nobody is left to write.
            timeout: with ``block``, the longest wait in seconds; ``None`` waits for ever.

        Returns:
            ``[{"from", "to", "text", "timestamp", "id", "kind"}]`` (``timestamp`` in seconds
            since the epoch, when it was sent; notices also carry ``event``); empty when
            nothing is waiting.

        Raises:
            MessagingError: the transport failed.
        """
        if not block:
            return self._take(block=False)
        return self._wait(timeout, awaited=self.teammates, notify=False)

    def wait_for_reply(
        self, timeout: float | None = None, *, from_agent: str | Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Block until a message arrives, the awaited teammates are all gone, or ``timeout`` seconds pass.

        While it waits, this agent shows as ``blocked`` (see :meth:`peers`) and each awaited
        teammate gets a notice saying so; both are in the ledger. A teammate that finishes,
        fails or is stopped ends the wait at once (its notice is returned).

        Args:
            timeout: the longest wait in seconds; ``None`` waits for ever.
            from_agent: the teammate (or teammates) whose reply is awaited; default: all.

        Returns:
            What arrived (see :meth:`receive`); empty when the time ran out or nobody is left
            (check :meth:`peers`).

        Raises:
            MessagingUsageError: ``from_agent`` names someone who is not a teammate.
            MessagingError: the transport failed.
        """
        awaited = self._awaited(from_agent)
        return self._wait(timeout, awaited=awaited, notify=True)

    def send_and_wait(self, to_agent: str, message: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """Send ``message`` to ``to_agent`` (``"all"`` broadcasts) and wait for the reply (see :meth:`wait_for_reply`).

        Raises:
            MessagingUsageError: ``to_agent`` is not a teammate.
            MessagingError: the transport failed.
        """
        if to_agent == "all":
            self.broadcast(message)
            return self.wait_for_reply(timeout)
        self.send(to_agent, message)
        return self.wait_for_reply(timeout, from_agent=to_agent)

    def peek(self) -> int:
        """How many messages wait for this agent; nothing is consumed.

        Raises:
            MessagingError: the transport failed.
        """
        return self.bus.pending(self.agent_id)

    def peers(self) -> dict[str, dict[str, Any]]:
        """Each teammate's state: ``{agent: {"state": running|blocked|finished|failed|killed, ...}}``.

        ``blocked`` entries name whom they wait for (``waiting_for``); terminal ones may carry
        a ``detail``. Empty when the transport does not track states (a third-party connector).

        Raises:
            MessagingError: the transport failed.
        """
        if not isinstance(self.bus, BusBase):
            return {}
        states = self.bus.statuses(self.agents)
        return {a: states.get(a, {"state": "running"}) for a in self.teammates}

    def gone(self) -> list[str]:
        """The teammates that have finished, failed or been stopped.

        Raises:
            MessagingError: the transport failed.
        """
        return [a for a, s in self.peers().items() if s.get("state") in TERMINAL_STATES]

    def _awaited(self, from_agent: str | Sequence[str] | None) -> list[str]:
        if from_agent is None:
            return self.teammates
        names = [from_agent] if isinstance(from_agent, str) else list(from_agent)
        for name in names:
            if name not in self.teammates:
                raise MessagingUsageError(
                    f"{self.agent_id} cannot wait for {name!r}: not a teammate; teammates are {self.teammates}"
                )
        return names

    def _take(self, *, block: bool, timeout: float | None = None, awaited: list[str] | None = None) -> list[Any]:
        if isinstance(self.bus, BusBase):
            taken = self.bus.take(self.agent_id, step=self.step, block=block, timeout=timeout, awaited=awaited)
        else:
            taken = self.bus.take(self.agent_id, step=self.step, block=block, timeout=timeout)
        return [m.as_received() for m in taken]

    def _wait(self, timeout: float | None, *, awaited: list[str], notify: bool) -> list[dict[str, Any]]:
        bus = self.bus
        if not isinstance(bus, BusBase):
            return self._take(block=True, timeout=timeout)
        if bus.peers_gone(self.agent_id, awaited):
            return self._take(block=False)  # nobody left to answer: only what is already there
        bus.set_status(self.agent_id, "blocked", waiting_for=awaited, step=self.step, notify=awaited if notify else ())
        try:
            return self._take(block=True, timeout=timeout, awaited=awaited)
        finally:
            bus.set_status(self.agent_id, "running", step=self.step)

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
