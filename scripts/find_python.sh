#!/usr/bin/env bash
# Which Python scripts/bootstrap.sh makes the workspace venv with.
#
# Prints one line on stdout:
#   full <interpreter>      Python >= 3.12: every distribution of the workspace, from uv.lock
#   partial <interpreter>   no 3.12 to be had: an older python3 (>= 3.10) for everything that runs on it
# and, for `partial`, on stderr why and how to get Python 3.12 on this system. Exit 1 when there
# is not even a Python 3.10.
#
# Looked for in order: $UV_PYTHON, pyenv's and PATH's 3.12, newer ones, python3 if 3.12+, a Python
# uv manages, and then one uv downloads (unless UV_PYTHON_DOWNLOADS=never or offline).
# Environment: UV (the uv binary), COOPERBENCH_OS_RELEASE (default /etc/os-release, for the hint).
#
# `find_python.sh --members PYTHON` prints, for a partial install, each workspace distribution as
# `install <folder>` or `leave <name> (needs Python >= 3.N)`, by its requires-python.
set -uo pipefail
UV="${UV:-uv}"

if [ "${1:-}" = --members ]; then
  minor="$("$2" -c 'import sys; print(sys.version_info[1])')" || exit 1
  for project in pyproject.toml */pyproject.toml plugins/*/pyproject.toml; do
    grep -q '^\[project\]' "$project" 2>/dev/null || continue
    need="$(sed -n 's/^requires-python *= *">=3\.\([0-9]*\).*/\1/p' "$project" | head -n 1)"
    name="$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$project" | head -n 1)"
    if [ -n "$need" ] && [ "$minor" -lt "$need" ]; then
      echo "leave $name (needs Python >= 3.$need)"
    else
      echo "install $(dirname "$project")"
    fi
  done
  exit 0
fi

at_least() {  # at_least PYTHON MINOR: PYTHON runs and is 3.MINOR or newer
  [ -n "$1" ] && "$1" -c "import sys; sys.exit(0 if sys.version_info >= (3, $2) else 1)" >/dev/null 2>&1
}

# The interpreter itself, also when PYTHON is a virtual environment's (uv makes its own venv from it).
where() { "$1" -c 'import sys; print(getattr(sys, "_base_executable", None) or sys.executable)'; }

# 3.12 first (what uv.lock and CI use), then newer ones.
candidates=()
[ -n "${UV_PYTHON:-}" ] && candidates+=("$UV_PYTHON")
for dir in $(ls -d "$HOME"/.pyenv/versions/3.12* 2>/dev/null | sort -V -r); do candidates+=("$dir/bin/python3"); done
found="$(command -v python3.12 2>/dev/null)" && candidates+=("$found")
for dir in $(ls -d "$HOME"/.pyenv/versions/3.* 2>/dev/null | sort -V -r); do candidates+=("$dir/bin/python3"); done
for name in python3.14 python3.13 python3; do
  found="$(command -v "$name" 2>/dev/null)" && candidates+=("$found")
done
for python in "${candidates[@]}"; do
  if at_least "$python" 12; then
    echo "full $(where "$python")"
    exit 0
  fi
done

# uv looks from a neutral folder: a .venv of the repository is not a Python it manages.
managed_python() { (cd / && "$UV" python find --no-project '>=3.12' 2>/dev/null); }
if command -v "$UV" >/dev/null 2>&1; then
  managed="$(managed_python)"
  if [ -z "$managed" ] && [ "${UV_PYTHON_DOWNLOADS:-automatic}" != never ]; then
    echo "find_python: no Python 3.12+ here; asking uv for its managed Python 3.12" >&2
    if UV_PYTHON_DOWNLOADS=automatic "$UV" python install 3.12 >&2; then
      managed="$(managed_python)"
    else
      download_failed=1
    fi
  fi
  if at_least "$managed" 12; then
    echo "full $(where "$managed")"
    exit 0
  fi
fi

hint() {
  local id="" version="" release="${COOPERBENCH_OS_RELEASE:-/etc/os-release}"
  if [ -r "$release" ]; then
    id="$(. "$release" && echo "${ID:-}")"
    version="$(. "$release" && echo "${VERSION_ID:-}")"
  fi
  echo "To get Python 3.12 (then run make setup again):"
  echo "  uv python install 3.12        (uv's own build; needs to download it once)"
  case "$id:$version" in
    ubuntu:2[4-9].*) echo "  sudo apt-get install python3.12 python3.12-venv   (Ubuntu $version ships it)" ;;
    ubuntu:22.04) echo "  sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt-get install python3.12 python3.12-venv   (Ubuntu 22.04 has 3.10 only)" ;;
    debian:12) echo "  Debian 12 has no python3.12 package (its python3 is 3.11): use uv's (above) or pyenv: pyenv install 3.12" ;;
    *) echo "  pyenv install 3.12, or your system's python3.12 package" ;;
  esac
}

system="$(command -v python3 2>/dev/null)"
if at_least "$system" 10; then
  {
    version="$("$system" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    if [ -n "${download_failed:-}" ]; then
      echo "find_python: no Python 3.12+ found, and uv could not download one."
    elif [ "${UV_PYTHON_DOWNLOADS:-}" = never ]; then
      echo "find_python: no Python 3.12+ found, and UV_PYTHON_DOWNLOADS=never forbids uv to download one."
    else
      echo "find_python: no Python 3.12+ found."
    fi
    echo "Using the system Python $version ($system) for everything that runs on it."
    hint
  } >&2
  echo "partial $(where "$system")"
  exit 0
fi
{
  echo "find_python: no Python 3.10+ found (CooperBench needs 3.10; the whole workspace 3.12)."
  hint
} >&2
exit 1
