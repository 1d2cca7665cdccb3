"""Evaluation: merge a pair's patches, run each feature's tests, write ``eval.json``.

The default evaluator is the ``merge`` plugin (:class:`~cooperbench.evaluation.merge.MergeEvaluator`);
others register through ``cooperbench_register_evaluators`` and implement :class:`Evaluator`.
"""

from __future__ import annotations

from cooperbench.evaluation.base import Evaluator
from cooperbench.evaluation.pair_dir import evaluate_pair_dir, get_evaluator, read_agent_statuses, read_pair_patches
from cooperbench.evaluation.parsers import TestCounts, parse_test_output
from cooperbench.evaluation.patch_filter import filter_test_files, is_test_path, prepare_patch, sanitize_patch
from cooperbench.evaluation.run import discover_pair_dirs, evaluate
from cooperbench.evaluation.summary import evaluation_summary, write_evaluation_summary

__all__ = [
    "Evaluator",
    "TestCounts",
    "discover_pair_dirs",
    "evaluate",
    "evaluate_pair_dir",
    "evaluation_summary",
    "filter_test_files",
    "get_evaluator",
    "is_test_path",
    "parse_test_output",
    "prepare_patch",
    "read_agent_statuses",
    "read_pair_patches",
    "sanitize_patch",
    "write_evaluation_summary",
]
