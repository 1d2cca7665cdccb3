"""Checks for backends whose sandboxes run on another machine (built on :mod:`cooperbench.backends.remote`).

On top of the conformance and isolation suites, a remote backend's tests call these with a
:class:`~cooperbench.testing.conformance.Subject`:

- :func:`check_copied_mounts`: mounts are provided as read-only copies, and what a copy cannot
  honour (a unix socket, a writable mount, a missing source) is a ``SandboxError`` naming the
  mount, raised before any sandbox starts.
- :func:`check_git_access_per_pair`: a git server answers the sandboxes created with its
  ``mounts`` and refuses every other sandbox of the same run.
"""

from __future__ import annotations

import shlex
import socket
import tempfile
from pathlib import Path

import pytest

from cooperbench.backends.base import ListsResources, Mount
from cooperbench.backends.remote import ACCESS_TARGET
from cooperbench.errors import SandboxError
from cooperbench.testing.conformance import Subject

__all__ = ["check_copied_mounts", "check_git_access_per_pair"]


def _ok(box: object, command: str) -> str:
    result = box.exec(command)  # type: ignore[attr-defined]
    assert result.returncode == 0 and not result.timed_out, f"{command!r} failed: {result!r}"
    return str(result.output)


def check_copied_mounts(s: Subject) -> None:
    with tempfile.TemporaryDirectory(prefix="cb-remote-mounts-") as scratch:
        root = Path(scratch)
        (root / "dir" / "sub").mkdir(parents=True)
        (root / "dir" / "sub" / "inside.txt").write_text("dir-content\n")
        (root / "dir" / "tool.sh").write_text("#!/bin/sh\necho tool-ran\n")
        (root / "dir" / "tool.sh").chmod(0o755)
        (root / "single.txt").write_text("file-content\n")
        mounts = (
            Mount(root / "dir", "/run/cooperbench/shared"),
            Mount(root / "single.txt", "/run/cooperbench/one.txt"),
        )
        with s.sandbox(mounts=mounts) as box:
            assert _ok(box, "cat /run/cooperbench/shared/sub/inside.txt") == "dir-content\n", "a directory is copied"
            assert _ok(box, "cat /run/cooperbench/one.txt") == "file-content\n", "a file is copied"
            assert _ok(box, "/run/cooperbench/shared/tool.sh") == "tool-ran\n", "the exec bit survives"
            assert "w" not in _ok(box, "stat -c %A /run/cooperbench/one.txt"), "the copy is read-only"
        sock_path = root / "endpoint.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(sock_path))
        run = s.labels()
        try:
            refused = {
                "unix socket": Mount(sock_path, "/run/cooperbench/agent.sock"),
                "writable mounts are not supported": Mount(root / "dir", "/git/scratch", read_only=False),
                "does not exist": Mount(root / "missing", "/run/cooperbench/missing"),
            }
            for why, mount in refused.items():
                with pytest.raises(
                    SandboxError, match=rf"cannot provide mount {mount.source} -> {mount.target}: .*{why}"
                ):
                    s.backend.create_sandbox(s.image, run=run, purpose="check", mounts=(mount,))
        finally:
            server.close()
        assert isinstance(s.backend, ListsResources)
        assert s.backend.resources(run.run_name) == [], "a refused mount starts nothing"


def check_git_access_per_pair(s: Subject) -> None:
    run = s.labels()
    with (
        s.git_server(run) as ours,
        s.git_server(run) as theirs,
        s.sandbox(run, ours.mounts) as mine,
        s.sandbox(run) as evaluator,
    ):
        assert ours.mounts and all(isinstance(m, Mount) for m in ours.mounts), "a network server has an access mount"
        assert _ok(mine, f"cat {ACCESS_TARGET}").strip() == ours.url, "the access file holds the team remote's URL"
        assert mine.exec(f"git ls-remote {shlex.quote(ours.url)}").returncode == 0, "its own pair's server answers"
        for box, url in ((mine, theirs.url), (evaluator, ours.url)):
            peek = box.exec(f"git ls-remote {shlex.quote(url)}", timeout=60)
            assert peek.returncode != 0 and "403" in peek.output, f"refused without the server's mount: {peek!r}"
