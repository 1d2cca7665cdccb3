"""The ``cooperbench`` command line (typer)."""

from __future__ import annotations

import sys

from cooperbench.cli._app import app, build_app

__all__ = ["app", "build_app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``cooperbench`` and ``python -m cooperbench``: build the plugin host, then run the app."""
    from cooperbench.errors import CooperBenchError

    application = build_app()
    try:
        application(args=argv if argv is not None else sys.argv[1:], prog_name="cooperbench", standalone_mode=True)
    except CooperBenchError as exc:  # raised outside a command (plugin loading in strict mode)
        print(f"Error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
