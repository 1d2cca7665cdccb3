"""A local HTTP server that speaks the Hugging Face Hub's download API, for tests.

``huggingface_hub`` (the real client) talks to it when its endpoint setting points here
(``HF_ENDPOINT=<hub.url>``), so ``cooperbench prepare`` is tested end to end without the
network and without patching anything. It serves what ``snapshot_download`` and
``hf_hub_download`` use:

- ``GET /api/datasets/<repo>[/revision/<rev>]``: repository info (``sha``, ``siblings``);
- ``GET /api/datasets/<repo>/tree/<rev>[/<path>]?recursive=...``: the file listing with git
  blob ids and sizes, paginated with a ``Link: <...>; rel="next"`` header like the Hub;
- ``HEAD|GET /datasets/<repo>/resolve/<rev>/<path>``: a file, with ``X-Repo-Commit`` and
  ``ETag`` (the git blob id) headers, and ``Range`` requests.

Unknown repositories, revisions and files get the Hub's 404 with its ``X-Error-Code``
(``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``). Every request is recorded
(:attr:`FakeHub.requests`), :meth:`FakeHub.fail` injects errors and :meth:`FakeHub.slow` delays,
so tests can check that an interrupted download resumes without fetching again what it has.

Example::

    with FakeHub() as hub:
        commit = hub.commit("CodeConflict/cooperbench-dataset", {"README.md": b"# hi\\n"})
        os.environ["HF_ENDPOINT"] = hub.url
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

__all__ = ["FakeHub", "HubRequest", "git_blob_id", "read_tree"]


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob with these bytes (what the Hub reports as a file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` as ``{posix relative path: bytes}`` (for :meth:`FakeHub.commit`)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class HubRequest:
    """One request the fake Hub answered."""

    method: str
    path: str  # the URL path, decoded
    status: int
    range: str | None = None


@dataclass
class _Fault:
    pattern: str  # fnmatch pattern on the decoded URL path
    status: int
    times: int | None  # None: every time


@dataclass
class _Delay:
    pattern: str
    seconds: float


@dataclass
class _Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)


class FakeHub:
    """The fake Hub: dataset repositories held in memory, served on ``127.0.0.1`` at a free port.

    Args:
        page_size: entries per page of a tree listing (the Hub pages them; a small size
            exercises the client's pagination).
    """

    def __init__(self, *, page_size: int = 1000) -> None:
        self.page_size = page_size
        self._repos: dict[str, _Repo] = {}
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []
        self._lock = threading.Lock()
        self._requests: list[HubRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content -------------------------------------------------------------------------

    def commit(self, repo_id: str, files: Mapping[str, bytes] | Path, *, branch: str = "main") -> str:
        """Make ``files`` (a mapping or a folder) the whole content of ``branch``; return the commit id."""
        content = read_tree(files) if isinstance(files, Path) else dict(files)
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo())
            parent = repo.refs.get(branch, "")
            digest = hashlib.sha1(f"{repo_id}\0{parent}\0{len(repo.commits)}\0".encode())
            for path in sorted(content):
                digest.update(f"{path}\0{git_blob_id(content[path])}\0".encode())
            sha = digest.hexdigest()
            repo.commits[sha] = content
            repo.refs[branch] = sha
        return sha

    def tag(self, repo_id: str, name: str, commit: str) -> None:
        """Point the ref ``name`` (a tag or a branch) at ``commit``."""
        with self._lock:
            self._repos[repo_id].refs[name] = commit

    # -- faults and the request log --------------------------------------------------------

    def fail(self, pattern: str, *, status: int = 500, times: int | None = None) -> None:
        """Answer requests whose decoded path matches ``pattern`` (fnmatch) with ``status``.

        ``times`` limits how often (``None``: until :meth:`clear_faults`).
        """
        with self._lock:
            self._faults.append(_Fault(pattern, status, times))

    def slow(self, pattern: str, seconds: float) -> None:
        """Wait ``seconds`` before answering requests whose decoded path matches ``pattern`` (a slow link)."""
        with self._lock:
            self._delays.append(_Delay(pattern, seconds))

    def clear_faults(self) -> None:
        """Remove every injected error and delay."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    @property
    def requests(self) -> list[HubRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def downloads(self) -> list[str]:
        """The repository paths whose bytes were sent (successful ``GET`` of a ``resolve`` URL), in order."""
        found = []
        for r in self.requests:
            m = _RESOLVE.match(r.path)
            if r.method == "GET" and r.status in (200, 206) and m:
                found.append(m.group("path"))
        return found

    # -- server ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Hub is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            owner = hub

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- lookups (under the lock) ------------------------------------------------------------

    def _record(self, request: HubRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _delay_for(self, path: str) -> float:
        with self._lock:
            return sum(d.seconds for d in self._delays if fnmatch.fnmatchcase(path, d.pattern))

    def _fault_for(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fnmatch.fnmatchcase(path, fault.pattern) and fault.times != 0:
                    if fault.times is not None:
                        fault.times -= 1
                    return fault.status
        return None

    def _resolve(self, repo_id: str, revision: str) -> tuple[str, dict[str, bytes]] | str:
        """``(commit, files)``, or the Hub's error code."""
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                return "RepoNotFound"
            sha = revision if revision in repo.commits else repo.refs.get(revision)
            if sha is None:
                return "RevisionNotFound"
            return sha, repo.commits[sha]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that went away mid-answer (a test killing it) is expected; anything else is reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


_API_INFO = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?/?$")
_API_TREE = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")
_RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
_MESSAGES = {
    "RepoNotFound": "Repository not found",
    "RevisionNotFound": "Invalid rev id",
    "EntryNotFound": "Entry not found",
}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeHub
    protocol_version = "HTTP/1.0"  # one request per connection: no keep-alive state shared across client threads

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request log is FakeHub.requests

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    # -- plumbing ----------------------------------------------------------------------------

    def _dispatch(self, *, head: bool) -> None:
        split = urlsplit(self.path)
        # Revisions and paths arrive percent-encoded (`refs%2Fpr%2F1`); match on the raw path, decode the parts.
        raw, query = split.path, parse_qs(split.query)
        decoded = unquote(raw)
        if delay := self.owner._delay_for(decoded):
            time.sleep(delay)  # a slow link, so a test can interrupt a download midway
        status = self.owner._fault_for(decoded)
        if status is not None:
            self._send_json(status, {"error": "injected fault"}, head=head, record=decoded)
            return
        if m := _RESOLVE.match(raw):
            self._file(unquote(m["repo"]), unquote(m["rev"]), unquote(m["path"]), head=head, record=decoded)
        elif m := _API_TREE.match(raw):
            path = unquote(m["path"] or "")
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            cursor = int(query.get("cursor", ["0"])[0] or 0)
            self._tree(unquote(m["repo"]), unquote(m["rev"]), path, recursive, cursor, raw, head=head, record=decoded)
        elif m := _API_INFO.match(raw):
            self._info(unquote(m["repo"]), unquote(m["rev"] or "main"), head=head, record=decoded)
        else:
            self._send_json(404, {"error": f"no route for {decoded}"}, head=head, record=decoded)

    def _send_json(
        self, status: int, body: object, *, head: bool, record: str, headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)
        self.owner._record(HubRequest(self.command, record, status))

    def _error(self, code: str, *, head: bool, record: str) -> None:
        message = _MESSAGES[code]
        self._send_json(
            HTTPStatus.NOT_FOUND,
            {"error": message},
            head=head,
            record=record,
            headers={"X-Error-Code": code, "X-Error-Message": message},
        )

    # -- routes ------------------------------------------------------------------------------

    def _info(self, repo_id: str, revision: str, *, head: bool, record: str) -> None:
        found = self.owner._resolve(repo_id, revision)
        if isinstance(found, str):
            self._error(found, head=head, record=record)
            return
        sha, files = found
        author = repo_id.partition("/")[0]
        self._send_json(
            200,
            {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "author": author,
                "sha": sha,
                "lastModified": "2025-01-01T00:00:00.000Z",
                "createdAt": "2025-01-01T00:00:00.000Z",
                "private": False,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "cardData": {},
                "siblings": [{"rfilename": path} for path in sorted(files)],
            },
            head=head,
            record=record,
        )

    def _tree(
        self,
        repo_id: str,
        revision: str,
        prefix: str,
        recursive: bool,
        cursor: int,
        raw_path: str,
        *,
        head: bool,
        record: str,
    ) -> None:
        found = self.owner._resolve(repo_id, revision)
        if isinstance(found, str):
            self._error(found, head=head, record=record)
            return
        _, files = found
        base = f"{prefix.rstrip('/')}/" if prefix else ""
        folder_ids = _tree_ids(files)
        entries: dict[str, dict[str, object]] = {}
        for path in sorted(files):
            if not path.startswith(base):
                continue
            rest = path[len(base) :].split("/")
            depth = len(rest) if recursive else 1
            for i in range(1, min(depth, len(rest) - 1) + 1):  # the folders on the way
                folder = base + "/".join(rest[:i])
                entries.setdefault(folder, {"type": "directory", "oid": folder_ids[folder], "size": 0, "path": folder})
            if recursive or len(rest) == 1:
                data = files[path]
                entries[path] = {"type": "file", "oid": _blob_id(data), "size": len(data), "path": path}
        if base and not entries:
            self._error("EntryNotFound", head=head, record=record)
            return
        listing = [entries[key] for key in sorted(entries)]
        page = listing[cursor : cursor + self.owner.page_size]
        headers = {}
        if cursor + self.owner.page_size < len(listing):
            query = f"recursive={str(recursive).lower()}&cursor={cursor + self.owner.page_size}"
            headers["Link"] = f'<{self.owner.url}{quote(raw_path, safe="/%")}?{query}>; rel="next"'
        self._send_json(200, page, head=head, record=record, headers=headers)

    def _file(self, repo_id: str, revision: str, path: str, *, head: bool, record: str) -> None:
        found = self.owner._resolve(repo_id, revision)
        if isinstance(found, str):
            self._error(found, head=head, record=record)
            return
        sha, files = found
        if path not in files:
            self._error("EntryNotFound", head=head, record=record)
            return
        data = files[path]
        start, status = 0, 200
        wanted = self.headers.get("Range")
        if wanted and (m := re.fullmatch(r"bytes=(\d+)-", wanted.strip())) and int(m.group(1)) < len(data):
            start, status = int(m.group(1)), 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{_blob_id(data)}"')
        self.send_header("X-Repo-Commit", sha)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self.owner._record(HubRequest(self.command, record, status, wanted))


@functools.lru_cache(maxsize=65536)
def _blob_id(data: bytes) -> str:
    return git_blob_id(data)  # a listing names every file: hash each content once


def _tree_ids(files: Mapping[str, bytes]) -> dict[str, str]:
    """An id for every folder, from the ids of the files below it (stands in for git's tree ids)."""
    digests: dict[str, Any] = {}
    for path in sorted(files):
        parts = path.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            digests.setdefault(folder, hashlib.sha1(folder.encode())).update(_blob_id(files[path]).encode())
    return {folder: digest.hexdigest() for folder, digest in digests.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m cooperbench.testing.fake_hub FOLDER``: serve a folder as a Hub dataset repository until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cooperbench.testing.fake_hub", description=main.__doc__)
    parser.add_argument("folder", type=Path, help="the files of the repository's main branch")
    parser.add_argument("--repo-id", default="CodeConflict/cooperbench-dataset")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder}: not a folder")
    with FakeHub() as hub:
        commit = hub.commit(args.repo_id, args.folder)
        print(f"serving {args.folder} as {args.repo_id} (commit {commit}); use it with:", flush=True)
        print(f"  HF_ENDPOINT={hub.url} cooperbench prepare", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
