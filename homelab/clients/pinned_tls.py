"""HTTPS pinned to one certificate: for a server that presents a self-signed certificate of its own (Portainer's
9443), where no chain can vouch for it.

Every connection of `pinned_transport` compares the SHA-256 fingerprint of the certificate the server presents
with the pinned one *during the handshake*, before a byte of the request (a password, a token) is sent, and
refuses a different one (`PinMismatch`). `presented_fingerprint` reads the fingerprint to pin on first contact.
Knows nothing of the server's API: homelab.clients.portainer builds its client on it and words its errors.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from typing import Any

import httpcore
import httpx


class PinMismatch(Exception):
    """The server presented a certificate other than the pinned one (`found` is "none" where it presented none)."""

    def __init__(self, host: str | None, found: str, pin: str) -> None:
        super().__init__(f"{host} presented a certificate with SHA-256 {found}, not the pinned {pin}")
        self.host, self.found, self.pin = host, found, pin


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate, as `openssl x509 -fingerprint -sha256` prints it (AB:CD:...)."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin below replaces chain verification, on every connection
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def presented_fingerprint(host: str, port: int, timeout: float = 5.0) -> str | None:
    """The fingerprint of the certificate `host:port` presents (for trust on first use); None where it presents
    none. OSError where nothing answers TLS there."""
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            _insecure_context().wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    return fingerprint_of(der) if der else None


class _PinnedStream(httpcore.NetworkStream):
    """A TCP stream whose TLS upgrade fails unless the server's certificate has the pinned fingerprint."""

    def __init__(self, inner: httpcore.NetworkStream, pin: str) -> None:
        self._inner, self._pin = inner, pin

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        stream = self._inner.start_tls(ssl_context, server_hostname, timeout)
        tls = stream.get_extra_info("ssl_object")
        der = tls.getpeercert(True) if tls is not None else None  # (an _ssl object: positional only)
        found = fingerprint_of(der) if der else "none"
        if found != self._pin:
            stream.close()
            raise PinMismatch(server_hostname, found, self._pin)
        return stream


class _PinnedBackend(httpcore.SyncBackend):
    def __init__(self, pin: str) -> None:
        self._pin = pin

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _PinnedStream(super().connect_tcp(host, port, timeout, local_address, socket_options), self._pin)


def pinned_transport(fingerprint: str) -> httpx.HTTPTransport:
    """An httpx transport whose every TLS connection must present the certificate `fingerprint`; a request
    through it raises PinMismatch (not an httpx error) where the server presents another."""
    transport = httpx.HTTPTransport(verify=_insecure_context())
    transport._pool = httpcore.ConnectionPool(  # httpx takes no network backend otherwise
        ssl_context=_insecure_context(), network_backend=_PinnedBackend(fingerprint.upper()))
    return transport
