"""The numbers of report.json and report.md on run folders whose every count is known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_helpers import write_config, write_pair

from cooperbench.report import ReportError, report, stats

COOP = ["pass", "pass", "fail_tests", "merge_conflict", "pass", "infra_error"]
SOLO = ["pass", "fail_tests", "pass", "fail_tests", "pass", "pass"]
PAIRS = ["f1_f2", "f1_f3", "f1_f4", "f2_f3", "f2_f4", "f3_f4"]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    root = tmp_path / "logs"
    write_config(root / "coop", "coop")
    write_config(root / "solo", "solo")
    for pair, a, b in zip(PAIRS, COOP, SOLO, strict=True):
        repo = "alpha_task" if pair.startswith("f1") else "beta_task"
        write_pair(root / "coop", "coop", pair, a, repo=repo, cost=0.1,
                   attribution="integration_failure" if a == "fail_tests" else None)  # fmt: skip
        write_pair(root / "solo", "solo", pair, b, repo=repo, cost=0.05)
    write_pair(root / "coop", "coop", "f4_f5", "pass", repo="beta_task")  # only in coop: not compared
    write_config(root / "rep", "coop", repeats=3)
    for k, passed in enumerate([True, False, True], start=1):
        write_pair(root / "rep", "coop", "f1_f2", "pass" if passed else "fail_tests", repeat=k)
        write_pair(root / "rep", "coop", "f1_f3", "fail_tests", repeat=k)
    return root


def test_run_section_pass_rates_tables_and_attribution(logs: Path, tmp_path: Path) -> None:
    files = report(["coop"], tmp_path / "out", logs_dir=logs)
    (run,) = files.data["runs"]
    assert run["pairs"] == 7 and run["attempts"] == 7
    assert run["outcomes"] == {"pass": 4, "fail_tests": 1, "merge_conflict": 1, "infra_error": 1}
    rate = run["pass_rate"]
    assert (rate["passed"], rate["counted"]) == (4, 7) and rate["interval"]["method"] == "wilson"
    assert (rate["interval"]["low"], rate["interval"]["high"]) == pytest.approx(
        (stats.wilson(4, 7).low, stats.wilson(4, 7).high)  # type: ignore[union-attr]
    )
    excluded = run["pass_rate_excluding_infra"]
    assert (excluded["passed"], excluded["counted"]) == (4, 6)
    assert {g["repo"]: (g["passed"], g["pairs"]) for g in run["by_repo"]} == {"alpha_task": (2, 3), "beta_task": (2, 4)}
    assert run["attribution"] == {"integration_failure": 1}
    assert run["merge"] == {"clean": 6}
    assert run["config"]["policy"] == "upstream"
    assert run["distributions"]["cost"]["total"] == pytest.approx(0.7)
    assert files.html.is_file() and files.markdown.is_file()
    assert json.loads(files.json.read_text()) == json.loads(json.dumps(files.data))


def test_comparison_on_common_pairs(logs: Path, tmp_path: Path) -> None:
    files = report(["solo", "coop"], tmp_path / "out", logs_dir=logs)  # coop is A whatever the order
    (c,) = files.data["comparisons"]
    assert (c["a"], c["b"]) == ("coop", "solo")
    assert c["common_pairs"] == 6 and c["only_in_a"] == 1 and c["only_in_b"] == 0
    assert c["table"] == {"both_pass": 2, "a_only": 1, "b_only": 2, "both_fail": 1}
    assert c["infra_error_pairs"] == 1
    assert c["rate_a"] == pytest.approx(3 / 6) and c["rate_b"] == pytest.approx(4 / 6)
    assert c["retention"] == pytest.approx(0.75) and c["conditional_retention"] == pytest.approx(0.5)
    assert c["mcnemar_p"] == pytest.approx(stats.mcnemar_exact(1, 2))
    diffs = [0.0, 1.0, -1.0, 0.0, 0.0, -1.0]  # per common pair, in pair order: coop - solo
    expected = stats.bootstrap_mean(diffs)
    assert expected is not None and c["difference"] == expected.as_dict()
    assert c["cost"]["ratio"] == pytest.approx(0.6 / 0.3)
    assert sorted(d["pair_id"] for d in c["discordant"]) == [
        "alpha_task/1/f1_f3", "alpha_task/1/f1_f4", "beta_task/1/f3_f4"
    ]  # fmt: skip
    by_repo = {r["repo"]: r for r in c["by_repo"]}
    assert (by_repo["alpha_task"]["rate_a"], by_repo["alpha_task"]["rate_b"]) == pytest.approx((2 / 3, 2 / 3))
    assert (by_repo["beta_task"]["rate_a"], by_repo["beta_task"]["rate_b"]) == pytest.approx((1 / 3, 2 / 3))
    md = files.markdown.read_text()
    assert "| A passed | 2 | 1 |" in md and "| A failed | 2 | 1 |" in md
    assert "| coop | coop | oracle | m | upstream | 7 | 57.1% |" in md


def test_repeats_pass_at_k_pass_hat_k_and_flips(logs: Path, tmp_path: Path) -> None:
    files = report([logs / "rep"], tmp_path / "out")  # a path works as well as a name
    rep = files.data["runs"][0]["repeats"]
    assert rep["k"] == 3 and rep["pairs"] == 2
    assert rep["pass_counts"] == {"0/3": 1, "2/3": 1}
    assert rep["pass_at_k"] == pytest.approx({"1": 1 / 3, "2": 0.5, "3": 0.5})
    assert rep["pass_hat_k"] == pytest.approx({"1": 1 / 3, "2": 1 / 6, "3": 0.0})
    assert [r["pass_rate"] for r in rep["per_repeat"]] == pytest.approx([0.5, 0.0, 0.5])
    assert rep["mean_pass_rate"]["estimate"] == pytest.approx(1 / 3) and rep["mean_pass_rate"]["method"] == "t"
    assert rep["flip"] == {
        "pairs": 2,
        "mixed_pairs": 1,
        "mixed_fraction": 0.5,
        "pairwise_flip_rate": pytest.approx(1 / 3),
    }
    assert "| 2 | 50.0% | 16.7% |" in files.markdown.read_text()


def test_runs_of_one_configuration_get_mean_and_interval(logs: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(logs / "coop", logs / "coop-again")
    (logs / "coop-again" / "coop" / "beta_task" / "1" / "f4_f5" / "eval.json").write_text(
        json.dumps({"outcome": "fail_tests", "both_passed": False})
    )
    files = report(["coop", "coop-again", "solo"], tmp_path / "out", logs_dir=logs, baseline="solo")
    (group,) = files.data["groups"]
    assert group["runs"] == ["coop", "coop-again"]
    assert group["pass_rates"] == pytest.approx([4 / 7, 3 / 7])
    assert group["pass_rate"]["estimate"] == pytest.approx(0.5) and group["pass_rate"]["method"] == "t"
    assert [(c["a"], c["b"]) for c in files.data["comparisons"]] == [("coop", "solo"), ("coop-again", "solo")]


def test_errors_name_the_run_and_what_exists(logs: Path, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no run folder 'nope'.*runs in .*: coop, rep, solo"):
        report(["nope"], logs_dir=logs)
    with pytest.raises(ReportError, match="baseline 'x' is not one of the runs reported: coop"):
        report(["coop"], tmp_path / "out", logs_dir=logs, baseline="x")
    with pytest.raises(ReportError, match="at least one run"):
        report([], logs_dir=logs)


def test_default_output_folders(logs: Path) -> None:
    assert report(["coop"], logs_dir=logs).directory == logs / "coop" / "report"
    assert report(["coop", "solo"], logs_dir=logs).directory == logs / "reports" / "coop+solo"


def test_top_level_report_is_callable_before_and_after_the_package_is_imported(logs: Path, tmp_path: Path) -> None:
    import cooperbench.report.stats  # binds the package over the function of the same name

    assert cooperbench.report(["coop"], tmp_path / "a", logs_dir=logs).html.is_file()
    from cooperbench import report as report_function

    assert report_function(["coop"], tmp_path / "b", logs_dir=logs).html.is_file()


def _cli(
    *args: str, env_extra: dict[str, str] | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "cooperbench", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)


def test_cli_prints_rates_and_files_and_fails_clearly(logs: Path, tmp_path: Path) -> None:
    proc = _cli("report", "coop", "solo", "--log-dir", str(logs), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "coop: pass rate 57.1% [25.0%, 84.2%] (4/7), 7 pairs" in proc.stdout
    assert "coop vs solo: 6 common pairs, difference -16.7 pp" in proc.stdout
    assert f"Report: {tmp_path / 'out' / 'report.html'}" in proc.stdout
    missing = _cli("report", "ghost", "--log-dir", str(logs))
    assert missing.returncode == 2 and "no run folder 'ghost'" in missing.stderr


def test_cli_says_how_to_install_what_is_missing(logs: Path) -> None:
    # vl_convert made unimportable, as on a `pip install cooperbench` without the extra
    code = (
        "import sys; sys.modules['vl_convert'] = None; sys.argv[0] = 'cooperbench'; "
        "from cooperbench.cli import main; main()"
    )
    proc = _cli("report", "coop", "--log-dir", str(logs), code=code)
    assert proc.returncode == 2
    assert "needs vl-convert-python" in proc.stderr and "pip install 'cooperbench[report]'" in proc.stderr


def test_import_cooperbench_stays_light() -> None:
    code = (
        "import sys, cooperbench; heavy = [m for m in ('scipy', 'numpy', 'altair', 'vl_convert', 'cooperbench.report') "
        "if m in sys.modules]; print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
