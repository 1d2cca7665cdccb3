"""Runs INSIDE a sandbox (copied there by :class:`cooperbench.agents.model_relay.ModelRelay`; stdlib only).

Listens on ``127.0.0.1`` (an ephemeral port, written to the file named by the first argument)
and pipes every TCP connection to the relay's unix socket (the second argument), so a CLI
agent that speaks HTTP over TCP reaches the model endpoint the harness serves. Exits when
its parent process is gone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        for s, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            with contextlib.suppress(OSError):
                s.shutdown(how)


def _serve(client: socket.socket, socket_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError:
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _watch_parent(parent: int) -> None:
    while True:
        threading.Event().wait(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main(port_file: str, socket_path: str) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    partial = port_file + ".tmp"
    with open(partial, "w") as out:
        out.write(str(listener.getsockname()[1]))
    os.replace(partial, port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_serve, args=(client, socket_path), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
