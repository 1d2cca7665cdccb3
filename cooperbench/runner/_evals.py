"""Auto-evaluation of finished pairs while other pairs still run."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cooperbench.backends import RunLabels
from cooperbench.dataset import Pair
from cooperbench.io import read_json
from cooperbench.runner._options import RunOptions
from cooperbench.runner._pair import UNWRITABLE
from cooperbench.runner._paths import run_dir
from cooperbench.runner._progress import Reporter
from cooperbench.summary import pair_outcome, summarize


class EvalPool:
    """Evaluates finished pairs with ``eval_concurrency`` workers while other pairs still run."""

    def __init__(
        self,
        opts: RunOptions,
        backend: Any,
        labels: RunLabels,
        evaluator: Any,
        reporter: Reporter,
        abort: Callable[[OSError], None] | None = None,
    ) -> None:
        self.abort = abort  # called when a result cannot be written (a full disk): the run stops
        from cooperbench.backends._context import SandboxTracker
        from cooperbench.evaluation.run import TrackingBackend

        self.tracker = SandboxTracker()  # the evaluations' sandboxes, destroyed when the run is interrupted
        self.opts, self.labels, self.evaluator, self.reporter = opts, labels, evaluator, reporter
        self.backend: Any = TrackingBackend(backend, self.tracker)
        self.queue: queue.Queue[tuple[Pair, Path] | None] = queue.Queue()
        self.halt = threading.Event()
        self.threads = [
            threading.Thread(target=self._work, daemon=True, name=f"eval-{i}") for i in range(opts.eval_concurrency)
        ]
        for t in self.threads:
            t.start()

    def submit(self, pair: Pair, pdir: Path) -> None:
        self.queue.put((pair, pdir))

    def _work(self) -> None:
        from cooperbench.evaluation import evaluate_pair_dir

        while True:
            item = self.queue.get()
            if item is None or self.halt.is_set():
                return
            pair, pdir = item
            started = time.monotonic()
            try:
                evaluate_pair_dir(
                    self.evaluator, pair, pdir, setting=self.opts.setting, backend=self.backend, run=self.labels
                )
            except BaseException as exc:  # a broken evaluation is reported; the other pairs go on
                if isinstance(exc, OSError) and exc.errno in UNWRITABLE and self.abort is not None:
                    self.abort(exc)
                self.reporter.warn(f"{pair.key}: evaluation failed: {type(exc).__name__}: {exc}")
            result = read_json(pdir / "result.json") or {}
            self.reporter.pair_finished(
                pair,
                result,
                pair_outcome(pdir),
                eval_seconds=time.monotonic() - started,
                evaluation=read_json(pdir / "eval.json"),
            )
            try:
                summarize(run_dir(self.opts.logs_dir, self.opts.run_name))
            except OSError as exc:
                if self.abort is None:
                    raise
                self.abort(exc)

    def join(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            while t.is_alive():
                t.join(0.2)

    def stop(self) -> None:
        self.halt.set()
        for _ in self.threads:
            self.queue.put(None)
        self.tracker.cleanup()  # running test commands die with their sandboxes
