"""One agent's connection to its sandbox and its teammates, shared by its tools.

Every command and file operation of the agent goes through here into the CooperBench
sandbox (on whichever backend the run uses), never onto the host.
"""

from __future__ import annotations

import secrets
import shlex
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cooperbench.backends.base import REPO_DIR
from cooperbench.errors import InfraError

if TYPE_CHECKING:
    from cooperbench.backends.environment import SandboxEnvironment
    from cooperbench.messaging import MessagingConnector

__all__ = ["MAX_OUTPUT_CHARS", "SandboxSession", "ShellResult"]

MAX_OUTPUT_CHARS = 200_000
"""Command output kept per command (head and tail); the model sees less, the SDK truncates further."""


@dataclass
class ShellResult:
    """What one terminal command did."""

    output: str
    exit_code: int
    timed_out: bool
    cwd: str


def _clip(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters omitted ...]\n{text[-half:]}"


@dataclass
class SandboxSession:
    """The sandbox, messaging and counters of one agent run.

    Args:
        env: the agent's sandbox environment.
        agent_id: this agent's id (names its shell state file in the sandbox).
        comm: the messaging connector, when messaging is on.
        team: the agent's ``cooperbench.team.TeamClient`` in a team run.
        command_timeout: default seconds per terminal command.
        wait_timeout: the longest a ``send_message`` with ``wait`` blocks.
    """

    env: SandboxEnvironment
    agent_id: str
    comm: MessagingConnector | None = None
    team: Any = None  # cooperbench.team.TeamClient in a team run
    command_timeout: float = 180.0
    wait_timeout: float = 120.0
    repo_dir: str = REPO_DIR
    cwd: str = REPO_DIR
    steps: int = 0
    sent_messages: int = 0
    failure: InfraError | None = None
    _marker: str = field(default_factory=lambda: f"__COOPERBENCH_CWD_{secrets.token_hex(6)}__")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state_file(self) -> str:
        """Where the terminal keeps exported variables between commands, in the sandbox."""
        return f"/tmp/.cooperbench-openhands-{self.agent_id}.env"

    # -- commands ------------------------------------------------------------------------------

    def execute(self, command: str, *, timeout: float | None = None, cwd: str | None = None) -> dict[str, Any]:
        """Run a plain command in the sandbox (no shell state); ``{"output", "returncode", "timed_out"}``.

        Raises:
            SandboxError: the sandbox is gone; also remembered in :attr:`failure` so the run stops.
        """
        try:
            return self.env.execute(command, timeout=timeout, cwd=cwd or self.repo_dir)
        except InfraError as exc:
            self.failure = self.failure or exc
            raise

    def shell(self, command: str, *, timeout: float | None = None) -> ShellResult:
        """Run ``command`` as in a persistent shell: the working directory and exported variables carry over.

        Each command is its own ``bash`` process in the sandbox; a trap saves ``pwd`` and
        ``export -p`` when it ends, and the next command starts from them.

        Raises:
            SandboxError: the sandbox is gone.
        """
        q = shlex.quote
        script = (
            f"__cb_state={q(self.state_file)}\n"
            f'if [ -f "$__cb_state" ]; then . "$__cb_state" >/dev/null 2>&1; fi\n'
            f"cd {q(self.cwd)} 2>/dev/null || cd {q(self.repo_dir)}\n"
            f'__cb_save() {{ __cb_rc=$?; export -p > "$__cb_state" 2>/dev/null; '
            f"printf '\\n%s%s\\n' {q(self._marker)} \"$(pwd)\"; exit $__cb_rc; }}\n"
            f"trap __cb_save EXIT\n"
            f"{command}\n"
        )
        with self._lock:  # one shell: concurrent tool calls of one agent run one after the other
            result = self.execute(script, timeout=timeout or self.command_timeout)
            output = str(result.get("output", ""))
            head, sep, tail = output.rpartition(self._marker)
            if sep:
                self.cwd = tail.strip() or self.cwd
                output = head[:-1] if head.endswith("\n") else head
        return ShellResult(
            output=_clip(output),
            exit_code=int(result.get("returncode", -1)),
            timed_out=bool(result.get("timed_out", False)),
            cwd=self.cwd,
        )

    def reset_shell(self) -> None:
        """Forget the saved working directory and variables.

        Raises:
            SandboxError: the sandbox is gone.
        """
        with self._lock:
            self.execute(f"rm -f {shlex.quote(self.state_file)}", timeout=30)
            self.cwd = self.repo_dir

    # -- files ---------------------------------------------------------------------------------

    def path_kind(self, path: str) -> str:
        """``"file"``, ``"dir"`` or ``"missing"`` for an absolute path in the sandbox.

        Raises:
            SandboxError: the sandbox is gone.
        """
        q = shlex.quote(path)
        script = f"if [ -d {q} ]; then echo dir; elif [ -e {q} ]; then echo file; else echo missing; fi"
        out = self.execute(script, timeout=30)
        kind = str(out.get("output", "")).strip().splitlines()
        return kind[-1] if kind and kind[-1] in ("file", "dir", "missing") else "missing"

    def read_file(self, path: str) -> bytes:
        """The bytes of a sandbox file.

        Raises:
            FileNotFoundError: no such file.
            SandboxError: the sandbox is gone.
        """
        try:
            return self.env.sandbox.read_file(path)
        except InfraError as exc:
            self.failure = self.failure or exc
            raise

    def write_file(self, path: str, data: bytes, *, keep_mode_of_existing: bool = True) -> None:
        """Create or replace a sandbox file, keeping an existing file's permission bits.

        Raises:
            SandboxError: the sandbox is gone or the file cannot be written.
        """
        mode = 0o644
        if keep_mode_of_existing:
            out = self.execute(f"stat -c %a {shlex.quote(path)} 2>/dev/null", timeout=30)
            text = str(out.get("output", "")).strip()
            if out.get("returncode") == 0 and text.isdigit():
                mode = int(text, 8)
        try:
            self.env.sandbox.write_file(path, data, mode=mode)
        except InfraError as exc:
            self.failure = self.failure or exc
            raise

    def list_dir(self, path: str, *, depth: int = 2, limit: int = 1000) -> str:
        """Non-hidden files and folders under ``path``, ``depth`` levels deep.

        Raises:
            SandboxError: the sandbox is gone.
        """
        q = shlex.quote(path)
        script = f"find {q} -mindepth 1 -maxdepth {depth} -not -path '*/.*' | sort | head -n {limit}"
        out = self.execute(script, timeout=60)
        return str(out.get("output", ""))
