"""``pip`` and ``uv`` of local Python task environments: installs replayed when nothing they read changed.

This file is copied into every Python task's template (``/workspace/.cooperbench/install_memo.py``)
and run by the task's own interpreter through the ``pip``, ``pip3`` and ``uv`` commands first on
``PATH`` inside sandboxes; it uses the standard library only and runs on Python 3.7+.

A task's ``runner.sh`` installs the repository and its test tools before every test run
(``pip install -e ".[test]" || pip install -e .``, then ``pip install pytest ...``), as the public
tasks do. When the template is built, those commands run twice: the first pass brings the
environment to where they change nothing, the second records, for each command, a key over what
it reads and what it left:

- the command line and the directory it ran in;
- the environment: every distribution in the venv's site-packages (its ``RECORD``), every ``.pth``;
- the repository's working tree: the content of every file that packaging reads (``pyproject.toml``,
  ``setup.py``, ``setup.cfg``, ``MANIFEST.in``, requirements, README, data, C/C++/Cython/Rust
  sources, ...), and the *names* of Python modules (an editable install maps names, not contents).
  Test and documentation folders are left out: test patches never change what an install does;
- the command's exit status and output, the files it created in the working tree (``*.egg-info``,
  compiled extensions) and those it deleted.

A command is recorded only when it left the environment exactly as it found it. When a sandbox
later runs the same command and the key matches, the recorded result is replayed: the working
tree files are put back, the output is printed, the exit status returned. Anything else (a patch
that edits ``pyproject.toml`` or a C source, a new module, a package the agent installed, another
command, ``COOPERBENCH_INSTALL_MEMO=off``) runs the real ``pip``/``uv``. So the verdict is the
one of running ``runner.sh`` as written, without paying for installs that would change nothing.

Inside the task venv ``uv pip ... --system`` means the venv (it is the task's "system" Python, as
the image's is in Docker), so ``--system`` is dropped.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

VENV = os.environ.get("COOPERBENCH_VENV", "/workspace/.venv")
HERE = os.path.dirname(os.path.abspath(__file__))
STORE = os.path.join(HERE, "installs")
SHIMS = os.path.join(HERE, "bin")
RECORD_ENV = "COOPERBENCH_INSTALL_RECORD"
SWITCH_ENV = "COOPERBENCH_INSTALL_MEMO"

# Folders whose files never change what installing the project does.
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox", ".nox", "node_modules",
             ".venv", "venv", ".hypothesis", "tests", "test", "Tests", "testing", "docs", "doc"}  # fmt: skip
# Python modules count by name only (an editable install maps names), except these, which builds read.
READ_BY_BUILDS = {"setup.py", "_version.py", "version.py", "__version__.py", "__about__.py", "conftest.py"}
SOURCE_SUFFIXES = (".py", ".pyi")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def site_packages() -> list:
    lib = os.path.join(VENV, "lib")
    found = []
    try:
        for name in sorted(os.listdir(lib)):
            path = os.path.join(lib, name, "site-packages")
            if os.path.isdir(path):
                found.append(path)
    except OSError:
        pass
    return found


def venv_state() -> str:
    """What is installed: each distribution's RECORD (names, versions, files), each .pth and .egg-link."""
    digest = hashlib.sha256()
    for site in site_packages():
        for name in sorted(os.listdir(site)):
            path = os.path.join(site, name)
            if name == "__pycache__":
                continue  # bytecode the interpreter writes as it imports
            digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
            if name.endswith((".dist-info", ".egg-info")) and os.path.isdir(path):
                for part in ("RECORD", "METADATA", "PKG-INFO", "direct_url.json", "installed-files.txt"):
                    digest.update(_sha(_read(os.path.join(path, part))).encode())
            elif name.endswith((".pth", ".egg-link")):
                digest.update(_sha(_read(path)).encode())
    return digest.hexdigest()


def project_root(cwd: str) -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, check=False)  # fmt: skip
    except OSError:
        return cwd
    root = done.stdout.strip()
    return root if done.returncode == 0 and root else cwd


def tree_files(root: str) -> dict:
    """``{relative path: (size, mtime_ns)}`` of the tree's files, skipped folders left out."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".cooperbench"))
        for name in names:
            path = os.path.join(folder, name)
            try:
                stat = os.lstat(path)
            except OSError:
                continue
            files[os.path.relpath(path, root)] = (stat.st_size, stat.st_mtime_ns)
    return files


def tree_state(root: str, files: dict) -> str:
    """Packaging-relevant content of the tree: contents of non-module files, names of modules."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        name = os.path.basename(rel)
        digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        if name.endswith(SOURCE_SUFFIXES) and name not in READ_BY_BUILDS:
            continue
        path = os.path.join(root, rel)
        if os.path.islink(path):
            digest.update(os.readlink(path).encode("utf-8", "surrogateescape"))
        else:
            digest.update(_sha(_read(path)).encode())
    return digest.hexdigest()


