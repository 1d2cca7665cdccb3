"""``ClaudeCodeRunner``: the Claude Code CLI, run headless inside the agent's sandbox.

The CLI binary (bundled in ``claude-agent-sdk``) is mounted read-only into the sandbox at
:data:`CLI_DIR` and started there with ``-p --output-format stream-json --verbose`` and
permissions bypassed, so its tools (Bash, Edit, Write, ...) act on the sandbox's repository
and never on the host. Its model requests go through the harness's
:class:`~cooperbench.agents.model_relay.ModelRelay`, which the CLI reaches over its unix socket
(``ANTHROPIC_UNIX_SOCKET``) and which adds the key on the host; its messages through the
harness's messaging endpoint (``coop-msg``).
The patch is the sandbox's working tree diff against the base commit.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from cooperbench.agents import AgentResult
from cooperbench.agents.model_relay import SANDBOX_SOCKET, ModelRelay
from cooperbench.backends.base import REPO_DIR, Mount
from cooperbench.errors import ConfigError, InfraError
from cooperbench.git_collab import GitConnector
from cooperbench.io import write_json_atomic
from cooperbench.patches import base_commit, working_tree_patch
from cooperbench_agent_claude_code.config import Settings, credentials, parse_config
from cooperbench_agent_claude_code.prompt import system_prompt, task_prompt
from cooperbench_agent_claude_code.stream import Outcome, parse_stream, price

__all__ = ["CLI_DIR", "ClaudeCodeRunner", "find_cli"]

CLI_DIR = "/run/cooperbench/claude-code"
"""Where the CLI's folder is mounted in the sandbox (read-only)."""
WORK_DIR = "/tmp/cooperbench-claude-code"
"""The CLI's scratch space in the sandbox: its configuration, the prompts, its output."""
PLACEHOLDER_KEY = "cooperbench-relay-holds-the-key"
"""What the CLI in the sandbox is given as its key; the relay drops it and sends the real one."""


def find_cli(settings: Settings | None = None) -> Path:
    """The Claude Code binary on the host: ``agent.cli_path``, else the one bundled in ``claude-agent-sdk``.

    Found without importing the SDK.

    Raises:
        ConfigError: no binary (the message says what to install or set).
    """
    configured = settings.agent["cli_path"] if settings is not None else None
    if configured:
        path = Path(configured).expanduser()
        where = f"`agent.cli_path` ({path})"
    else:
        spec = importlib.util.find_spec("claude_agent_sdk")
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            raise ConfigError(
                "the claude_code agent needs the Claude Code CLI from claude-agent-sdk: pip install claude-agent-sdk "
                "(or set agent.cli_path to a Claude Code binary)"
            )
        path = Path(locations[0]) / "_bundled" / "claude"
        where = f"claude-agent-sdk's bundled CLI ({path})"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ConfigError(
            f"the claude_code agent cannot run {where}: no executable file there. Reinstall claude-agent-sdk "
            "(a platform wheel bundles the CLI) or set agent.cli_path"
        )
    return path


def _model(model_name: str) -> str:
    # LiteLLM-style names (anthropic/claude-...) name the provider; the CLI wants the model alone.
    return model_name.removeprefix("anthropic/")


