"""``ExampleAgent``: a complete, deterministic CooperBench agent to copy when you write your own.

It uses no LLM. In the task's sandbox it writes ``NOTES-<agent_id>.md`` describing the task and the
repository, tells its teammates what it is doing, and returns its change as a patch. Replace
the middle of :meth:`ExampleAgent.run` with your agent's loop; keep the rest (sandbox,
messaging, patch, error handling) as it is.
"""

from __future__ import annotations

import re
import secrets
import shlex
from typing import Any

from cooperbench.agents import AgentResult
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import InfraError
from cooperbench.patches import base_commit, working_tree_patch

__all__ = ["ExampleAgent"]

# One file per agent: in coop the two agents' patches are merged, and two different files
# named alike would conflict.
NOTES_FILE = "NOTES-{agent_id}.md"


class ExampleAgent:
    """Writes ``NOTES-<agent_id>.md`` describing the task, messages its teammates once, and submits the change.

    The harness creates one instance with no arguments and may call :meth:`run` from several
    threads at once (one per agent of a pair), so ``run`` keeps its state in local variables.

    Configuration (the ``agent`` section of ``--agent-config``)::

        agent:
          notes_file: NOTES-{agent_id}.md   # where to write the notes, relative to the repository
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
        """Run on one task; see :class:`cooperbench.agents.AgentRunner` for every argument.

        Returns:
            ``status="Submitted"`` with the patch from the base commit, or ``status="Error"``
            with ``error`` set when the agent itself failed.

        Raises:
            InfraError: the sandbox or the message bus failed; the harness records the pair as
                ``infra_error`` and a resumed run retries it, so such errors are not swallowed.
        """
        notes_file = ((config or {}).get("agent") or {}).get("notes_file", NOTES_FILE).format(agent_id=agent_id)
        trajectory: list[dict[str, Any]] = [{"role": "user", "content": task}]

        # The sandbox lands on the run's backend (local, docker, modal, ...) with the task's
        # repository at /workspace/repo, at the base commit.
        env = SandboxEnvironment(image)
        comm = None
        try:
            if messaging_enabled and comm_url and agents and len(agents) > 1:
                # Imported here so that listing plugins never imports the messaging stack.
                from cooperbench.agents.mini_swe_agent.connectors.messaging import MessagingConnector

                comm = MessagingConnector(agent_id=agent_id, agents=agents, url=comm_url)

            def sh(command: str) -> str:
                result = env.execute(command, timeout=60)
                trajectory.append({"role": "tool", "command": command, **result})
                if result["returncode"] != 0:
                    shown = command.splitlines()[0]
                    raise RuntimeError(f"`{shown}` exited with {result['returncode']}: {result['output'][-500:]}")
                return str(result["output"])

            base = base_commit(env)  # SandboxError (an InfraError) if the backend gave no repository
            sent = 0
            try:
                # --- your agent's work goes here --------------------------------------------
                files = sh("git ls-files | wc -l").strip()
                sh(_write_file_command(notes_file, _notes(task, agent_id, base, files)))
                if comm is not None:
                    sent = len(comm.broadcast(f"{agent_id} here: I only add {notes_file}; the code is yours."))
                    trajectory.extend({"role": "message", **m} for m in comm.receive())
                # ------------------------------------------------------------------------------
                status, error = "Submitted", None
            except InfraError:
                raise
            except Exception as exc:  # the agent's own failure: report it, keep what it changed
                status, error = "Error", f"{type(exc).__name__}: {exc}"
            # committed, staged, unstaged and new files alike, even if the agent failed midway
            patch = working_tree_patch(env, base)
        finally:
            if comm is not None:
                comm.close()
            env.cleanup()
        trajectory.append({"role": "assistant", "content": f"wrote {notes_file}" if error is None else error})
        return AgentResult(status=status, patch=patch, steps=1, messages=trajectory, error=error, sent_messages=sent)


def _notes(task: str, agent_id: str, base: str, files: str) -> str:
    lines = task.strip().splitlines()
    first = next((line for line in lines if line.strip()), "(empty task)")
    # feature.md files start with "**Title**: ..." or "# ...".
    title = re.sub(r"^[#*\s]*(?:title[*\s]*:[*\s]*)?", "", first, flags=re.IGNORECASE).strip()
    return (
        f"# Notes by {agent_id}\n\n"
        f"Task: {title}\n\n"
        f"- {len(lines)} lines, {len(task.split())} words of task description\n"
        f"- repository at {base}, {files} tracked files\n"
    )


def _write_file_command(path: str, text: str) -> str:
    """A shell command writing ``text`` to ``path`` byte for byte (a quoted here-document)."""
    marker = f"COOPERBENCH_EOF_{secrets.token_hex(8)}"
    quoted = shlex.quote(path)
    return f"mkdir -p \"$(dirname {quoted})\" && cat > {quoted} <<'{marker}'\n{text}{marker}\n"
