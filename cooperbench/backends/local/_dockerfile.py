"""What a task's ``Dockerfile`` says about its environment, read for the local backend.

The local backend cannot run a Dockerfile, but it follows the parts that describe the task's
environment rather than the container's: the base image (``FROM python:3.11-slim`` names the
Python version, ``golang:``/``rust:``/``node:`` the toolchain), ``ENV`` settings, and the install
steps: every ``RUN``, in its ``WORKDIR`` (the repository is at the same path, ``/workspace/repo``).
Steps that set up the
container itself are left out: system packages (apt-get, apk, ...), the clone and checkout,
toolchain installers (rustup, ``curl ... | sh``), global npm installs, and the runner script's
``chmod``; the host provides those (see :mod:`._toolchains`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Recipe", "Step", "expand", "read_recipe"]

REPO_DIR = "/workspace/repo"

_VAR = re.compile(r"\$(?:\{(\w+)(?::?-([^}]*))?\}|(\w+))")
# A RUN that only prepares the container: the local backend leaves these to the host.
_CONTAINER_ONLY = re.compile(
    r"""(^|[;&|]\s*|\s)(apt-get|apt|apk|yum|dnf|microdnf|zypper)\s+(update|install|add|upgrade|clean)\b
      |\bgit\s+clone\b
      |\brustup\b|sh\.rustup\.rs
      |\bcurl\b[^|]*\|\s*(ba)?sh\b
      |\bnpm\s+(i|install)\s+(-g|--global)\b
      |\bcorepack\s+enable\b
      |/usr/local/bin/runner\.sh|\brunner\.sh\b
      |^\s*(mkdir\s+-p\s+/patches|rm\s+(-\w+\s+)*/tmp/repo\.bundle)\s*$
      |\bgit\s+config\s+--global\b""",
    re.X,
)


@dataclass(frozen=True)
class Step:
    """One ``RUN`` instruction the local backend runs: the shell command, where, and the line it came from."""

    command: str
    workdir: str
    line: int


@dataclass(frozen=True)
class Recipe:
    """The environment a task's Dockerfile describes (empty when the task has no Dockerfile)."""

    image: str = ""  # the base image after ARG substitution, e.g. "python:3.11-slim"
    env: dict[str, str] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    skipped: tuple[Step, ...] = ()  # RUN steps left to the host (recorded in the template's provenance)
    path: Path | None = None

    @property
    def family(self) -> str:
        """``python``, ``go``, ``rust``, ``node`` or ``""``, from the base image's name."""
        name = self.image.rsplit("/", 1)[-1].split(":", 1)[0].lower()
        for family, names in _FAMILIES.items():
            if name in names:
                return family
        return ""

    @property
    def python_version(self) -> tuple[int, int] | None:
        """``(3, 11)`` for ``python:3.11-slim``; ``None`` when the base image names no Python version."""
        if self.family != "python":
            return None
        match = re.match(r"(\d+)\.(\d+)", self.image.rsplit(":", 1)[-1]) if ":" in self.image else None
        return (int(match.group(1)), int(match.group(2))) if match else None


_FAMILIES = {
    "python": {"python", "pypy"},
    "go": {"golang", "go"},
    "rust": {"rust"},
    "node": {"node"},
}


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Instructions with continuations joined and comments dropped: ``(first line number, text)``."""
    out: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buffer:
            start = number
        if raw.rstrip().endswith("\\"):
            buffer.append(raw.rstrip()[:-1])
            continue
        buffer.append(raw)
        out.append((start, " ".join(part.strip() for part in buffer if part.strip())))
        buffer = []
    if buffer:
        out.append((start, " ".join(part.strip() for part in buffer if part.strip())))
    return out


def _substitute(text: str, values: dict[str, str], *, keep_unknown: bool = False) -> str:
    """Docker's ``$VAR``/``${VAR}``/``${VAR:-default}``; unknown names stay as written when ``keep_unknown``."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        value = values.get(name)
        if value:
            return value
        if default is None and keep_unknown:
            return match.group(0)
        return default or ""

    return _VAR.sub(repl, text)


def expand(env: dict[str, str], base: dict[str, str]) -> dict[str, str]:
    """The recipe's ``ENV`` values with names it left open (``${PATH}``) taken from ``base``."""
    return {key: _substitute(value, base) for key, value in env.items()}


def _pairs(args: str) -> list[tuple[str, str]]:
    """``ENV``/``ARG`` arguments: ``K=V K2="V 2"`` or the old ``K V`` form."""
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    if words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))] if len(words) > 1 else [(words[0], "")]
    return [(w.split("=", 1)[0], w.split("=", 1)[1] if "=" in w else "") for w in words]


def read_recipe(task_dir: Path) -> Recipe:
    """Read ``<task_dir>/Dockerfile``; a missing file gives an empty recipe."""
    path = task_dir / "Dockerfile"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Recipe()
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    image = ""
    workdir = "/"
    steps: list[Step] = []
    skipped: list[Step] = []
    for number, line in _logical_lines(text):
        word, _, rest = line.partition(" ")
        keyword = word.upper()
        rest = rest.strip()
        if keyword == "ARG":
            for key, value in _pairs(rest):
                args.setdefault(key, _substitute(value, {**args, **env}))
        elif keyword == "FROM":
            parts = [p for p in _substitute(rest, args).split() if not p.startswith("--")]
            image = parts[0] if parts else ""
            env, workdir = {}, "/"
        elif keyword == "ENV":
            # Names the image defines (PATH, HOME) stay for the sandbox's environment to expand.
            for key, value in _pairs(rest):
                env[key] = _substitute(value, {**args, **env}, keep_unknown=True)
        elif keyword == "WORKDIR":
            target = _substitute(rest, {**args, **env}).strip("\"'")
            workdir = target if target.startswith("/") else f"{workdir.rstrip('/')}/{target}"
        elif keyword == "RUN":
            command = rest
            if command.startswith("["):  # exec form: RUN ["sh", "-c", "..."]
                try:
                    import json

                    command = shlex.join(json.loads(command))
                except ValueError:
                    pass
            step = Step(command, workdir, number)
            (skipped if _CONTAINER_ONLY.search(command) else steps).append(step)
    return Recipe(image=image, env=env, steps=tuple(steps), skipped=tuple(skipped), path=path)
