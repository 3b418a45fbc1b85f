"""What every stand-in selftest needs: a free loopback port, a bounded wait, TLS without verification for the
stand-ins' self-signed certificates, and a fake Docker engine on a Unix socket."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

HOST = "127.0.0.1"  # the stand-ins are only ever run on loopback here


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], bool], seconds: float = 10) -> None:
    """Poll `check` until it is true; fail naming `what` after `seconds`."""
    __tracebackhide__ = True
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {seconds} s")


def insecure() -> ssl.SSLContext:
    """The Portainer stand-ins serve self-signed certificates, as the real ones do."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


class FakeDocker(socketserver.ThreadingUnixStreamServer):
    """A Docker engine on a Unix socket answering GETs from `answers`; it records the paths it was asked."""

    daemon_threads = True

    def __init__(self, path: str, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.seen: list[str] = []
        super().__init__(path, _DockerHandler)


class _DockerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeDocker

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        answer = self.server.answers.get(self.path.split("?")[0])
        body = json.dumps(answer if answer is not None else {"message": "page not found"}).encode()
        self.send_response(200 if answer is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.47")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "unix"
