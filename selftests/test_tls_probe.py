"""The TLS specs NAME-TLS-002 and NAME-TLS-003 against local servers on 127.0.0.1: a refusal is a refusal only when the
server says so, a connection that fails is "could not observe", and a certificate for another name says nothing
about the name's expiry.

The servers are Python's ssl with a self-signed certificate (the `cryptography` package); the specs themselves
run (tests/names/test_name_tls.py, imported from its file) with the TLS port pointed at the server.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from spec_project import spec_module

from homelab.checks import tls
from homelab.model.paths import REPO

ROOT = REPO
NAME = "status.home.example.com"


SPECS = spec_module("tests/names/test_name_tls.py")


def _certificate(directory: Path, name: str, days: float) -> tuple[Path, Path]:
    directory = directory / f"{name}-{days:g}"
    directory.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Server:
    """A TCP server on 127.0.0.1 that hands each connection to `handle` in a thread of its own."""

    def __init__(self, handle: Callable[[socket.socket, int], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.handle = handle
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn, count), daemon=True).start()
            count += 1

    def _one(self, conn: socket.socket, count: int) -> None:
        conn.settimeout(5)
        try:
            self.handle(conn, count)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def tls_handler(cert: tuple[Path, Path], minimum: ssl.TLSVersion) -> Callable[[socket.socket, int], None]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    if minimum < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum

    def handle(conn: socket.socket, _: int) -> None:
        with context.wrap_socket(conn, server_side=True) as tls_conn:
            tls_conn.recv(1)  # until the client closes
    return handle


def reset(conn: socket.socket, _: int) -> None:
    """Read the ClientHello, then abort the connection (RST), as a middlebox or a crashed server does."""
    conn.recv(1024)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_at_once(conn: socket.socket, _: int) -> None:
    """A plain TCP service that closes every connection at once."""


def plain_http(conn: socket.socket, _: int) -> None:
    conn.recv(1024)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    directory = tmp_path_factory.mktemp("tls")
    return {"good": _certificate(directory, NAME, 90), "other": _certificate(directory, "other.example.org", 90),
            "short": _certificate(directory, NAME, 5)}


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[socket.socket, int], None]], Server]]:
    """Start a server, and point the TLS specs' port 443 at it."""
    servers: list[Server] = []

    def start(handle: Callable[[socket.socket, int], None]) -> Server:
        server = Server(handle)
        servers.append(server)
        monkeypatch.setattr(tls, "HTTPS_PORT", server.port)
        return server
    yield start
    for server in servers:
        server.close()


INVENTORY = SimpleNamespace(
    services={"npm": SimpleNamespace(name="npm")},
    hosts_of=lambda service: [SimpleNamespace(name="platform", address="127.0.0.1")],
    settings=SimpleNamespace(connect_timeout=3, cert_min_days=14, cert_warn_days=30, ca_bundle=None))
FQDN = SimpleNamespace(name=NAME)


def verdict(spec: Callable[[], None]) -> str:
    """'pass', 'FAIL: message' for a finding, 'UNOBSERVED: message' for a failure that says could not observe."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec()
    except AssertionError as exc:
        return f"FAIL: {exc}"
    except pytest.fail.Exception as exc:
        return f"UNOBSERVED: {exc.msg}" if exc.msg.startswith("could not observe") else f"FAIL: {exc.msg}"
    return "pass"


def legacy_spec(version: str) -> str:
    return verdict(lambda: SPECS.test_legacy_tls_refused(FQDN, version, INVENTORY))


def expiry_spec() -> str:
    return verdict(lambda: SPECS.test_certificate_not_expiring(FQDN, INVENTORY))


# -- NAME-TLS-003: legacy TLS refused ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_modern_only_server_refuses_legacy(serve, certs, version: str) -> None:
    """A server that accepts TLS 1.2+ only answers TLS 1.0/1.1 with a protocol_version alert: 003 passes."""
    serve(tls_handler(certs["good"], ssl.TLSVersion.TLSv1_2))
    assert legacy_spec(version) == "pass"


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_legacy_server_is_a_finding(serve, certs, version: str) -> None:
    """A server that completes a TLS 1.0/1.1 handshake (this machine offering it at @SECLEVEL=0) fails 003."""
    serve(tls_handler(certs["good"], ssl.TLSVersion.TLSv1))
    found = legacy_spec(version)
    assert found.startswith(f"FAIL: expected {version} refused; found {version} accepted ("), found


@pytest.mark.parametrize(("handle", "why"), [
    (reset, "no TLS 1.2+ handshake with 127.0.0.1"),
    (close_at_once, "no TLS 1.2+ handshake with 127.0.0.1"),
    (plain_http, "no TLS 1.2+ handshake with 127.0.0.1"),
], ids=["reset", "closed-at-once", "not-tls"])
def test_no_tls_server_is_could_not_observe(serve, handle: Callable[[socket.socket, int], None], why: str) -> None:
    """A connection that is reset, closed, or answered by something that is not TLS: never a refusal (they passed
    before), always could not observe."""
    serve(handle)
    found = legacy_spec("TLSv1")
    assert found.startswith(f"UNOBSERVED: could not observe: {why}"), found
    assert "(on platform from this machine, offering TLSv1 only" in found


def test_reset_of_the_legacy_handshake_is_could_not_observe(serve, certs) -> None:
    """A TLS server (it completes TLS 1.2) that resets the TLS 1.0 attempt instead of refusing it: could not
    observe, for a reset says nothing about the version."""
    modern = tls_handler(certs["good"], ssl.TLSVersion.TLSv1_2)
    serve(lambda conn, count: modern(conn, count) if count == 0 else reset(conn, count))
    found = legacy_spec("TLSv1")
    assert found.startswith("UNOBSERVED: could not observe: the TLSv1 handshake ended without a refusal"), found


def test_connection_refused_is_could_not_observe(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: connections to it are refused
        monkeypatch.setattr(tls, "HTTPS_PORT", unused.getsockname()[1])
        found = legacy_spec("TLSv1_1")
    assert found.startswith("UNOBSERVED: could not observe: no TLS 1.2+ handshake"), found
    assert "ConnectionRefusedError" in found, found


# -- NAME-TLS-002: the certificate's expiry ---------------------------------------------------------------------

def test_expiry_of_the_right_certificate(serve, certs) -> None:
    """90 days left: a pass; 5 days left (under cert_min_days 14): a finding."""
    serve(tls_handler(certs["good"], ssl.TLSVersion.TLSv1_2))
    assert expiry_spec() == "pass"
    serve(tls_handler(certs["short"], ssl.TLSVersion.TLSv1_2))
    assert expiry_spec().startswith("FAIL: expected at least 14 days left; found 5 days")


def test_certificate_for_another_name_is_could_not_observe(serve, certs) -> None:
    """Something that is not NPM's certificate for the name (it passed, for its own 90 days, before)."""
    serve(tls_handler(certs["other"], ssl.TLSVersion.TLSv1_2))
    found = expiry_spec()
    assert found.startswith("UNOBSERVED: could not observe: the certificate served is for other.example.org"), found


