# Task runner: the README's commands and CI call these targets.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON ?= $(shell ls -d $$HOME/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
# Deferred: evaluated after `setup` has installed uv.
UV ?= $(shell command -v uv 2>/dev/null || python3 -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null)
export UV
PYTEST_ARGS ?=

.PHONY: setup test lint fmt typecheck bench docs standalone demo clean

setup:  ## install system tools, uv and the workspace venv
	bash scripts/bootstrap.sh

test: setup  ## the whole test suite (Docker, redis-server, bubblewrap: the real things)
	$(UV) run --frozen python -m pytest -q $(PYTEST_ARGS)

lint: setup  ## ruff and mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

fmt: setup
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

standalone:  ## each distribution installed on its own into a fresh venv
	bash scripts/check_standalone_installs.sh

bench: setup  ## benchmarks (print their figures)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(UV) run --frozen python $$b || exit 1; done

demo: setup  ## the main job on the example dataset: an oracle coop run with evaluation
	$(UV) run --frozen cooperbench run -n demo --agent oracle --setting coop --dataset-dir examples/dataset

docs: setup
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict -d .cache/site

clean:
	rm -rf .venv logs dist .pytest_cache .mypy_cache .ruff_cache
