"""The test image builder: apt mirror discovery, and cached images."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cooperbench_backend_docker.testing import DEFAULT_MIRROR, debian_mirror, ensure_base_image


def test_mirror_is_read_from_deb822_sources(tmp_path: Path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert debian_mirror("bookworm", [tmp_path / "sources.list", tmp_path / "sources.list.d"]) == (
        "http://mirror.example/debian"
    )


def test_mirror_is_read_from_one_line_sources_with_options(tmp_path: Path):
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://line.example/debian bookworm main contrib\n"
    )
    assert debian_mirror("bookworm", [tmp_path / "sources.list"]) == "http://line.example/debian"


def test_disabled_and_foreign_sources_fall_back_to_deb_debian_org(tmp_path: Path):
    (tmp_path / "other.sources").write_text("Types: deb\nURIs: http://x.example/\nSuites: bookworm\nEnabled: no\n")
    (tmp_path / "cloud.list.disabled").write_text("deb http://y.example/ bookworm main\n")
    (tmp_path / "node.list").write_text("deb https://node.example/ nodistro main\n")
    assert debian_mirror("bookworm", [tmp_path]) == DEFAULT_MIRROR


@pytest.mark.docker
def test_base_image_is_built_once_then_reused(base_image, backend, run):
    start = time.monotonic()
    assert ensure_base_image() == base_image
    assert time.monotonic() - start < 10
    box = backend.create_sandbox(base_image, run=run)
    try:
        assert box.exec("python --version && python -m pytest --version && git --version").returncode == 0
    finally:
        box.cleanup()


@pytest.mark.docker
def test_task_images_of_the_example_dataset_are_built(task_images, example_tasks):
    assert task_images == {task.key: task.image_name() for task in example_tasks}
