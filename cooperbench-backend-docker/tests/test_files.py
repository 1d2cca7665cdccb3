"""Files in and out of a docker sandbox through the Engine's archive API."""

from __future__ import annotations

import os

import pytest

from cooperbench.errors import SandboxError

pytestmark = pytest.mark.docker


def test_write_then_read_round_trips_bytes_and_creates_parents(sandbox):
    data = bytes(range(256)) * 10
    sandbox.write_file("/workspace/new/dir/blob.bin", data)
    assert sandbox.read_file("/workspace/new/dir/blob.bin") == data
    assert sandbox.exec("wc -c < /workspace/new/dir/blob.bin").output.strip() == str(len(data))


def test_text_is_written_as_utf8_and_replaces_the_old_file(sandbox):
    sandbox.write_file("/patches/note.txt", "first version, much longer than the second\n")
    sandbox.write_file("/patches/note.txt", "zweite Fassung ✓\n")
    assert sandbox.read_file("/patches/note.txt").decode() == "zweite Fassung ✓\n"


def test_mode_is_applied(sandbox):
    sandbox.write_file("/usr/local/bin/hello", "#!/bin/sh\necho hello from script\n", mode=0o755)
    assert sandbox.exec("hello").output == "hello from script\n"
    assert sandbox.exec("stat -c %a /usr/local/bin/hello").output.strip() == "755"


def test_large_files_pass_in_both_directions(sandbox):
    data = os.urandom(24 * 1024 * 1024)
    sandbox.write_file("/tmp/large.bin", data)
    assert sandbox.read_file("/tmp/large.bin") == data


def test_file_written_by_a_command_can_be_read(sandbox):
    sandbox.exec("git diff --stat > /patches/out.txt; echo done >> /patches/out.txt")
    assert sandbox.read_file("/patches/out.txt").endswith(b"done\n")


def test_symbolic_links_are_followed(sandbox):
    sandbox.write_file("/tmp/target.txt", "through the link\n")
    sandbox.exec("ln -s /tmp/target.txt /tmp/abs-link && cd /tmp && ln -s target.txt rel-link")
    assert sandbox.read_file("/tmp/abs-link") == b"through the link\n"
    assert sandbox.read_file("/tmp/rel-link") == b"through the link\n"


def test_missing_file_raises_file_not_found(sandbox):
    with pytest.raises(FileNotFoundError, match="/no/such/file"):
        sandbox.read_file("/no/such/file")


def test_directory_raises_is_a_directory(sandbox):
    with pytest.raises(IsADirectoryError, match="/workspace/repo"):
        sandbox.read_file("/workspace/repo")


def test_relative_paths_are_refused(sandbox):
    with pytest.raises(SandboxError, match="absolute"):
        sandbox.write_file("relative.txt", "x")
    with pytest.raises(SandboxError, match="absolute"):
        sandbox.read_file("relative.txt")


def test_patches_directory_exists_and_is_writable(backend, run, base_image):
    # The base image has no /patches of its own: the backend creates it.
    box = backend.create_sandbox(base_image, run=run)
    try:
        assert box.exec("test -d /patches && touch /patches/x && echo ok").output == "ok\n"
    finally:
        box.cleanup()


def test_two_sandboxes_do_not_share_files(backend, run, task_image):
    first = backend.create_sandbox(task_image, run=run)
    second = backend.create_sandbox(task_image, run=run)
    try:
        first.write_file("/workspace/repo/only_in_first.txt", "1")
        with pytest.raises(FileNotFoundError):
            second.read_file("/workspace/repo/only_in_first.txt")
        assert second.exec("git status --porcelain").output == ""
    finally:
        first.cleanup()
        second.cleanup()
