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

# The workspace (every distribution, openhands-sdk included) runs on Python 3.12.
if [ -z "${UV_PYTHON:-}" ]; then
  UV_PYTHON="$(ls -d "$HOME"/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1 || true)"
  [ -n "$UV_PYTHON" ] || UV_PYTHON="$(command -v python3.12 || true)"
fi
[ -n "$UV_PYTHON" ] || { echo "bootstrap: Python 3.12 is required (pyenv install 3.12, or apt-get install python3.12)" >&2; exit 1; }
export UV_PYTHON UV_PYTHON_DOWNLOADS=never
# Compiled bytecode keeps `cooperbench --help` fast even where PYTHONDONTWRITEBYTECODE is set.
"$UV" sync --quiet --all-packages --compile-bytecode
