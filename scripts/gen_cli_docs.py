"""Write docs/cli.md from the CLI's own help (``python scripts/gen_cli_docs.py [--check]``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def render() -> str:
    os.environ["COLUMNS"] = "100"
    os.environ["TERM"] = "dumb"
    # Only the core's commands: the page must not depend on which plugins are installed.
    os.environ["COOPERBENCH_NO_PLUGIN_COMMANDS"] = "1"
    from typer.testing import CliRunner

    from cooperbench.cli import build_app

    app = build_app()
    runner = CliRunner()
    parts = [
        "# CLI reference",
        "",
        "Generated from the CLI's own help by `scripts/gen_cli_docs.py`; do not edit by hand.",
        "",
    ]
    top = runner.invoke(app, ["--help"], prog_name="cooperbench").output
    parts += ["```text", top.rstrip(), "```", ""]
    import typer.main

    group = typer.main.get_command(app)
    for name in sorted(group.commands):  # type: ignore[attr-defined]
        out = runner.invoke(app, [name, "--help"], prog_name="cooperbench").output
        parts += [f"## cooperbench {name}", "", "```text", out.rstrip(), "```", ""]
    parts += _builtin_plugin_commands(runner, set(group.commands))  # type: ignore[attr-defined]
    return "\n".join(parts)


# The distributions of this repository that add commands; third-party plugins document their own.
BUILTIN_COMMANDS = {"images": "cooperbench-backend-docker"}


def _builtin_plugin_commands(runner: object, core: set[str]) -> list[str]:
    """The help of the commands this repository's own plugin distributions add (the same wherever installed)."""
    import typer
    import typer.main

    from cooperbench.plugins import get_host

    plugin_app = typer.Typer(rich_markup_mode=None)
    get_host().call_commands_hook(plugin_app)
    added = typer.main.get_group(plugin_app).commands
    parts = ["# Commands added by plugins", ""]
    for name in sorted(BUILTIN_COMMANDS):
        if name in core or name not in added:
            raise SystemExit(f"{BUILTIN_COMMANDS[name]} is not installed (or no longer adds `{name}`)")
        parts += [f"`cooperbench {name}` is added by `{BUILTIN_COMMANDS[name]}` when it is installed.", ""]
        command = added[name]
        subcommands = sorted(getattr(command, "commands", {}))
        for path in [[name], *([name, sub] for sub in subcommands)]:
            out = runner.invoke(plugin_app, [*path, "--help"], prog_name="cooperbench").output  # type: ignore[attr-defined]
            parts += [f"## cooperbench {' '.join(path)}", "", "```text", out.rstrip(), "```", ""]
    return parts


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
