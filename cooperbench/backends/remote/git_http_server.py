"""A git smart-HTTP server that answers only requests carrying the run's token.

A script, not a library: a backend copies this file into its git server sandbox
(:func:`cooperbench.backends.remote.git_access.server_source` returns its bytes) and runs it
there with the sandbox's ``python3`` (3.7 or newer, standard library only) as
``python3 git_http_server.py <root> <port> <token> [<port file>]``. With port 0 the kernel picks
a free port; the port it got is written to ``<port file>`` (atomically, once it listens) and to
stderr, so nothing has to guess a free port. Each request must carry the header
``X-CooperBench-Team-Token: <token>`` (the run's sandboxes send it through their git
configuration); anything else gets 403, so a sandbox of another run that learns the URL
still cannot read or push. Git's own ``git http-backend`` does the protocol work.

Keep it one self-contained file: it must import nothing outside the standard library.
"""

from __future__ import annotations

import hmac
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN_HEADER = "X-CooperBench-Team-Token"


class GitHandler(BaseHTTPRequestHandler):
    """Answers 403 without the token, else what ``git http-backend`` answers for ``root``."""

    root = "/srv/git"
    token = ""

    def do_GET(self) -> None:
        self.serve_git()

    def do_POST(self) -> None:
        self.serve_git()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def serve_git(self) -> None:
        if not hmac.compare_digest(self.headers.get(TOKEN_HEADER, ""), self.token):
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.read_body()
        path, _, query = self.path.partition("?")
        env = dict(os.environ)
        env.update(
            GIT_PROJECT_ROOT=self.root,
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=path,
            QUERY_STRING=query,
            REQUEST_METHOD=self.command,
            CONTENT_TYPE=self.headers.get("Content-Type", ""),
            CONTENT_LENGTH=str(len(body)),
            REMOTE_USER="cooperbench",
            REMOTE_ADDR=self.client_address[0],
            GIT_PROTOCOL=self.headers.get("Git-Protocol", ""),
            HTTP_CONTENT_ENCODING=self.headers.get("Content-Encoding", ""),
        )
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200 if proc.returncode == 0 else 500
        headers = []
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main() -> None:
    """Serve the repositories under ``argv[1]`` on port ``argv[2]`` to requests carrying ``argv[3]``.

    ``argv[4]``, when given, is a file the bound port is written to once the server listens.
    """
    root, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    port_file = sys.argv[4] if len(sys.argv) > 4 else None
    GitHandler.root, GitHandler.token = root, token
    server = ThreadingHTTPServer(("0.0.0.0", port), GitHandler)
    bound = server.server_address[1]
    if port_file:
        with open(port_file + ".tmp", "w") as out:
            out.write(f"{bound}\n")
        os.replace(port_file + ".tmp", port_file)
    print(f"git_http_server: serving {root} on port {bound}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
