"""A report of 652 pairs × 3 runs stays one file under 25 MB that holds every attempt.

Its speed is measured by ``benchmarks/bench_report.py`` (target: 10 s); this test asserts no time.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

from cooperbench.report import report
from cooperbench.testing.report_logs import write_synthetic_runs

MAX_HTML_BYTES = 25 * 1024 * 1024


def test_652_pairs_by_3_runs_fit_in_one_page_under_25_mb(tmp_path: Path) -> None:
    write_synthetic_runs(tmp_path / "logs", pairs=652)
    files = report(["coop-1", "coop-2", "solo"], tmp_path / "out", logs_dir=tmp_path / "logs")
    assert [r["pairs"] for r in files.data["runs"]] == [652, 652, 652]
    assert len(files.data["comparisons"]) == 3 and all(c["common_pairs"] == 652 for c in files.data["comparisons"])
    assert [g["runs"] for g in files.data["groups"]] == [["coop-1", "coop-2"]]
    html = files.html.read_text(encoding="utf-8")
    assert len(html.encode()) <= MAX_HTML_BYTES, f"report.html is {len(html.encode()) / 1e6:.1f} MB"
    packed = json.loads(re.search(r'<script type="application/json" id="cb-pairs">(.*?)</script>', html, re.S).group(1))
    assert len(packed) == 3 * 652
    key = "coop-1/coop/repo01_task/1/f1_f2"
    detail = json.loads(gzip.decompress(base64.b64decode(packed[key])))
    assert detail["key"] == key and len(detail["agents"]) == 2 and detail["agents"][0]["steps"]
    assert all(m["sender_step"] >= 1 for m in detail["messages"])
