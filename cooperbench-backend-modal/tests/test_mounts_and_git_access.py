"""Mounts as read-only copies, and git servers reachable only with their access mount, on the fake Modal SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cooperbench_backend_modal.backend import ModalBackend
from cooperbench_backend_modal.testing import FakeModal

from cooperbench.testing.conformance import Subject, default_task
from cooperbench.testing.remote import check_copied_mounts, check_git_access_per_pair


@pytest.fixture(scope="module")
def subject() -> Iterator[Subject]:
    fake = FakeModal()
    backend = ModalBackend(sdk=fake, app_name="cooperbench-tests")
    task = default_task()
    s = Subject(backend, task, backend.resolve_image(task))
    yield s
    s.close()
    fake.close()


def test_mounts_are_copied_in_read_only_and_sockets_refused(subject: Subject) -> None:
    check_copied_mounts(subject)


def test_a_git_server_answers_only_the_sandboxes_given_its_mount(subject: Subject) -> None:
    check_git_access_per_pair(subject)
