"""The pinned HTTPS of homelab.clients.pinned_tls, as the Portainer client uses it, against a local TLS server with
a self-signed certificate: the recorded fingerprint lets requests through, another is refused during the handshake
with Portainer's own message, and trust on first use reads the fingerprint the server presents."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from selfsigned import self_signed
from spec_project import closed_port

from homelab.clients.pinned_tls import fingerprint_of
from homelab.clients.portainer import (
    FINGERPRINT_VAR,
    FingerprintMismatch,
    Portainer,
    PortainerUnreachable,
    server_fingerprint,
)

STATUS = b'{"Version": "2.23.0", "InstanceID": "selftest"}'


class _Status(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(STATUS)))
        self.end_headers()
        self.wfile.write(STATUS)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """(port, the SHA-256 fingerprint of its certificate) of a local HTTPS server with a self-signed certificate."""
    cert, key = self_signed(tmp_path, "localhost", x509.DNSName("localhost"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    _Status.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    der = ssl.PEM_cert_to_DER_cert(cert.read_text(encoding="utf-8"))
    yield httpd.server_address[1], fingerprint_of(der)
    httpd.shutdown()
    httpd.server_close()


def test_first_contact_reads_the_presented_fingerprint(server: tuple[int, str]) -> None:
    port, fingerprint = server
    assert server_fingerprint("127.0.0.1", port) == fingerprint


def test_the_pinned_certificate_is_let_through(server: tuple[int, str]) -> None:
    port, fingerprint = server
    with Portainer.pinned("127.0.0.1", fingerprint.lower(), port=port) as portainer:
        assert portainer.status().instance_id == "selftest"


def test_another_certificate_is_refused_before_the_request(server: tuple[int, str]) -> None:
    port, fingerprint = server
    wrong = ":".join(["AB"] * 32)
    with Portainer.pinned("127.0.0.1", wrong, port=port) as portainer, \
            pytest.raises(FingerprintMismatch, match=f"SHA-256 {fingerprint}, but {FINGERPRINT_VAR} pins {wrong}"):
        portainer.status()
    assert _Status.requests == []  # refused in the handshake: no request reached the server


def test_no_tls_there_is_unreachable() -> None:
    with pytest.raises(PortainerUnreachable, match="does not answer TLS"):
        server_fingerprint("127.0.0.1", closed_port())
