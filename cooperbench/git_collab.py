"""Git collaboration: each agent's sandbox gets the run's shared remote ``team`` and a branch named after the agent.

After :meth:`GitConnector.setup`, agents share code with plain git::

    git push team agent1            # publish my work
    git fetch team                  # see teammates' branches
    git merge team/agent2           # take a teammate's work
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any, Protocol

from cooperbench.errors import ConfigError, InfraError

__all__ = ["REMOTE_NAME", "CommandEnvironment", "GitCollabError", "GitConnector"]

REMOTE_NAME = "team"
_GIT_TIMEOUT_SECONDS = 120
# Agent ids become branch names and are pasted into shell commands: keep them plain.
_AGENT_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")


class GitCollabError(InfraError):
    """Setting up git collaboration in a sandbox failed (the shared server unreachable, the push refused, ...)."""


class CommandEnvironment(Protocol):
    """Anything that runs shell commands in the agent's repository (a sandbox environment)."""

    def execute(self, command: str, timeout: float | None = None) -> dict[str, Any]:
        """Run ``command`` and return ``{"output": str, "returncode": int}``."""
        ...


def _succeeds(env: CommandEnvironment, command: str) -> bool:
    return env.execute(command, timeout=_GIT_TIMEOUT_SECONDS).get("returncode") == 0


class GitConnector:
    """Configures an agent's sandbox for sharing code through the run's git server.

    Example::

        git = GitConnector(agent_id="agent1", agents=["agent1", "agent2"], server_url=git_server_url)
        git.setup(env)
        prompt += git.instructions()

    Args:
        agent_id: this agent's id; also the name of its branch.
        agents: every agent id of the run (this one included).
        server_url: the shared repository's URL, as given by the backend's git server.

    Raises:
        ConfigError: an agent id is not usable as a branch name, or ``server_url`` is empty.
    """

    REMOTE_NAME = REMOTE_NAME

    def __init__(self, agent_id: str, agents: Sequence[str] | None, server_url: str) -> None:
        team = list(agents or [agent_id])
        for name in {agent_id, *team}:
            if not _AGENT_ID.match(name):
                raise ConfigError(
                    f"GitConnector: agent id {name!r} cannot name a git branch; use letters, digits, '.', '_', '-'"
                )
        if not server_url:
            raise ConfigError("GitConnector: server_url is empty; pass the git server URL of the run")
        self.agent_id = agent_id
        self.agents = team
        self.server_url = server_url
        self._initialized = False

    @property
    def branch(self) -> str:
        """This agent's branch, on the remote and locally."""
        return self.agent_id

    @property
    def teammates(self) -> list[str]:
        """Every other agent of the run."""
        return [a for a in self.agents if a != self.agent_id]

    @property
    def is_initialized(self) -> bool:
        """Whether :meth:`setup` has completed."""
        return self._initialized

    def setup(self, env: CommandEnvironment) -> None:
        """Add the ``team`` remote, check out the agent's branch and publish the starting point.

        Sets ``user.name``/``user.email`` when the repository has none (so the agent can
        commit), points remote ``team`` at ``server_url`` (replacing an existing ``team``
        remote's URL), checks out branch ``<agent_id>`` (created at ``HEAD`` if missing), and
        pushes it with ``git push team HEAD:refs/heads/<agent_id>``.

        Args:
            env: the agent's environment, its working directory the repository.

        Raises:
            GitCollabError: a git command failed; the message holds the command and its output.
        """
        quote = shlex.quote
        self._git(env, "git rev-parse --is-inside-work-tree", "the working directory is not a git repository")
        for key, value in (("user.name", self.agent_id), ("user.email", f"{self.agent_id}@cooperbench.local")):
            if not _succeeds(env, f"git config {key}"):
                self._git(env, f"git config {key} {quote(value)}", f"cannot set git {key}")
        url = quote(self.server_url)
        if _succeeds(env, f"git remote get-url {REMOTE_NAME}"):
            self._git(env, f"git remote set-url {REMOTE_NAME} {url}", "cannot update remote 'team'")
        else:
            self._git(env, f"git remote add {REMOTE_NAME} {url}", "cannot add remote 'team'")
        branch = quote(self.branch)
        if _succeeds(env, f"git rev-parse --verify --quiet refs/heads/{branch}"):
            self._git(env, f"git checkout {branch}", f"cannot check out branch {self.branch!r}")
        else:
            self._git(env, f"git checkout -b {branch}", f"cannot create branch {self.branch!r}")
        self._git(
            env,
            f"git push {REMOTE_NAME} HEAD:refs/heads/{branch}",
            f"cannot push branch {self.branch!r} to the shared git server {self.server_url}",
        )
        self._initialized = True

    def instructions(self) -> str:
        """Text an agent can show its model explaining how to share code with teammates."""
        mates = self.teammates or ["<teammate>"]
        fetch_lines = "\n".join(f"    git merge team/{mate}        # take {mate}'s work" for mate in mates)
        return (
            f"You share code with your teammates ({', '.join(mates)}) through the git remote `{REMOTE_NAME}`.\n"
            f"You are on branch `{self.branch}`; each teammate works on a branch named after them.\n"
            f"Publish your work:\n"
            f'    git add -A && git commit -m "<message>" && git push {REMOTE_NAME} {self.branch}\n'
            f"Get your teammates' work:\n"
            f"    git fetch {REMOTE_NAME}\n"
            f"{fetch_lines}\n"
            f"List the shared branches with `git branch -r`."
        )

    def _git(self, env: CommandEnvironment, command: str, what: str) -> str:
        result = env.execute(command, timeout=_GIT_TIMEOUT_SECONDS)
        output = str(result.get("output", ""))
        if result.get("returncode") != 0:
            raise GitCollabError(
                f"git collaboration setup for {self.agent_id}: {what}.\n"
                f"$ {command}\n(exit {result.get('returncode')})\n{output.strip()}"
            )
        return output
