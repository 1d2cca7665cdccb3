"""Evaluation: merge a pair's patches, run each feature's tests, write ``eval.json``.

The default evaluator is the ``merge`` plugin (:class:`~cooperbench.evaluation.merge.MergeEvaluator`);
others register through ``cooperbench_register_evaluators`` and implement :class:`Evaluator`.
"""

from __future__ import annotations

from cooperbench.evaluation.base import Evaluator
from cooperbench.evaluation.pair_dir import (
    eval_file_name,
    evaluate_pair_dir,
    get_evaluator,
    read_agent_statuses,
    read_pair_patches,
    run_policy,
)
from cooperbench.evaluation.parsers import TestCounts, parse_test_output, test_seconds
from cooperbench.evaluation.patch_filter import (
    filter_test_files,
    is_test_path,
    is_test_path_any_language,
    prepare_patch,
    sanitize_patch,
)
from cooperbench.evaluation.policy import DEFAULT_POLICY, POLICIES, ScoringPolicy, get_policy
from cooperbench.evaluation.run import discover_pair_dirs, evaluate
from cooperbench.evaluation.summary import evaluation_summary, write_evaluation_summary

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
    "Evaluator",
    "ScoringPolicy",
    "TestCounts",
    "discover_pair_dirs",
    "eval_file_name",
    "evaluate",
    "evaluate_pair_dir",
    "evaluation_summary",
    "filter_test_files",
    "get_evaluator",
    "get_policy",
    "is_test_path",
    "is_test_path_any_language",
    "parse_test_output",
    "prepare_patch",
    "read_agent_statuses",
    "read_pair_patches",
    "run_policy",
    "sanitize_patch",
    "test_seconds",
    "write_evaluation_summary",
]
