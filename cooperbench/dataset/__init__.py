"""The dataset model: tasks, features and pairs in the upstream CooperBench layout.

::

    <dataset>/<repo>_task/task<id>/{Dockerfile, setup.sh, runner.sh, run_tests.sh}
    <dataset>/<repo>_task/task<id>/feature<N>/{feature.md, feature.patch, tests.patch}
    <dataset>/subsets/<name>.json
"""

from __future__ import annotations

from cooperbench.dataset._discover import DatasetWarning, discover_pairs, load_subset, load_task, load_tasks
from cooperbench.dataset._model import DEFAULT_IMAGE_PREFIX, Pair, Task
from cooperbench.errors import DatasetError

__all__ = [
    "DEFAULT_IMAGE_PREFIX",
    "DatasetError",
    "DatasetWarning",
    "Pair",
    "Task",
    "discover_pairs",
    "load_subset",
    "load_task",
    "load_tasks",
]
