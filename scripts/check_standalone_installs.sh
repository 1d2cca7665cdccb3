#!/usr/bin/env bash
# Install every distribution of the workspace ON ITS OWN (the core wheel + that wheel, third-party
# dependencies from PyPI) into a fresh venv on the oldest supported Python, and check that
# `cooperbench plugins --json` lists its plugins with status ok, that their targets import, that
# `cooperbench --help` works and that `import cooperbench` loads no heavy SDK.
# This catches what the shared workspace venv hides: a core that imports a plugin's dependency,
# a plugin missing a dependency, a Python-3.10 incompatibility.
#
# Usage: bash scripts/check_standalone_installs.sh [DISTRIBUTION ...]   (default: all)
# Env:   STANDALONE_PYTHON  interpreter (path or version) to use instead of 3.10/3.11
#        KEEP_STANDALONE=1  keep the temporary folder (wheels, venvs) for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

UV="${UV:-$(command -v uv 2>/dev/null || python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)}"
[ -x "$UV" ] || { echo "standalone: uv is required (pip install uv)" >&2; exit 1; }

# distribution | folder | plugins it must provide (kind:name,...) | minimum Python
DISTRIBUTIONS="
cooperbench|.|backend:local,agent:oracle,agent:nop|3.10
cooperbench-backend-docker|cooperbench-backend-docker|backend:docker|3.10
cooperbench-backend-modal|cooperbench-backend-modal|backend:modal|3.10
cooperbench-backend-gcp|cooperbench-backend-gcp|backend:gcp|3.10
cooperbench-agent-miniswe|cooperbench-agent-miniswe|agent:mini_swe_agent|3.10
cooperbench-agent-example|plugins/cooperbench-agent-example|agent:example|3.10
cooperbench-agent-openhands|plugins/cooperbench-agent-openhands|agent:openhands|3.12
cooperbench-agent-claude-code|plugins/cooperbench-agent-claude-code|agent:claude_code|3.10
cooperbench-agent-codex|plugins/cooperbench-agent-codex|agent:codex|3.10
"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cooperbench-standalone.XXXXXX")"
if [ "${KEEP_STANDALONE:-0}" = 1 ]; then
  echo "standalone: keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
# Bytecode of the throwaway venvs goes to the throwaway folder, never into the work tree.
export PYTHONPYCACHEPREFIX="$WORK/pycache"
unset PYTHONPATH VIRTUAL_ENV PYTHONDONTWRITEBYTECODE
for var in $(env | grep -o '^COOPERBENCH_[A-Z_]*' || true); do unset "$var"; done

