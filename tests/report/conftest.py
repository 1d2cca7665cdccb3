"""Fixtures of the report tests."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # for `report_helpers` (tests are imported with --import-mode=importlib)
    sys.path.insert(0, str(HERE))
