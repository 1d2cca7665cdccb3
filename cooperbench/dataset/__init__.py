"""The dataset model: tasks, features and tuples of features in the upstream CooperBench layout.

::

    <dataset>/<repo>_task/task<id>/{Dockerfile, setup.sh, runner.sh, run_tests.sh}
    <dataset>/<repo>_task/task<id>/feature<N>/{feature.md, feature.patch, tests.patch}
    <dataset>/subsets/<name>.json

:func:`discover_pairs` returns every selected tuple; one that cannot be run or graded
carries its :class:`DatasetProblem` records in ``Pair.problems``.
"""

from __future__ import annotations

from cooperbench.dataset._discover import (
    DatasetWarning,
    Selection,
    discover_pairs,
    load_subset,
    load_task,
    load_tasks,
)
from cooperbench.dataset._model import DEFAULT_IMAGE_PREFIX, DatasetProblem, Pair, Task
from cooperbench.errors import DatasetError

__all__ = [
    "DEFAULT_IMAGE_PREFIX",
    "DatasetError",
    "DatasetProblem",
    "DatasetWarning",
    "Pair",
    "Selection",
    "Task",
    "discover_pairs",
    "load_subset",
    "load_task",
    "load_tasks",
]
