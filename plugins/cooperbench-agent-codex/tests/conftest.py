"""Fixtures of the codex agent's tests (helpers in codex_helpers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for `codex_helpers` (tests are imported with --import-mode=importlib)
    sys.path.insert(0, str(HERE))

from codex_helpers import dataset_dir, gold, local_run, secret_key  # noqa: E402

__all__ = ["dataset_dir", "gold", "local_run", "secret_key"]
