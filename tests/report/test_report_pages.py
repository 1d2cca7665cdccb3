"""The report of real runs, opened in headless Chromium: visible numbers, element counts, no errors, no network.

Four runs on the example dataset, made with the CLI as a user would: the oracle in coop and in
solo, the ``nop`` agent with ``--repeats 2``, and ``mini_swe_agent`` talking to the LLM test server
(two teammates who message each other; ``--repeats 2``, the second repeat without agent1's work).
``cooperbench report`` writes the report; Playwright drives Debian's ``chromium`` (no browser
download). Screenshots of each page kind go to ``.cache/report-screenshots/``; with
``COOPERBENCH_UPDATE_DOCS_SCREENSHOTS=1`` they also replace the ones in ``docs/images/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from report_helpers import write_config, write_pair

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "agents_e2e"))
from e2e_helpers import (  # noqa: E402
    DATASET,
    MODEL,
    NO_REDIS,
    PROBE_ANSWER,
    apply_command,
    cli_env,
    gold_patch,
    has_asked,
    held,
    write_agent_config,
)

from cooperbench.testing.llm_server import LLMTestServer, bash, text  # noqa: E402

SCREENSHOTS = ROOT / ".cache" / "report-screenshots"
DOC_IMAGES = ROOT / "docs" / "images"
SUBMIT = bash("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")
REPO = "textkit_task"
LLM_FEATURES = (1, 3)
TEXTS = {
    "agent1": "agent1 here: I take kebab_case in textkit/case.py",
    "agent2": "agent2 here: I take slugify(max_length) in textkit/slug.py",
}


def _send(sender: str, to: str) -> Any:
    return bash(f"send_message {to} <<'MSG'\n{TEXTS[sender]}\nMSG")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is needed (scripts/bootstrap.sh installs it)"
    return found


@dataclass
class Runs:
    logs: Path
    out: Path
    report: dict[str, Any]
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cooperbench", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    tmp = tmp_path_factory.mktemp("report-runs")
    logs = tmp / "logs"
    env = cli_env(tmp_path_factory.mktemp("report-cache"), tmp)
    common = ["--dataset-dir", str(DATASET), "--log-dir", str(logs), "-r", REPO, "--redis", NO_REDIS]
    with LLMTestServer({"agent1": [], "agent2": []}, fallback=text(PROBE_ANSWER)) as server:
        apply1 = bash(apply_command(gold_patch(REPO, 1, LLM_FEATURES[0])))
        apply2 = bash(apply_command(gold_patch(REPO, 1, LLM_FEATURES[1])))
        # repeat 1: both message, then apply their feature once the other has sent (its second request
        # comes after its first command ran), so each reads the other's message; repeat 2: agent1 submits nothing
        held1 = held(apply1, has_asked(server, "agent2", 2))
        held2 = held(apply2, has_asked(server, "agent1", 2))
        server.add(_send("agent1", "agent2"), held1, SUBMIT, SUBMIT, route="agent1")
        server.add(_send("agent2", "agent1"), held2, SUBMIT, apply2, SUBMIT, route="agent2")
        config = write_agent_config(
            tmp / "agent.yaml", server, agent={"step_limit": 8}, num_retries=1, retry_min_wait=0.01, retry_max_wait=0.1
        )
        procs = {
            # the paper policy's union merge: f3_f4's README conflict merges and breaks f3 (integration_failure);
            # the other runs keep the default (upstream) policy, so the index shows both
            "oracle-coop": _cli(
                ["run", "-n", "oracle-coop", "--agent", "oracle", "--policy", "paper", *common], env, tmp
            ),
            "oracle-solo": _cli(
                ["run", "-n", "oracle-solo", "--agent", "oracle", "--setting", "solo", *common], env, tmp
            ),
            "nop-coop": _cli(["run", "-n", "nop-coop", "--agent", "nop", "--repeats", "2", *common], env, tmp),
            "llm-coop": _cli(
                ["run", "-n", "llm-coop", "--agent", "mini_swe_agent", "-m", MODEL, "--agent-config", str(config),
                 "-t", "1", "-f", ",".join(map(str, LLM_FEATURES)), "--repeats", "2", "-c", "1", *common],
                env, tmp,
            ),
        }  # fmt: skip
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=900)
            assert proc.returncode == 0, f"{name}:\n{out}"
    out = tmp / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "cooperbench", "report", *procs, "--log-dir", str(logs), "--baseline", "oracle-solo",
         "-o", str(out)],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = Runs(logs=logs, out=out, report=json.loads((out / "report.json").read_text()))
    for name in procs:
        result.summaries[name] = json.loads((logs / name / "summary.json").read_text())
    return result


@dataclass
class Browser:
    page: Any
    url: str
    console_errors: list[str]
    requests: list[str]

    def open(self, route: str, kind: str) -> Any:
        self.page.goto(self.url + route)
        self.page.wait_for_selector(f"body[data-ready='{kind}']", timeout=60_000)
        return self.page

    def shot(self, name: str, *, full_page: bool = False) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"report-{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if os.environ.get("COOPERBENCH_UPDATE_DOCS_SCREENSHOTS") == "1":
            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_IMAGES / path.name)


@pytest.fixture(scope="module")
def browser(runs: Runs) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    url = (runs.out / "report.html").as_uri()
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = chromium.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        requests: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        yield Browser(page, url, errors, requests)
        chromium.close()


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _no_errors_no_network(browser: Browser) -> None:
    assert browser.console_errors == []
    assert {u.split("#")[0] for u in browser.requests} == {browser.url}


def test_index_shows_every_run_comparison_and_attempt_with_working_filters(runs: Runs, browser: Browser) -> None:
    page = browser.open("#/", "index")
    rows = page.locator("#runs tr.run")
    assert rows.count() == 4
    for name, summary in runs.summaries.items():
        shown = page.locator(f"#runs tr.run[data-run='{name}'] .rate").inner_text()
        assert shown == _pct(summary["pass_rate"]["pass_rate"]), name  # the harness's own summary.json agrees
    assert page.locator("#runs tr.run[data-run='oracle-coop'] .rate").inner_text() == "83.3%"  # f3_f4 fails
    policies = {n: page.locator(f"#runs tr.run[data-run='{n}'] td").nth(4).inner_text() for n in runs.summaries}
    assert policies == {"oracle-coop": "paper", "oracle-solo": "upstream", "nop-coop": "upstream",
                        "llm-coop": "upstream"}  # fmt: skip
    assert page.locator("#runs tr.run[data-run='nop-coop'] .rate").inner_text() == "0.0%"
    assert page.locator("#runs tr.run[data-run='llm-coop'] .rate").inner_text() == "50.0%"
    assert page.locator("#comparisons tr.comparison").count() == 3
    assert page.locator("#pairs tr.pair-row").count() == 6 + 6 + 12 + 2
    assert page.locator("#pair-count").inner_text().startswith("26 of 26 attempts match")
    page.select_option("#filter-outcome", "no_patch")
    assert page.locator("#pairs tr.pair-row").count() == 12 + 1
    page.select_option("#filter-run", "llm-coop")
    assert page.locator("#pairs tr.pair-row").count() == 1
    page.select_option("#filter-outcome", "")
    page.select_option("#filter-task", f"{REPO}/1")
    assert page.locator("#pairs tr.pair-row").count() == 2
    page.select_option("#filter-run", "")
    page.fill("#filter-text", "f3_f4")
    assert page.locator("#pairs tr.pair-row").count() == 1 + 1 + 2  # oracle coop, solo, nop's two repeats
    page.fill("#filter-text", "")
    page.select_option("#filter-task", "")
    browser.shot("index")
    _no_errors_no_network(browser)


def test_run_page_shows_rates_tables_charts_and_repeats(runs: Runs, browser: Browser) -> None:
    page = browser.open("#/run/llm-coop", "run")
    section = next(r for r in runs.report["runs"] if r["label"] == "llm-coop")
    assert page.locator("#pass-rate .value").inner_text() == "50.0%"
    interval = section["pass_rate"]["interval"]
    assert f"[{_pct(interval['low'])}, {_pct(interval['high'])}]" in page.locator("#pass-rate").inner_text()
    assert page.locator("#outcomes tbody tr").count() == 2  # pass, no_patch
    assert page.locator("#chart-outcomes svg").count() == 1 and page.locator("#chart-distributions svg").count() == 1
    assert page.locator("#pass-k tbody tr").count() == 2
    assert page.locator("#pass-k tbody tr").nth(1).inner_text().split("\t") == ["2", "100.0%", "0.0%"]
    assert page.locator("#flip-rate .value").inner_text() == "100.0%"
    assert page.locator("#pass-counts tbody tr").count() == 1
    assert page.locator("#chart-pass-k svg").count() == 1
    browser.shot("run", full_page=True)
    page = browser.open("#/run/oracle-coop", "run")
    assert page.locator("#attribution tbody tr").count() >= 1  # f3_f4: integration_failure
    assert "integration_failure" in page.locator("#attribution").inner_text()
    _no_errors_no_network(browser)


def test_comparison_page_shows_the_paired_statistics_and_links_discordant_pairs(runs: Runs, browser: Browser) -> None:
    index = next(i for i, c in enumerate(runs.report["comparisons"]) if c["a"] == "oracle-coop")
    c = runs.report["comparisons"][index]
    assert c["common_pairs"] == 6
    page = browser.open(f"#/compare/{index}", "comparison")
    cells = page.locator("#paired-table tbody tr").all_inner_texts()
    t = c["table"]
    assert cells[0].split("\t")[1:3] == [str(t["both_pass"]), str(t["a_only"])]
    assert cells[1].split("\t")[1:3] == [str(t["b_only"]), str(t["both_fail"])]
    assert page.locator("#rate-a .value").inner_text() == _pct(c["rate_a"])
    assert page.locator("#rate-b .value").inner_text() == _pct(c["rate_b"])
    assert page.locator("#mcnemar .value").inner_text() == f"{c['mcnemar_p']:.3f}"
    assert page.locator("#compare-by-repo tbody tr").count() == 1
    assert page.locator("#chart-by-repo svg").count() == 1
    discordant = page.locator("#discordant tr.discordant")
    assert discordant.count() == len(c["discordant"]) == t["a_only"] + t["b_only"]
    browser.shot("comparison", full_page=True)
    if c["discordant"]:
        discordant.first.locator("a").first.click()
        page.wait_for_selector("body[data-ready='pair']")
        assert c["discordant"][0]["pair_id"].split("/")[-1] in page.locator("h2").first.inner_text()
    _no_errors_no_network(browser)


def test_pair_page_draws_lanes_messages_patches_merge_and_tests(runs: Runs, browser: Browser) -> None:
    pdir = runs.logs / "llm-coop" / "coop" / REPO / "1" / "f1_f3" / "repeat-1"
    ledger = [m for m in json.loads((pdir / "conversation.json").read_text()) if m.get("kind", "message") == "message"]
    assert sorted((m["from"], m["to"]) for m in ledger) == [("agent1", "agent2"), ("agent2", "agent1")]
    assert all(m["receiver_step"] for m in ledger)  # both read
    key = "llm-coop/coop/textkit_task/1/f1_f3/repeat-1"
    page = browser.open("#/pair/" + key.replace("/", "%2F"), "pair")
    assert page.locator("#pair-outcome .value").inner_text() == "pass"
    assert page.locator("#pair-messages .value").inner_text() == "2"
    svg = page.locator("#chart-timeline svg")
    assert svg.count() == 1
    labels = svg.locator("text").all_text_contents()
    assert "agent1" in labels and "agent2" in labels  # one lane per agent
    assert svg.locator(".mark-rule.layer_1_marks line").count() == 2  # the two messages, lane to lane
    assert page.locator("#messages tr.message").count() == 2
    for message in ledger:
        assert message["text"] in page.locator("#messages").inner_text()
    assert page.locator("#events tr.event.step").count() == 3 + 3  # each agent: message, gold patch, submit
    for agent_id in ("agent1", "agent2"):
        assert page.locator(f".agent[data-agent='{agent_id}'] pre.diff span.add").count() > 0
    assert "status clean" in page.locator("#merge-result").inner_text()
    assert page.locator(".feature-result").count() == 2
    assert page.locator(".feature-result .pass").count() == 2
    assert "same pair elsewhere" in page.locator("#same-pair").inner_text()
    browser.shot("pair")
    page = browser.open("#/pair/" + key.replace("repeat-1", "repeat-2").replace("/", "%2F"), "pair")
    assert page.locator("#pair-outcome .value").inner_text() == "no_patch"
    assert page.locator(".agent[data-agent='agent1']").inner_text().count("empty patch") == 1
    page = browser.open("#/pair/oracle-coop%2Fcoop%2Ftextkit_task%2F1%2Ff3_f4", "pair")
    assert page.locator(".feature-result .fail").count() == 1
    assert page.locator(".failing-tests li").count() >= 1
    _no_errors_no_network(browser)


def test_untrusted_text_from_the_logs_is_shown_never_run(tmp_path: Path, browser: Browser) -> None:
    hostile = '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    run = tmp_path / "logs" / "hostile"
    write_config(run, "coop")
    steps = [{"role": "tool", "content": "$ echo " + hostile}]
    write_pair(run, "coop", "f1_f2", "fail_tests", patch=f"+{hostile}\n", trajectory=steps,
               messages=[{"id": 1, "from": "agent1", "to": "agent2", "text": hostile, "sent_at": None,
                          "delivered_at": None, "sender_step": 1, "receiver_step": 1}])  # fmt: skip
    from cooperbench.report import report

    files = report([run], tmp_path / "out")
    page = browser.page
    page.goto(files.html.as_uri() + "#/pair/hostile%2Fcoop%2Fdemo_task%2F1%2Ff1_f2")
    page.wait_for_selector("body[data-ready='pair']", timeout=60_000)
    assert page.evaluate("window.__pwned === undefined")
    assert hostile in page.locator("#messages").inner_text()
    assert page.locator("#messages img").count() == 0
    assert browser.console_errors == []
