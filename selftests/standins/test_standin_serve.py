"""lab/standins/common/standin_serve.py: every Python stand-in serves until SIGTERM or SIGINT, stops serving, and
its own shutdown after that runs to the end, with the exit status it chooses (tried in a real process, as the
signal handlers must be installed by the main thread)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from standin_helpers import HOST, free_port

from homelab.model.paths import REPO

COMMON = REPO / "lab" / "standins" / "common"

PROGRAM = textwrap.dedent("""
    import socket, socketserver, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    sys.path.insert(0, sys.argv[1])
    from standin_serve import serve_until_signal

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args):
            pass

    class Quiet(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.sendall(b"tcp")

    ports = [int(port) for port in sys.argv[2:]]
    servers = [ThreadingHTTPServer(("127.0.0.1", ports[0]), Hello), socketserver.TCPServer(("127.0.0.1", ports[1]),
               Quiet)] if ports else []
    print("ready", flush=True)
    serve_until_signal(servers)
    for port in ports:  # closed before serve_until_signal returns
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            print(f"still open {port}", flush=True)
        except OSError:
            pass
    print("stopping", flush=True)
    time.sleep(0.5)  # the caller's own shutdown: a second signal must not cut it short
    print("stopped", flush=True)
    sys.exit(3)
""")


def start(*ports: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", PROGRAM, str(COMMON), *map(str, ports)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serves_every_server_until_the_signal_then_closes_them_and_returns(signum: int) -> None:
    http_port, tcp_port = free_port(), free_port()
    process = start(http_port, tcp_port)
    try:
        with urllib.request.urlopen(f"http://{HOST}:{http_port}/", timeout=5) as answer:
            assert answer.read() == b"hello"
        with socket.create_connection((HOST, tcp_port), timeout=5) as sock:
            assert sock.recv(3) == b"tcp"
        process.send_signal(signum)
        assert process.stdout is not None
        assert process.stdout.readline() == "stopping\n"
        process.send_signal(signum)  # a second one during the caller's shutdown changes nothing
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert (process.returncode, output) == (3, "stopped\n")


def test_without_servers_it_only_waits_for_the_signal() -> None:
    process = start()
    try:
        time.sleep(0.3)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    finally:
        process.kill()
    assert (process.returncode, output) == (3, "stopping\nstopped\n")