class ClaudeCodeRunner:
    """Runs Claude Code (``claude -p``) on a CooperBench task inside the agent's sandbox.

    Configuration (``--agent-config``): see :data:`cooperbench_agent_claude_code.config.KEYS`
    and ``docs/agents/claude-code.md``.
    """

    #: the CLI sends messages itself: the harness mounts this agent's messaging endpoint (coop-msg)
    messaging_endpoint = True

    @classmethod
    def preflight(cls, model_name: str, config: dict[str, Any] | None) -> None:
        """Check the configuration, the model key and the CLI binary before any sandbox starts.

        Raises:
            ConfigError: an unknown key or bad value, an endpoint that is no http(s) URL
                (``model.base_url``, ``ANTHROPIC_BASE_URL``), no ``ANTHROPIC_API_KEY`` (nor
                ``ANTHROPIC_AUTH_TOKEN``), or no CLI binary; the message names what to set.
        """
        settings = parse_config(config)
        settings.endpoint()  # it may come from ANTHROPIC_BASE_URL, which parse_config does not read
        credentials()
        find_cli(settings)

    def run(
        self,
        task: str,
        image: str,
        *,
        agent_id: str = "agent",
        model_name: str = "claude-sonnet-4-5",
        agents: list[str] | None = None,
        comm_url: str | None = None,
        git_server_url: str | None = None,
        git_enabled: bool = False,
        messaging_enabled: bool = True,
        config: dict[str, Any] | None = None,
        agent_config: str | None = None,
        log_dir: str | None = None,
        messaging_endpoint: Any = None,
    ) -> AgentResult:
        """Run the CLI on ``task`` in a sandbox of ``image``; see :class:`cooperbench.agents.AgentRunner`.

        Returns:
            ``Submitted``, ``LimitsExceeded`` (turns, budget), ``TimeExceeded`` (``agent.timeout``)
            or ``Error``, with the working tree's patch, cost, tokens and turns from the ``result`` event.

        Raises:
            ConfigError: bad configuration, no key, no binary.
            InfraError: the sandbox failed, or the model provider kept failing after the CLI's
                retries (rate limits, 5xx, timeouts); the log and trajectory are written first.
        """
        from cooperbench.backends.environment import SandboxEnvironment

        settings = parse_config(config)
        headers = credentials()
        cli = find_cli(settings)
        team = list(agents or [agent_id])
        teammates = [a for a in team if a != agent_id]
        model = _model(model_name)
        log = _Log(log_dir, agent_id)
        log.write(f"claude_code agent {agent_id}: model={model} image={image} cli={cli.parent.name}/{cli.name}")
        relay = ModelRelay(
            settings.endpoint(),
            headers=headers,
            # the placeholder the CLI sends, whichever of the two the host's credentials replace
            drop_headers=("x-api-key", "authorization"),
            error_format="anthropic",
            timeout=float(settings.model["request_timeout"]) + 30,
            rate_limit_retries=0,  # the CLI retries rate limits itself, bounded by model.max_retries
        )
        env = None
        outcome = Outcome()
        try:
            env = SandboxEnvironment(
                image,
                cwd=REPO_DIR,
                env=settings.env or None,
                mounts=(Mount(cli.parent, CLI_DIR, read_only=True), *relay.mounts()),
            )
            base = base_commit(env)
            git_text = None
            if git_enabled and git_server_url:
                git = GitConnector(agent_id=agent_id, agents=team, server_url=git_server_url)
                git.setup(env)
                git_text = git.instructions()
            messaging = messaging_enabled and messaging_endpoint is not None and bool(teammates)
            env.sandbox.write_file(f"{WORK_DIR}/prompt.md", task_prompt(task, repo_dir=REPO_DIR))
            env.sandbox.write_file(
                f"{WORK_DIR}/system.md",
                system_prompt(
                    agent_id=agent_id,
                    teammates=teammates,
                    repo_dir=REPO_DIR,
                    messaging=messaging,
                    git_instructions=git_text,
                    extra=settings.agent["system_prompt"],
                ),
            )
            variables = self._cli_environment(settings, model, messaging_endpoint if messaging else None)
            command = self._command(settings, cli.name, model)
            log.write(f"$ {command}")
            started = time.monotonic()
            ran = env.sandbox.exec(command, timeout=float(settings.agent["timeout"]), env=variables, cwd=REPO_DIR)
            cut = " (timed out)" if ran.timed_out else ""
            log.write(f"the CLI exited {ran.returncode} after {time.monotonic() - started:.1f}s{cut}")
            stream = self._read(env, "stream.jsonl")
            stderr = self._read(env, "stderr.txt")
            outcome = parse_stream(stream)
            log.save_stream(stream, stderr)
            if ran.timed_out:
                outcome.status, outcome.error = (
                    "TimeExceeded",
                    f"the CLI ran longer than agent.timeout ({settings.agent['timeout']:g} s)",
                )
            elif outcome.result is None:
                outcome.error = f"Claude Code exited {ran.returncode} without a result: {(stderr or ran.output)[-800:]}"
            if outcome.cost == 0 and (outcome.input_tokens or outcome.output_tokens):
                outcome.cost = price(
                    model, outcome, settings.model["input_cost_per_token"], settings.model["output_cost_per_token"]
                )
            if messaging_endpoint is not None:
                messaging_endpoint.set_step(outcome.turns)
            log.write(
                f"finished: status={outcome.status} turns={outcome.turns} cost={outcome.cost:.6f} "
                f"tokens in={outcome.input_tokens} out={outcome.output_tokens} "
                f"error={outcome.provider_error or outcome.error}"
            )
            log.save_trajectory(agent_id, model, outcome)
            patch = working_tree_patch(env, base)
            result = AgentResult(
                status=outcome.status,
                patch=patch,
                cost=outcome.cost,
                steps=outcome.turns,
                messages=[],
                error=outcome.error if outcome.status != "Submitted" else None,
                input_tokens=outcome.input_tokens,
                output_tokens=outcome.output_tokens,
                cache_read_tokens=outcome.cache_read_tokens,
                cache_write_tokens=outcome.cache_write_tokens,
                sent_messages=_sent_messages(outcome),
            )
            if outcome.provider_error is not None:
                failure = InfraError(f"claude_code {agent_id}: {outcome.provider_error}")
                # what the CLI did and spent before the provider gave out: the harness records it for the attempt
                failure.partial_result = replace(result, status="Error", error=outcome.provider_error)  # type: ignore[attr-defined]
                raise failure
            return result
        except InfraError as exc:
            log.write(f"infrastructure failure: {type(exc).__name__}: {exc}")
            raise
        finally:
            if env is not None:
                env.cleanup()
            relay.close()

    @staticmethod
    def _cli_environment(settings: Settings, model: str, endpoint: Any) -> dict[str, str]:
        model_settings = settings.model
        variables = {
            **settings.env,
            "HOME": f"{WORK_DIR}/home",
            "CLAUDE_CONFIG_DIR": f"{WORK_DIR}/config",
            # The sandbox runs commands as root; the CLI allows bypassed permissions there only in a sandbox.
            "IS_SANDBOX": "1",
            "ANTHROPIC_UNIX_SOCKET": SANDBOX_SOCKET,
            "ANTHROPIC_BASE_URL": "http://model.cooperbench.invalid",
            "ANTHROPIC_API_KEY": PLACEHOLDER_KEY,
            "ANTHROPIC_SMALL_FAST_MODEL": str(model_settings["small_model"] or model),
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": str(model_settings["small_model"] or model),
            "CLAUDE_CODE_MAX_RETRIES": str(model_settings["max_retries"]),
            "API_TIMEOUT_MS": str(int(float(model_settings["request_timeout"]) * 1000)),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
        }
        if model_settings["max_output_tokens"] is not None:
            variables["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(model_settings["max_output_tokens"])
        if model_settings["max_thinking_tokens"] is not None:
            variables["MAX_THINKING_TOKENS"] = str(model_settings["max_thinking_tokens"])
        if endpoint is not None:
            variables.update(endpoint.environment())
        return variables

    @staticmethod
    def _command(settings: Settings, binary: str, model: str) -> str:
        agent = settings.agent
        argv = [
            f"{CLI_DIR}/{binary}",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--dangerously-skip-permissions",
            "--no-session-persistence",
            "--model",
            model,
            "--max-turns",
            str(agent["max_turns"]),
            "--append-system-prompt-file",
            f"{WORK_DIR}/system.md",
        ]
        if agent["max_budget_usd"] is not None:
            argv += ["--max-budget-usd", f"{agent['max_budget_usd']:g}"]
        if agent["allowed_tools"]:
            argv += ["--allowed-tools", *agent["allowed_tools"]]
        if agent["disallowed_tools"]:
            argv += ["--disallowed-tools", *agent["disallowed_tools"]]
        argv += agent["extra_args"] or []
        line = " ".join(shlex.quote(a) for a in argv)
        work = shlex.quote(WORK_DIR)
        return (
            f"mkdir -p {work}/home {work}/config && {line} < {work}/prompt.md "
            f"> {work}/stream.jsonl 2> {work}/stderr.txt"
        )

    @staticmethod
    def _read(env: Any, name: str) -> str:
        try:
            return env.sandbox.read_file(f"{WORK_DIR}/{name}").decode("utf-8", "replace")
        except FileNotFoundError:
            return ""


def _sent_messages(outcome: Outcome) -> int:
    """How many ``coop-msg send``/``broadcast`` commands the CLI ran (the ledger has the messages themselves)."""
    count = 0
    for event in outcome.events:
        if event.get("type") != "assistant":
            continue
        for block in (event.get("message") or {}).get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("name") == "Bash":
                command = str((block.get("input") or {}).get("command", ""))
                count += command.count("coop-msg send") + command.count("coop-msg broadcast")
    return count


class _Log:
    """The agent's log (``<agent_id>.log``), its raw stream and its trajectory, in the pair's folder."""

    def __init__(self, log_dir: str | None, agent_id: str) -> None:
        self.dir = Path(log_dir) if log_dir else None
        self.agent_id = agent_id
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, line: str) -> None:
        if self.dir is None:
            return
        with open(self.dir / f"{self.agent_id}.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    def save_stream(self, stream: str, stderr: str) -> None:
        if self.dir is None:
            return
        (self.dir / f"{self.agent_id}_stream.jsonl").write_text(stream, encoding="utf-8")
        if stderr.strip():
            self.write("CLI stderr:\n" + stderr[-4000:])

    def save_trajectory(self, agent_id: str, model: str, outcome: Outcome) -> None:
        if self.dir is None:
            return
        info = {
            "agent_id": agent_id,
            "agent": "claude_code",
            "model": model,
            "status": outcome.status,
            "error": outcome.provider_error or outcome.error,
            "turns": outcome.turns,
            "tool_calls": outcome.tool_calls,
            "cost": outcome.cost,
            "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens,
            "cache_read_tokens": outcome.cache_read_tokens,
            "cache_write_tokens": outcome.cache_write_tokens,
            "cli_version": (outcome.events[0].get("claude_code_version") if outcome.events else None),
        }
        trajectory = {"trajectory_format": "cooperbench-claude-code-1", "info": info, "events": outcome.events}
        write_json_atomic(self.dir / f"{agent_id}_traj.json", trajectory)