# The interpreter for a minimum version: the oldest pyenv or PATH Python at least that old.
find_python() {
  local minimum="$1" version candidate
  if [ -n "${STANDALONE_PYTHON:-}" ]; then echo "$STANDALONE_PYTHON"; return; fi
  for version in 3.10 3.11 3.12 3.13; do
    [ "$(printf '%s\n%s\n' "$minimum" "$version" | sort -V | head -n 1)" = "$minimum" ] || continue
    candidate="$(ls -d "$HOME"/.pyenv/versions/"$version".*/bin/python"$version" 2>/dev/null | tail -n 1 || true)"
    [ -n "$candidate" ] || candidate="$(command -v "python$version" || true)"
    if [ -n "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo "$minimum"  # let uv find (or, if allowed, download) it
}

# What the check runs inside each venv: argv = distribution, then kind:name pairs.
cat >"$WORK/check.py" <<'PY'
"""Check one standalone install; print what is wrong and exit 1, or print a one-line summary."""

import json
import subprocess
import sys
from pathlib import Path

distribution, expected = sys.argv[1], [tuple(p.split(":", 1)) for p in sys.argv[2:]]
cli = str(Path(sys.executable).with_name("cooperbench"))
problems = []

proc = subprocess.run([cli, "plugins", "--json"], capture_output=True, text=True)
if proc.returncode != 0:
    sys.exit(f"`cooperbench plugins --json` failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
rows = json.loads(proc.stdout)
listed = {(r["kind"], r["name"]): r for r in rows}
for kind, name in expected:
    r = listed.get((kind, name))
    if r is None:
        problems.append(f"{kind} {name!r} is not listed by `cooperbench plugins`")
    elif r["distribution"] != distribution or r["status"] != "ok":
        problems.append(f"{kind} {name!r}: distribution {r['distribution']}, status {r['status']}: {r['error']}")
problems += [f"{r['kind']} {r['name']} ({r['distribution']}) is broken: {r['error']}" for r in rows if r["status"] != "ok"]

# The plugin's lazy targets must import with only its declared dependencies installed.
probe = (
    "import json, sys\n"
    "from cooperbench.plugins import get_plugin\n"
    "errors = []\n"
    f"for kind, name in {expected!r}:\n"
    "    try:\n"
    "        get_plugin(kind, name)\n"
    "    except Exception as exc:\n"
    "        errors.append(f'{kind} {name!r}: {exc}')\n"
    "print(json.dumps(errors))\n"
)
proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
problems += json.loads(proc.stdout) if proc.returncode == 0 else [f"the target import probe failed:\n{proc.stderr}"]

heavy = ("docker", "modal", "litellm", "minisweagent", "google.cloud", "openhands")
probe = (
    "import sys, cooperbench\n"
    "from cooperbench.plugins import list_plugins\n"
    "list_plugins()\n"
    f"print([m for m in {heavy!r} if m in sys.modules])\n"
)
proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
if proc.returncode != 0 or proc.stdout.strip() != "[]":
    problems.append(f"`import cooperbench` + listing plugins imported heavy modules: {proc.stdout.strip()}{proc.stderr}")

proc = subprocess.run([cli, "--help"], capture_output=True, text=True)
if proc.returncode != 0:
    problems.append(f"`cooperbench --help` failed ({proc.returncode}):\n{proc.stderr}")

if problems:
    print("\n".join(f"  - {p}" for p in problems))
    sys.exit(1)
print(f"  ok: {', '.join(f'{k} {n}' for k, n in expected)} on Python {sys.version.split()[0]}")
PY

selected=("$@")
is_selected() {
  [ ${#selected[@]} -eq 0 ] && return 0
  local s; for s in "${selected[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1
}

echo "::: building wheels"
mkdir -p "$WORK/wheels"
"$UV" build --quiet --wheel -o "$WORK/wheels" "$ROOT" 2>"$WORK/build.log" \
  || { cat "$WORK/build.log" >&2; echo "standalone: cannot build the core wheel" >&2; exit 1; }
CORE_WHEEL="$(ls "$WORK"/wheels/cooperbench-*.whl)"

failed=()
while IFS='|' read -r dist folder plugins minimum; do
  [ -n "$dist" ] || continue
  is_selected "$dist" || continue
  echo "::: $dist"
  if [ ! -f "$ROOT/$folder/pyproject.toml" ]; then
    echo "  - $folder/pyproject.toml is missing"; failed+=("$dist"); continue
  fi
  wheels=("$CORE_WHEEL")
  if [ "$dist" != cooperbench ]; then
    out="$WORK/wheels/$dist"
    # Built from its folder, so a distribution that is not (yet) a workspace member is checked too.
    if ! "$UV" build --quiet --wheel -o "$out" "$ROOT/$folder" 2>"$WORK/build.log"; then
      tail -n 20 "$WORK/build.log" | sed "s/^/    /"; echo "  - cannot build the wheel of $dist"; failed+=("$dist"); continue
    fi
    wheels+=("$(ls "$out"/*.whl)")
  fi
  python="$(find_python "$minimum")"
  venv="$WORK/venv-$dist"
  if ! "$UV" venv --quiet --python "$python" "$venv" 2>"$WORK/venv.log"; then
    sed 's/^/    /' "$WORK/venv.log"; echo "  - cannot create a Python $minimum venv ($python)"; failed+=("$dist"); continue
  fi
  # The core wheel is named explicitly so the plugin's `cooperbench` requirement resolves to this tree.
  if ! "$UV" pip install --quiet --python "$venv/bin/python" "${wheels[@]}" 2>"$WORK/install.log"; then
    sed 's/^/    /' "$WORK/install.log"; echo "  - cannot install $dist with the core"; failed+=("$dist"); continue
  fi
  # shellcheck disable=SC2086  # the plugin list is split on purpose
  "$venv/bin/python" "$WORK/check.py" "$dist" ${plugins//,/ } || failed+=("$dist")
  rm -rf "$venv"
done <<<"$DISTRIBUTIONS"

if [ ${#failed[@]} -gt 0 ]; then
  echo "standalone: FAILED for ${failed[*]} (each installed alone with the core; see above)" >&2
  exit 1
fi
echo "standalone: every distribution installs and loads on its own"
