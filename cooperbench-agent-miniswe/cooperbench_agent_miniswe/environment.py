"""The sandbox as a mini-swe-agent Environment, with ``send_message`` routed to the messaging connector.

mini-swe-agent drives an environment through ``execute(action) -> {"output", "returncode",
"exception_info"}`` and ends the run when a command's output starts with
``COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`` (its own convention, inherited here from its
``LocalEnvironment``). :class:`SandboxAdapter` runs commands in the harness's sandbox
(:class:`cooperbench.backends.environment.SandboxEnvironment`, or anything with the same
``execute``) and sends the ``send_message`` parts of a command through the connector
before the rest runs in the sandbox.
"""

from __future__ import annotations

import logging
import shlex
from typing import Any, Protocol

from pydantic import BaseModel

from cooperbench.messaging import MessagingUsageError
from cooperbench_agent_miniswe._thirdparty import LocalEnvironment
from cooperbench_agent_miniswe.commands import SEND_MESSAGE, MessageCommand, split_command

__all__ = ["CommandRunner", "SandboxAdapter", "format_incoming"]


class CommandRunner(Protocol):
    """What the adapter needs from a sandbox: the Environment contract's ``execute``."""

    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]: ...


class Messenger(Protocol):
    """What the adapter needs from a :class:`~cooperbench.messaging.MessagingConnector`."""

    def send(self, to_agent: str, message: str) -> int: ...
    def broadcast(self, message: str) -> list[int]: ...
    def receive(self, *, block: bool = False, timeout: float | None = None) -> list[dict[str, Any]]: ...
    def wait_for_reply(
        self, timeout: float | None = None, *, from_agent: str | list[str] | None = None
    ) -> list[dict[str, Any]]: ...
    def gone(self) -> list[str]: ...


class SandboxAdapterConfig(BaseModel):
    """Recorded in the trajectory (``info.config.environment``)."""

    image: str = ""
    cwd: str = "/workspace/repo"
    timeout: float = 300.0
    env: dict[str, str] = {}
    messaging: bool = False


def format_incoming(messages: list[dict[str, Any]]) -> str:
    """Messages as the model sees them: ``[Message from agent2]: text`` (``[Notice from ...]``), one block each."""
    return "\n\n".join(
        f"[{'Message' if m.get('kind', 'message') == 'message' else 'Notice'} from {m.get('from', '?')}]: "
        f"{m.get('text', '')}"
        for m in messages
    )