@pytest.mark.parametrize("handle", [reset, close_at_once, plain_http], ids=["reset", "closed-at-once", "not-tls"])
def test_no_certificate_is_could_not_observe(serve, handle: Callable[[socket.socket, int], None]) -> None:
    serve(handle)
    found = expiry_spec()
    assert found.startswith(f"UNOBSERVED: could not observe: no TLS handshake with 127.0.0.1:{tls.HTTPS_PORT} for "
                            f"{NAME}"), found


def test_wildcard_and_exact_names() -> None:
    leaf = tls.Leaf(("*.home.example.com", "home.example.com"), datetime.now(UTC), "CN=x")
    assert leaf.covers("status.home.example.com")
    assert leaf.covers("HOME.example.com.")
    assert not leaf.covers("a.b.home.example.com")
    assert not leaf.covers("status.example.org")


# -- NAME-TLS-001: a certificate that verifies for the name -------------------------------------------------------

def certificate_spec(ca_bundle: Path | None) -> str:
    inventory = SimpleNamespace(**{**vars(INVENTORY), "settings": SimpleNamespace(
        **{**vars(INVENTORY.settings), "ca_bundle": ca_bundle})})
    return verdict(lambda: SPECS.test_certificate_verifies(FQDN, inventory))


def test_certificate_that_verifies_passes(serve, certs) -> None:
    """The self-signed leaf is its own CA here: trusted, for the right name, it verifies."""
    serve(tls_handler(certs["good"], ssl.TLSVersion.TLSv1_2))
    assert certificate_spec(certs["good"][0]) == "pass"


@pytest.mark.parametrize(("served", "why"), [("other", "Hostname mismatch"), ("good", "self-signed certificate")],
                         ids=["another-name", "untrusted"])
def test_certificate_that_does_not_verify_is_a_finding(serve, certs, served: str, why: str) -> None:
    """A certificate for another name, or one no trusted CA signed: the fault NAME-TLS-001 guards against."""
    serve(tls_handler(certs[served], ssl.TLSVersion.TLSv1_2))
    found = certificate_spec(certs["other"][0] if served == "other" else None)
    assert found.startswith(f"FAIL: expected a certificate for {NAME} that verifies"), found
    assert why in found, found


@pytest.mark.parametrize("handle", [reset, close_at_once, plain_http], ids=["reset", "closed-at-once", "not-tls"])
def test_no_handshake_is_could_not_observe_for_the_certificate(serve, certs,
                                                               handle: Callable[[socket.socket, int], None]) -> None:
    """No certificate seen at all (it failed as a certificate that does not verify before): could not observe."""
    serve(handle)
    found = certificate_spec(certs["good"][0])
    assert found.startswith(f"UNOBSERVED: could not observe: no TLS handshake with 127.0.0.1:{tls.HTTPS_PORT} for "
                            f"{NAME}"), found
    assert "fix: make NPM answer TLS" in found, found


def test_connection_refused_is_could_not_observe_for_the_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        monkeypatch.setattr(tls, "HTTPS_PORT", unused.getsockname()[1])
        found = certificate_spec(None)
    assert found.startswith("UNOBSERVED: could not observe: no TLS handshake"), found
    assert "ConnectionRefusedError" in found, found
