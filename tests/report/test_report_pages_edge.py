"""Pages of unusual reports in headless Chromium: empty runs, broken files, nothing to compare; no errors."""

from __future__ import annotations

import shutil
from pathlib import Path

from report_helpers import write_broken_and_empty_runs

from cooperbench.report import report


def test_empty_and_broken_runs_render_every_page_without_errors(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    broken, empty = write_broken_and_empty_runs(tmp_path)
    files = report([broken, empty], tmp_path / "out")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed (scripts/bootstrap.sh installs it)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        url = files.html.as_uri()
        for route, kind in [
            ("#/", "index"),
            ("#/run/broken", "run"),
            ("#/run/empty", "run"),
            ("#/compare/0", "comparison"),
            ("#/pair/broken%2Fcoop%2Fdemo_task%2F1%2Ff1_f2", "pair"),
            ("#/pair/no-such-pair", "pair"),
            ("#/run/no-such-run", "run"),
        ]:
            page.goto(url + route)
            page.wait_for_selector(f"body[data-ready='{kind}']", timeout=60_000)
        assert page.locator("h2").first.inner_text() == "Not found"
        page.goto(url + "#/pair/broken%2Fcoop%2Fdemo_task%2F1%2Ff1_f2")
        page.wait_for_selector("body[data-ready='pair']")
        assert "not evaluated" in page.locator("#app").inner_text()
        assert page.locator("#pair-outcome .value").inner_text() == "pending_eval"
        browser.close()
    assert errors == []
