"""The Mount contract on docker: host files, directories and unix sockets bound into one sandbox."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from cooperbench_backend_docker.backend import DockerBackend

from cooperbench.backends.base import Mount
from cooperbench.errors import SandboxError

pytestmark = pytest.mark.docker


def test_files_and_directories_are_mounted_read_only_or_writable(backend, run, task_image, tmp_path: Path):
    shown = tmp_path / "shown"
    shown.mkdir()
    (shown / "note.txt").write_text("from the host\n")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    single = tmp_path / "single.txt"
    single.write_text("one file\n")
    mounts = [
        Mount(source=shown, target="/mnt/shown"),
        Mount(source=scratch, target="/mnt/scratch", read_only=False),
        Mount(source=single, target="/etc/cooperbench-single.txt"),
    ]
    box = backend.create_sandbox(task_image, run=run, mounts=mounts)
    other = backend.create_sandbox(task_image, run=run)
    try:
        assert box.exec("cat /mnt/shown/note.txt /etc/cooperbench-single.txt").output == "from the host\none file\n"
        refused = box.exec("echo x > /mnt/shown/new.txt")
        assert refused.returncode != 0 and "Read-only file system" in refused.output
        assert not (shown / "new.txt").exists()
        assert box.exec("echo written > /mnt/scratch/out.txt").returncode == 0
        assert (scratch / "out.txt").read_text() == "written\n", "a writable mount writes through to the host"
        assert other.exec("test -e /mnt/shown").returncode != 0, "mounts belong to the sandbox they were given to"
    finally:
        box.cleanup()
        other.cleanup()
    assert (shown / "note.txt").read_text() == "from the host\n", "cleanup leaves the host's files alone"


def test_a_unix_socket_is_reachable_through_its_mount(backend, run, task_image, tmp_path: Path):
    path = tmp_path / "endpoint.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    path.chmod(0o666)

    def answer() -> None:
        conn, _ = server.accept()
        conn.sendall(b"hello from the harness\n")
        conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    box = backend.create_sandbox(task_image, run=run, mounts=[Mount(source=path, target="/run/cooperbench/agent.sock")])
    try:
        result = box.exec(
            "python3 -c \"import socket; s=socket.socket(socket.AF_UNIX); s.connect('/run/cooperbench/agent.sock'); "
            "print(s.recv(100).decode(), end='')\""
        )
        assert result.output == "hello from the harness\n", result.output
        thread.join(timeout=10)
    finally:
        box.cleanup()
        server.close()


def test_a_missing_source_is_a_sandbox_error_naming_it(backend, run, task_image, tmp_path: Path):
    missing = tmp_path / "not-there"
    with pytest.raises(SandboxError, match=rf"cannot mount {missing} at /mnt/x: the source does not exist"):
        backend.create_sandbox(task_image, run=run, mounts=[Mount(source=missing, target="/mnt/x")])
    assert backend.resources(run.run_name) == [], "nothing was started"


def test_a_remote_daemon_cannot_bind_host_paths(tmp_path: Path):
    remote = DockerBackend(base_url="tcp://192.0.2.1:2375", firewall="off")
    with pytest.raises(SandboxError, match="is on another machine, so host paths cannot be bound"):
        remote._mounts([Mount(source=tmp_path, target="/mnt/x")])