# LocalEnvironment gives us mini-swe-agent's submission check (`_check_finished`); its
# execution and host template variables are replaced, commands never run on the host.
class SandboxAdapter(LocalEnvironment):
    """A mini-swe-agent Environment running commands in a CooperBench sandbox.

    Args:
        sandbox: the sandbox environment (``execute(command, timeout)``).
        log: the agent's logger.
        comm: the messaging connector, or ``None`` when messaging is off.
        timeout: per-command timeout in seconds.
        message_wait_timeout: default wait of ``send_message --wait``.
    """

    def __init__(
        self,
        sandbox: CommandRunner,
        *,
        log: logging.Logger,
        comm: Messenger | None = None,
        timeout: float = 300.0,
        message_wait_timeout: float = 300.0,
    ) -> None:
        self.sandbox = sandbox
        self.log = log
        self.comm = comm
        self.message_wait_timeout = message_wait_timeout
        self.sent_messages = 0
        self.config = SandboxAdapterConfig(
            image=str(getattr(sandbox, "image", "")),
            cwd=str(getattr(sandbox, "cwd", "/workspace/repo")),
            timeout=timeout,
            env=dict(getattr(sandbox, "env", {}) or {}),
            messaging=comm is not None,
        )

    def execute(self, action: dict[str, Any], cwd: str = "", *, timeout: int | float | None = None) -> dict[str, Any]:  # type: ignore[override]
        """Run one action (``{"command": ...}``); raises ``Submitted`` on mini-swe-agent's submission output."""
        command = str(action.get("command", ""))
        self.log.info("$ %s", command)
        notes: list[str] = []
        output: dict[str, Any]
        failed = False
        shell = command
        if SEND_MESSAGE in command:
            split = split_command(command)
            if self.comm is None and (split.messages or split.errors):
                self.log.info("-> send_message refused: messaging is off")
                return {
                    "output": "send_message: messaging is off in this run; nobody can be messaged. Nothing was run.",
                    "returncode": 2,
                    "exception_info": "",
                }
            if split.errors:
                output = {
                    "output": "\n".join(split.errors) + "\nNothing was run.",
                    "returncode": 2,
                    "exception_info": "",
                }
                self.log.info("-> send_message usage error: %s", "; ".join(split.errors))
                return output
            for message in split.messages:
                note, ok = self._deliver(message)
                notes.append(note)
                failed = failed or not ok
            shell = split.shell
        if shell.strip():
            output = self._run(shell, cwd, timeout)
        else:
            output = {"output": "", "returncode": 0, "exception_info": ""}
        if notes:
            text = output["output"]
            output["output"] = text + ("\n" if text and not text.endswith("\n") else "") + "\n".join(notes) + "\n"
            if failed and output["returncode"] == 0:
                output["returncode"] = 1
        self.log.info("-> returncode %s, %d characters of output", output["returncode"], len(output["output"]))
        self._check_finished(output)
        return output

    def _run(self, command: str, cwd: str, timeout: float | None) -> dict[str, Any]:
        limit = timeout or self.config.timeout
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        result = self.sandbox.execute(command, timeout=limit)
        output: dict[str, Any] = {
            "output": str(result.get("output", "")),
            "returncode": int(result.get("returncode", -1)),
            "exception_info": "",
        }
        if result.get("timed_out"):
            output["exception_info"] = (
                f"The command ran longer than {limit:g} seconds and was killed; run long jobs in the background "
                "or with a smaller scope."
            )
            self.log.warning("command timed out after %gs", limit)
        return output

    def _deliver(self, message: MessageCommand) -> tuple[str, bool]:
        assert self.comm is not None
        notes: list[str] = []
        if message.text is not None:
            try:
                if message.broadcast:
                    count = len(self.comm.broadcast(message.text))
                    notes.append(f"Message sent to all teammates ({count}).")
                else:
                    for recipient in message.recipients:
                        self.comm.send(recipient, message.text)
                    count = len(message.recipients)
                    notes.append(f"Message sent to {', '.join(message.recipients)}.")
            except MessagingUsageError as exc:
                self.log.info("send_message refused: %s", exc)
                return f"send_message: {exc}", False
            self.sent_messages += count
            self.log.info("sent to %s: %s", "all" if message.broadcast else ",".join(message.recipients), message.text)
        if message.wait:
            limit = message.timeout if message.timeout is not None else self.message_wait_timeout
            awaited = None if message.broadcast or not message.recipients else list(message.recipients)
            self.log.info("waiting up to %gs for a message", limit)
            # The wait ends early when the awaited teammates have finished or left.
            received = self.comm.wait_for_reply(timeout=limit, from_agent=awaited)
            if received:
                self.log.info("received while waiting: %s", format_incoming(received))
                notes.append(format_incoming(received))
            else:
                gone = [a for a in self.comm.gone() if awaited is None or a in awaited]
                if gone and (awaited is None or len(gone) == len(awaited)):
                    notes.append(f"No reply: {', '.join(gone)} already finished and will not answer.")
                else:
                    notes.append(f"No message arrived within {limit:g} seconds.")
        return "\n".join(notes), True

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return self.config.model_dump() | kwargs

    def serialize(self) -> dict[str, Any]:
        return {
            "info": {
                "config": {
                    "environment": self.config.model_dump(mode="json"),
                    "environment_type": f"{type(self).__module__}.{type(self).__name__}",
                }
            }
        }
