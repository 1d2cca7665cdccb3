"""Eight sandboxes created and driven at the same time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.docker

COUNT = 8


def test_eight_concurrent_sandboxes_are_created_driven_and_removed(backend, run, task_image):
    def work(index: int) -> tuple[str, str, str]:
        box = backend.create_sandbox(task_image, run=run)
        try:
            box.write_file(f"/workspace/repo/agent{index}.txt", f"agent {index}\n")
            listing = box.exec("ls agent*.txt").output.strip()
            computed = box.exec(f"python -c 'print(sum(range({index} * 1000)))'").output.strip()
            timed = box.exec("echo before; sleep 30", timeout=1)
            return listing, computed, f"{timed.timed_out}:{timed.output.strip()}"
        finally:
            box.cleanup()

    with ThreadPoolExecutor(COUNT) as pool:
        results = list(pool.map(work, range(COUNT)))
    for index, (listing, computed, timed) in enumerate(results):
        assert listing == f"agent{index}.txt", "each sandbox sees only its own file"
        assert computed == str(sum(range(index * 1000)))
        assert timed == "True:before"
    assert backend.resources(run.run_name) == []


def test_concurrent_commands_in_one_sandbox_do_not_mix_output(sandbox):
    def work(index: int) -> str:
        return sandbox.exec(f"for i in 1 2 3; do echo {index}-$i; sleep 0.05; done").output

    with ThreadPoolExecutor(COUNT) as pool:
        outputs = list(pool.map(work, range(COUNT)))
    assert outputs == [f"{i}-1\n{i}-2\n{i}-3\n" for i in range(COUNT)]
