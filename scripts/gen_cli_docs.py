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
    return "\n".join(parts)


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
