#!/usr/bin/env bash
# Install what CooperBench's development and tests need on a fresh Debian/Ubuntu machine:
# system tools (bubblewrap, slirp4netns, redis-server, debootstrap, git, chromium), uv, and the workspace venv.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v redis-server >/dev/null || need+=(redis-server)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v git >/dev/null || need+=(git)
# A real local registry for the docker backend's `cooperbench images` tests.
command -v docker-registry >/dev/null || need+=(docker-registry)
# The report's page tests drive Debian's chromium (headless) through Playwright; no browser download.
command -v chromium >/dev/null || need+=(chromium)
# Local sandboxes: their own network namespace (unshare/nsenter, ip) with outbound access (slirp4netns).
command -v slirp4netns >/dev/null || need+=(slirp4netns)
command -v ip >/dev/null || need+=(iproute2)
command -v nsenter >/dev/null || need+=(util-linux)
# The Modal and GCP SDK fakes run task scripts with the host's python3, which needs pytest.
/usr/bin/python3 -c 'import pytest' 2>/dev/null || need+=(python3-pytest)
if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# uv from PyPI. Its binary is found through the package when the script is not on PATH
# (a pyenv interpreter's new scripts need a `pyenv rehash` before they appear there).
find_uv() { command -v uv 2>/dev/null || python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null; }
if [ -z "$(find_uv)" ]; then
  echo "bootstrap: installing uv"
  python3 -m pip install --quiet uv
fi
UV="$(find_uv)"

# The workspace (every distribution, openhands-sdk included) runs on Python 3.12: one is found,
# or uv downloads its own; failing both, everything that runs on the system's python3 is installed
# and what was left out is said (scripts/find_python.sh).
choice="$(UV="$UV" bash scripts/find_python.sh)" || exit 1
mode="${choice%% *}" python="${choice#* }"
if [ "$mode" = full ]; then
  rm -f .venv/cooperbench-partial
  # Compiled bytecode keeps `cooperbench --help` fast even where PYTHONDONTWRITEBYTECODE is set.
  UV_PYTHON="$python" UV_PYTHON_DOWNLOADS=never "$UV" sync --quiet --all-packages --compile-bytecode
  exit 0
fi

# Partial: the workspace distributions whose requires-python the system Python meets, unlocked
# (uv.lock is for 3.12+), with the dev tools; what was left out is written to
# .venv/cooperbench-partial, which the Makefile reads (its commands then run the venv's tools
# directly instead of `uv run --frozen`).
installed=() left_out=()
while read -r action rest; do
  if [ "$action" = install ]; then
    if [ "$rest" = . ]; then installed+=(-e ".[report]"); else installed+=(-e "$rest"); fi
  else
    left_out+=("$rest")
  fi
done < <(bash scripts/find_python.sh --members "$python")
# The dev group's tools; its workspace distributions are the editable installs above.
mapfile -t dev_tools < <(sed -n '/^dev = \[/,/^\]/p' pyproject.toml | grep -o '"[^"]*"' | tr -d '"' | grep -v '^cooperbench')
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
current="$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [ ! -f .venv/cooperbench-partial ] || [ "$current" != "$version" ]; then  # else: only check the installs
  rm -rf .venv
  "$UV" venv --quiet --python "$python" .venv
fi
"$UV" pip install --quiet --compile-bytecode --python .venv/bin/python "${installed[@]}" "${dev_tools[@]}"
{
  echo "installed on Python $version ($python) without uv.lock (it is resolved for Python 3.12+);"
  echo "left out, they need a newer Python:"
  for item in "${left_out[@]}"; do echo "  $item"; done
} > .venv/cooperbench-partial
echo "bootstrap: $(cat .venv/cooperbench-partial)" >&2
