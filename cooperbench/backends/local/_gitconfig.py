"""The user's effective git configuration, flattened into one file a template build can read.

A task's ``setup.sh`` clones its repository from upstream; behind a firewall the user's
``url.<base>.insteadOf`` entries redirect that clone to a mirror. Those entries may live in any
file git reads: the system file (``$GIT_CONFIG_SYSTEM`` or git's ``etc/gitconfig``), the global
one (``$GIT_CONFIG_GLOBAL``, else both ``$XDG_CONFIG_HOME/git/config`` and ``~/.gitconfig``),
and whatever those include. The build sandbox has a ``$HOME`` of its own, so git there is asked
for what it reads here (``git config --list --includes``) and the answer is written out as one
file, in git's order, with no include left to resolve. The sandbox's own git then reads only it
(``GIT_CONFIG_NOSYSTEM``), so nothing is counted twice.

Agent sandboxes never get this file: it may hold tokens in URLs or credential helpers, and agents
do not need the mirrors.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cooperbench.errors import SandboxError

__all__ = ["effective_git_config", "mirror_paths", "render_config"]

# Resolved already (the listing follows includes) or meaningless in another place.
_DROP_PREFIXES = ("include.", "includeif.")
# What the user set (``command``: GIT_CONFIG_COUNT/GIT_CONFIG_PARAMETERS in the environment), not a repository's.
_SCOPES = frozenset({"system", "global", "command"})


def effective_git_config() -> list[tuple[str, str | None]]:
    """``(key, value)`` entries of the system, global and environment configuration, in git's order.

    ``value`` is ``None`` for a key given without ``=`` (a boolean true).

    Raises:
        SandboxError: git cannot be run.
    """
    try:
        done = subprocess.run(
            ["git", "config", "--list", "--show-scope", "--includes", "-z"],
            cwd="/",
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise SandboxError(f"cannot run git to read the user's git configuration: {exc}. Install git") from exc
    # A file git cannot read is skipped here as git itself would fail on it at clone time; an
    # empty listing is simply no configuration.
    entries: list[tuple[str, str | None]] = []
    items = done.stdout.decode("utf-8", "surrogateescape").split("\0")
    for scope, item in zip(items[0::2], items[1::2], strict=False):
        if scope not in _SCOPES or not item:
            continue
        key, sep, value = item.partition("\n")
        if key.lower().startswith(_DROP_PREFIXES):
            continue
        entries.append((key, value if sep else None))
    return entries


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def render_config(entries: list[tuple[str, str | None]]) -> str:
    """Config-file text for ``entries`` (keys as ``git config --list`` prints them), order kept."""
    lines: list[str] = []
    current: tuple[str, str | None] | None = None
    for key, value in entries:
        section, _, rest = key.partition(".")
        subsection, dot, name = rest.rpartition(".")
        header = (section, subsection if dot else None)
        if not name:
            continue
        if header != current:
            current = header
            if header[1] is None:
                lines.append(f"[{section}]")
            else:
                sub = header[1].replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'[{section} "{sub}"]')
        lines.append(f"\t{name}" if value is None else f"\t{name} = {_quote(value)}")
    return "\n".join(lines) + ("\n" if lines else "")


def mirror_paths(entries: list[tuple[str, str | None]]) -> list[Path]:
    """Local directories that ``url.<base>.insteadOf`` entries redirect clones to (they must be readable)."""
    found: dict[Path, None] = {}
    for key, _ in entries:
        lower = key.lower()
        if not (lower.startswith("url.") and lower.endswith((".insteadof", ".pushinsteadof"))):
            continue
        base = key[len("url.") :].rpartition(".")[0]
        path = base.removeprefix("file://") if base.startswith("file://") else base
        if not path.startswith("/"):
            continue
        candidate = Path(path)
        while not candidate.exists() and candidate != candidate.parent:
            candidate = candidate.parent
        if candidate.is_file():
            candidate = candidate.parent
        found[Path(os.path.realpath(candidate))] = None
    return [p for p in found if p != Path("/")]
