"""Helpers of the mini_swe_agent tests (importable because conftest puts this folder on sys.path)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

from cooperbench.testing.llm_server import LLMTestServer

MODEL = "openai/test-model"
INPUT_PRICE = 1e-6
OUTPUT_PRICE = 2e-6


def agent_config(server: LLMTestServer, **sections: dict[str, Any]) -> dict[str, Any]:
    """A config for the test server: priced fake model, fast retries, no preflight call."""
    config: dict[str, Any] = {
        "agent": {"check_model": False},
        "model": {
            "api_base": server.base_url,
            "api_key": "x",
            "input_cost_per_token": INPUT_PRICE,
            "output_cost_per_token": OUTPUT_PRICE,
            "retry_min_wait": 0.01,
            "retry_max_wait": 0.2,
            "num_retries": 3,
        },
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


def run_in_threads(*calls: Callable[[], Any]) -> list[Any]:
    """Run each call in its own thread with the caller's context (the bound run), like the harness does."""
    results: list[Any] = [None] * len(calls)

    def target(i: int, call: Callable[[], Any], ctx: contextvars.Context) -> None:
        try:
            results[i] = ctx.run(call)
        except BaseException as exc:
            results[i] = exc

    threads = [
        threading.Thread(target=target, args=(i, call, contextvars.copy_context())) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results