def outside_paths(args: list, cwd: str, root: str) -> bool:
    """Whether the command names a local file outside the project (its content is not in the key)."""
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("--") and "=" in arg else arg
        if not value or value.startswith("-") or "://" in value:
            continue
        path = os.path.normpath(os.path.join(cwd, value.split("[", 1)[0]))
        if os.path.exists(path) and not (path == root or path.startswith(root.rstrip("/") + "/")):
            return True
    return False


def memo_key(tool: str, args: list, cwd: str, root: str, venv: str, tree: str) -> str:
    payload = json.dumps([tool, args, os.path.relpath(cwd, root), list(sys.version_info[:3]), venv, tree])
    return _sha(payload.encode("utf-8", "surrogateescape"))


def real_command(tool: str, args: list) -> list:
    if tool == "pip":
        return [os.path.join(VENV, "bin", "python"), "-m", "pip", *args]
    uv = os.path.join(VENV, "bin", "uv")
    if not os.access(uv, os.X_OK):
        uv = ""
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            candidate = os.path.join(folder, "uv")
            if folder and os.path.realpath(folder) != os.path.realpath(SHIMS) and os.access(candidate, os.X_OK):
                uv = candidate
                break
    if not uv:
        sys.stderr.write("uv: command not found (this task's environment has no uv; `pip install uv` adds it)\n")
        raise SystemExit(127)
    if args[:1] == ["pip"]:
        args = [a for a in args if a != "--system"]
    return [uv, *args]


def memoizable(tool: str, args: list) -> bool:
    if tool == "pip":
        return args[:1] == ["install"]
    return args[:2] == ["pip", "install"]


def run_teed(argv: list) -> tuple:
    """Run ``argv`` with its output shown as it comes and kept; return (exit status, output)."""
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        message = f"{argv[0]}: {exc}\n".encode()
        sys.stdout.buffer.write(message)
        return 127, message
    chunks = []
    stream = proc.stdout
    assert stream is not None
    read = getattr(stream, "read1", stream.read)
    for chunk in iter(lambda: read(65536), b""):
        chunks.append(chunk)
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    return proc.wait(), b"".join(chunks)


def record(key: str, status: int, output: bytes, root: str, before: dict, after: dict) -> None:
    changed = sorted(rel for rel, meta in after.items() if before.get(rel) != meta)
    deleted = sorted(rel for rel in before if rel not in after)
    os.makedirs(STORE, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for rel in changed:
            archive.add(os.path.join(root, rel), arcname=rel, recursive=False)
    with open(os.path.join(STORE, key + ".tar"), "wb") as handle:
        handle.write(buffer.getvalue())
    entry = {"status": status, "output": output.decode("utf-8", "surrogateescape"), "deleted": deleted}
    with open(os.path.join(STORE, key + ".json"), "w", encoding="utf-8", errors="surrogateescape") as handle:
        json.dump(entry, handle)


def replay(key: str, root: str, shown: str) -> int | None:
    try:
        with open(os.path.join(STORE, key + ".json"), encoding="utf-8", errors="surrogateescape") as handle:
            entry = json.load(handle)
        with tarfile.open(os.path.join(STORE, key + ".tar")) as archive:
            for member in archive.getmembers():
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    return None
            # The "data" filter where this Python has it (3.12+ warn without a filter; older ones lack it).
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            archive.extractall(root, **safe)  # type: ignore[arg-type]
    except (OSError, ValueError, tarfile.TarError):
        return None
    for rel in entry.get("deleted", []):
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(root, rel))
    sys.stdout.write(entry["output"])
    sys.stdout.write(
        f"[cooperbench] `{shown}` replayed (exit {entry['status']}): it ran with the same packaging files and "
        "environment when this task environment was built; set COOPERBENCH_INSTALL_MEMO=off to run it again\n"
    )
    sys.stdout.flush()
    return int(entry["status"])


def main(tool: str, args: list) -> int:
    argv = real_command(tool, args)
    shown = " ".join([tool, *args])
    if os.environ.get(SWITCH_ENV) == "off" or not memoizable(tool, args):
        os.execv(argv[0], argv)
    cwd = os.getcwd()
    root = project_root(cwd)
    if outside_paths(args, cwd, root):
        os.execv(argv[0], argv)
    before = tree_files(root)
    venv = venv_state()
    tree = tree_state(root, before)
    key = memo_key(tool, args, cwd, root, venv, tree)
    if os.environ.get("COOPERBENCH_INSTALL_DEBUG"):
        sys.stderr.write(f"[cooperbench] install key {key}: venv {venv} tree {tree} files {sorted(before)}\n")
    recording = os.environ.get(RECORD_ENV) == "1"
    if not recording:
        replayed = replay(key, root, shown)
        if replayed is not None:
            return replayed
        os.execv(argv[0], argv)
    status, output = run_teed(argv)
    if venv_state() == venv:
        record(key, status, output, root, before, tree_files(root))
    return status


if __name__ == "__main__":
    name = os.path.basename(sys.argv[1]) if len(sys.argv) > 1 else "pip"
    sys.exit(main("uv" if name == "uv" else "pip", sys.argv[2:]))
