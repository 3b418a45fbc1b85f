"""How every Python stand-in's main() ends: serve until SIGTERM or SIGINT, then stop serving and return.

Each stand-in's image copies this module beside its own (`COPY common/standin_serve.py <dir>/*.py ...`); run from
the repository, a stand-in's standin.py finds it here. As PID 1 in a container a process has no default action for
SIGTERM, so without a handler `docker stop` would wait out its timeout and then SIGKILL.
"""

from __future__ import annotations

import logging
import signal
import socketserver
import sys
import threading
from collections.abc import Iterable
from http.server import ThreadingHTTPServer
from types import FrameType
from typing import Any


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server whose connection errors (a client gone mid-request, a refused TLS handshake) are a
    debug line in the stand-in's log, not a traceback on stderr, as a Go server logs them."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        logging.getLogger("standin").debug("connection from %s ended with %s", client_address, sys.exc_info()[1])


def serve_until_signal(servers: Iterable[socketserver.BaseServer] = ()) -> None:
    """Serve each of `servers` in a daemon thread until SIGTERM or SIGINT, then shut each down and close it.

    The handlers are installed before anything is served and stay installed (a second signal changes nothing),
    so the caller's own shutdown after this returns (a child process, a background loop, the exit status) runs
    to its end. With no servers it only waits for the signal.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serving = list(servers)
    for server in serving:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    stopping = [threading.Thread(target=server.shutdown) for server in serving]  # each waits out its poll (0.5 s)
    for thread in stopping:
        thread.start()
    for thread in stopping:
        thread.join()
    for server in serving:
        server.server_close()
