"""The typer application and its built-in commands."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from cooperbench.errors import CooperBenchError

app = typer.Typer(
    name="cooperbench",
    help="CooperBench: can AI coding agents work together as teammates?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def version_lines() -> list[str]:
    """``cooperbench <version>``, then ``<distribution> <version>`` of every installed plugin distribution.

    Read from the packages' metadata (the ``cooperbench`` entry point group), so a plugin that
    fails to import still shows which version of it is installed.
    """
    from importlib import metadata

    from cooperbench import __version__
    from cooperbench.plugins._manager import ENTRY_POINT_GROUP

    plugins: dict[str, str] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None and dist.metadata["Name"] != "cooperbench":
            plugins[dist.metadata["Name"]] = dist.version
    python = ".".join(str(n) for n in sys.version_info[:3])
    return [f"cooperbench {__version__} (Python {python})", *(f"{n} {v}" for n, v in sorted(plugins.items()))]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo("\n".join(version_lines()))
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version of cooperbench and of each installed plugin distribution, and exit.",
        ),
    ] = False,
) -> None:
    """CooperBench: can AI coding agents work together as teammates?"""


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error the way every command does and return the exit to raise."""
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)


@app.command("plugins")
def plugins_command(
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind: agent, backend, connector or evaluator.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List installed plugins: kind, name, distribution, version, source and status."""
    from cooperbench.plugins import KINDS, list_plugins

    if kind is not None and kind not in KINDS:
        raise fail(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    try:
        regs = list_plugins(kind)
    except CooperBenchError as exc:  # strict mode turns a broken plugin into an error
        raise fail(str(exc)) from exc
    rows = [r.as_dict() for r in regs]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Names fold rather than end in "…", so a narrow terminal or a pipe still shows them whole.
    table = Table("kind", "name", "distribution", "version", "source", "status")
    for column in table.columns:
        column.overflow = "fold"
    broken = []
    for r in rows:
        name = r["name"] + (f" ({', '.join(r['aliases'])})" if r["aliases"] else "")
        origin = r["distribution"] or f"({r['plugin']})"
        status = "ok" if r["status"] == "ok" else "[red]error (see below)[/red]"
        if r["status"] != "ok":
            broken.append(f"{r['kind']} {r['name']} from {origin}: {r['error']}")
        table.add_row(*(escape(str(v)) for v in (r["kind"], name, origin, r["version"] or "-", r["source"])), status)
    console = Console(soft_wrap=False)
    if not console.is_terminal:  # a pipe or a file has no width: never fold a name there
        console.width = max(console.width, 200)
    console.print(table)
    # Errors go below the table in full: a table cell would wrap or cut the reason a user needs.
    for line in broken:
        console.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True)


_BUILT = False


def build_app() -> typer.Typer:
    """Add the run/eval/... commands and every plugin's commands to the app (once)."""
    global _BUILT
    if _BUILT:
        return app
    _BUILT = True
    from cooperbench.cli import _commands, _report  # noqa: F401  (register run, eval, cleanup, validate, report)
    from cooperbench.prepare import cli as _prepare_cli  # noqa: F401  (registers prepare)

    if os.environ.get("COOPERBENCH_NO_PLUGIN_COMMANDS") != "1":
        from cooperbench.plugins import get_host

        try:
            get_host().call_commands_hook(app)
        except CooperBenchError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc
    return app
