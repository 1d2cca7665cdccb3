"""Suite-wide collection rules.

The suite runs on pytest-xdist workers (see the README's test command). Tests that drive the
Docker Engine share its image store and build cache: one test's image removal or prune must not
race another test's build, so every test marked ``docker`` runs in one xdist group, on one
worker, in collection order; the rest of the suite spreads over the other workers.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("docker") is not None or "cooperbench-backend-docker" in item.path.parts:
            item.add_marker(pytest.mark.xdist_group("docker"))
