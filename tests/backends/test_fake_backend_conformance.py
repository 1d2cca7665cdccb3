"""The conformance suite against the in-process fake backend (so the suite itself is tested)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cooperbench.testing.conformance import BackendConformance, Subject
from cooperbench.testing.fake_backend import FakeBackend


class TestFakeBackend(BackendConformance):
    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeBackend]:
        yield FakeBackend(tmp_path_factory.mktemp("fake"))

    @pytest.mark.xfail(reason="the fake has no isolation: a mount is a symbolic link, writable", strict=True)
    def test_read_only_mounts(self, subject: Subject) -> None:
        super().test_read_only_mounts(subject)
