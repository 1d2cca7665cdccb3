"""What makes a task or a feature impossible to run or grade, found by reading its files.

Each check returns :class:`DatasetProblem` records instead of raising, so one broken feature
never hides the rest of the dataset: the runner reports every selected tuple that has a
problem as ``dataset_error`` (naming the path) before any sandbox starts.
"""

from __future__ import annotations

import re
from pathlib import Path

from cooperbench.dataset._model import DatasetProblem

__all__ = ["check_feature", "check_task_files", "parse_feature_dirs"]

#: ``feature<N>`` exactly as upstream names them: no leading zeros, no separator.
CANONICAL_FEATURE_DIR = re.compile(r"^feature(0|[1-9]\d*)$")
# Names that are plainly meant as feature N but are spelled otherwise (feature02, Feature_3, feature-4).
_LENIENT_FEATURE_DIR = re.compile(r"^feature[_-]?0*(\d+)$", re.IGNORECASE)
_DIFF_HEADER = re.compile(rb"^(diff --git |--- |\+\+\+ )", re.M)
_RUNNER_USAGE = "the evaluation runs each feature's tests with it as `bash runner.sh <tests.patch> <feature.patch>`"


def _read(path: Path, what: str, feature: int | None) -> tuple[bytes | None, DatasetProblem | None]:
    """The bytes of ``path``, or the problem that keeps them from being read."""
    if not path.exists():
        return None, DatasetProblem(path, f"missing {what}", feature)
    if not path.is_file():
        return None, DatasetProblem(path, f"{what} is not a regular file", feature)
    try:
        return path.read_bytes(), None
    except OSError as exc:
        return None, DatasetProblem(path, f"cannot read {what}: {exc.strerror or exc}", feature)


def check_task_files(task_dir: Path) -> list[DatasetProblem]:
    """Problems of the files every feature of the task needs: ``runner.sh``.

    The exec bit is not required: the public dataset ships ``runner.sh`` as a plain file (mode
    100644 in git; Hub downloads carry no modes) and the harness runs it with ``bash``, as the
    tasks' Dockerfiles do after ``chmod +x``. What is required is a script bash can run.
    """
    path = task_dir / "runner.sh"
    data, problem = _read(path, f"runner.sh; {_RUNNER_USAGE}", None)
    if problem is not None:
        return [problem]
    assert data is not None
    if not data.strip():
        return [DatasetProblem(path, f"runner.sh is empty; {_RUNNER_USAGE}")]
    if b"\0" in data:
        return [DatasetProblem(path, "runner.sh is not a shell script (it holds NUL bytes); bash cannot run it")]
    return []


def check_feature(feature_dir: Path, feature_id: int) -> list[DatasetProblem]:
    """Problems of one feature folder: its description and its tests.

    ``feature.patch`` (the gold patch) is not checked: only the oracle agent and ``validate``
    use it, and they report a missing one themselves.
    """
    problems = []
    md, problem = _read(
        feature_dir / "feature.md", "feature.md (the feature's description, the agent's task)", feature_id
    )
    if problem is not None:
        problems.append(problem)
    elif md is not None and not md.strip():
        problems.append(DatasetProblem(feature_dir / "feature.md", "feature.md is empty", feature_id))
    tests, problem = _read(feature_dir / "tests.patch", "tests.patch (the feature's tests)", feature_id)
    if problem is not None:
        problems.append(problem)
    elif tests is not None and not tests.strip():
        problems.append(DatasetProblem(feature_dir / "tests.patch", "tests.patch is empty", feature_id))
    elif tests is not None and not _DIFF_HEADER.search(tests):
        problems.append(
            DatasetProblem(
                feature_dir / "tests.patch", "tests.patch holds no diff (no `diff --git` header)", feature_id
            )
        )
    return problems


def parse_feature_dirs(task_dir: Path) -> tuple[dict[int, Path], list[DatasetProblem]]:
    """The feature folders of a task by id, and the problems of their names.

    A folder named ``feature<N>`` is feature N. One whose name is meant as a feature but does
    not follow that form (``feature02``, ``Feature3``, ``feature_4``) still counts as that
    feature, with a problem of its own, so the tuples it belongs to are reported rather than
    dropped. One whose number cannot be read at all (``feature_two``) is a problem of the whole
    task: which feature it should be is unknown.
    """
    features: dict[int, Path] = {}
    problems: list[DatasetProblem] = []
    for child in sorted(task_dir.iterdir()):
        if not child.name.lower().startswith("feature"):
            continue
        canonical = CANONICAL_FEATURE_DIR.match(child.name)
        lenient = _LENIENT_FEATURE_DIR.match(child.name)
        if not child.is_dir():
            if canonical or lenient:
                fid = int((canonical or lenient).group(1))  # type: ignore[union-attr]
                problems.append(DatasetProblem(child, f"feature {fid} must be a folder, not a file", fid))
                features.setdefault(fid, child)
            continue
        if canonical:
            fid = int(canonical.group(1))
        elif lenient:
            fid = int(lenient.group(1))
            problems.append(
                DatasetProblem(child, f"a feature folder must be named feature<N>: rename it to feature{fid}", fid)
            )
        else:
            problems.append(
                DatasetProblem(
                    child,
                    "a feature folder must be named feature<N> (N a number, e.g. feature2); this name does not "
                    "say which feature it is, so no tuple of this task can be trusted until it is renamed",
                )
            )
            continue
        if fid in features:
            problems.append(DatasetProblem(child, f"{features[fid].name} and {child.name} are both feature {fid}", fid))
            continue
        features[fid] = child
    return features, problems
