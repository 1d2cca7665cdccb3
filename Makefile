# Task runner: the README's commands and CI call these targets.
SHELL := /bin/bash
# Which Python: scripts/find_python.sh (run by `setup`) finds a 3.12+ or lets uv download its own.
PYENV_PYTHON := $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
ifneq ($(PYENV_PYTHON),)
export UV_PYTHON ?= $(PYENV_PYTHON)
endif
# Deferred: evaluated after `setup` has installed uv.
UV ?= $(shell command -v uv 2>/dev/null || python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)
export UV
# How commands run: `uv run --frozen` in the locked workspace venv; the venv's own tools directly
# where set-up found no Python 3.12 and installed what runs on the system Python (see
# .venv/cooperbench-partial). Deferred, so it is decided after `setup` ran.
RUN = $(shell if [ -f .venv/cooperbench-partial ]; then echo "env PATH=$(CURDIR)/.venv/bin:$$PATH"; else echo "$(UV) run --frozen"; fi)
PYTEST_ARGS ?=
# pytest-xdist workers; docker-marked tests share one worker (conftest.py), the rest spread.
PYTEST_WORKERS ?= 3
# Only where pytest-xdist is installed (a partial install on the system Python may lack it).
XDIST_ARGS = $(shell $(RUN) python -c 'import xdist' 2>/dev/null && echo "-n $(PYTEST_WORKERS) --dist loadgroup")

.PHONY: setup test lint fmt typecheck bench docs standalone demo clean

setup:  ## install system tools, uv and the workspace venv
	bash scripts/bootstrap.sh

test: setup  ## the whole test suite (Docker, redis-server, bubblewrap: the real things)
	$(RUN) python -m pytest -q $(XDIST_ARGS) $(PYTEST_ARGS)

lint: setup  ## ruff and mypy
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

standalone:  ## each distribution installed on its own into a fresh venv
	bash scripts/check_standalone_installs.sh

bench: setup  ## benchmarks (print their figures)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(RUN) python $$b || exit 1; done

demo: setup  ## the main job on the example dataset: an oracle coop run with evaluation
	$(RUN) cooperbench run -n demo --agent oracle --setting coop --dataset-dir examples/dataset

docs: setup
	NO_MKDOCS_2_WARNING=1 $(RUN) mkdocs build --strict -d .cache/site

clean:
	rm -rf .venv logs dist .pytest_cache .mypy_cache .ruff_cache
