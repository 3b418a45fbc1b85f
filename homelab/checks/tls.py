"""Certificates NPM serves: fetched by SNI from the NPM host's address, so DNS faults stay apart from TLS ones.

`handshake` verifies the chain and the name against the inventory's CA bundle; `leaf` reads the certificate
without trusting it (to report its names and expiry); `accepts` tries one protocol version on its own.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509


@dataclass(frozen=True)
class Leaf:
    names: tuple[str, ...]
    not_after: datetime
    issuer: str

    @property
    def days_left(self) -> float:
        return (self.not_after - datetime.now(UTC)).total_seconds() / 86400


def _connect(address: str, name: str, context: ssl.SSLContext, timeout: float) -> ssl.SSLSocket:
    sock = socket.create_connection((address, 443), timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=name)
    except BaseException:
        sock.close()
        raise


def handshake(address: str, name: str, ca_bundle: Path | None, timeout: float) -> str | None:
    """None when a fully verified handshake succeeds for `name`; else the reason it does not."""
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    try:
        _connect(address, name, context, timeout).close()
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc)
    except (ssl.SSLError, OSError) as exc:
        return f"no TLS handshake: {exc}"
    return None


def leaf(address: str, name: str, timeout: float) -> Leaf:
    """The certificate served for `name`, unverified."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with _connect(address, name, context, timeout) as tls:
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise ssl.SSLError("no certificate served")
    cert = x509.load_der_x509_certificate(der)
    try:
        sans = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    return Leaf(sans, cert.not_valid_after_utc, cert.issuer.rfc4514_string())


def accepts(address: str, name: str, version: ssl.TLSVersion, timeout: float) -> bool:
    """Whether the server completes a handshake offering only `version` (legacy ciphers allowed)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    try:
        _connect(address, name, context, timeout).close()
    except (ssl.SSLError, OSError):
        return False
    return True
