"""Certificates NPM serves: fetched by SNI from the NPM host's address, so DNS faults stay apart from TLS ones.

`handshake` verifies the chain and the name against the inventory's CA bundle; `leaf` reads the certificate
without trusting it (to report its names and expiry); `legacy` tries one old protocol version on its own.

A probe tells apart what it saw: a server that refused (a TLS alert after the ClientHello, or a ServerHello of
another version), a connection that failed (refused, reset, closed, timed out, not TLS at all: could not
observe), and a certificate that is not for the name asked. Only the first is a refusal.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509

HTTPS_PORT = 443  # where NPM serves TLS (the selftests point it at a local server)


@dataclass(frozen=True)
class Leaf:
    names: tuple[str, ...]
    not_after: datetime
    issuer: str

    @property
    def days_left(self) -> float:
        return (self.not_after - datetime.now(UTC)).total_seconds() / 86400

    def covers(self, name: str) -> bool:
        """The certificate names `name` in its SANs (a wildcard covers one label, as TLS clients match)."""
        name = name.lower().rstrip(".")
        for pattern in (n.lower().rstrip(".") for n in self.names):
            if pattern == name:
                return True
            label, _, rest = name.partition(".")
            if pattern.startswith("*.") and label and rest == pattern[2:]:
                return True
        return False


class TlsUnobserved(Exception):
    """The probe could not see what the server does: no TCP connection, a reset or close mid-handshake, a
    timeout, an answer that is not TLS, or this machine refusing to offer the version itself."""


# A server's refusal of the version offered: its protocol_version / handshake_failure / insufficient_security
# alert, or a ServerHello of a version we did not offer (UNSUPPORTED_PROTOCOL, after the ClientHello).
REFUSALS = frozenset({"TLSV1_ALERT_PROTOCOL_VERSION", "SSLV3_ALERT_HANDSHAKE_FAILURE",
                      "TLSV1_ALERT_INSUFFICIENT_SECURITY", "UNSUPPORTED_PROTOCOL"})
# This machine refusing before anything is sent: OpenSSL's policy, not the server's.
LOCAL_REFUSALS = frozenset({"NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "VERSION_TOO_LOW"})


def _connect(address: str, name: str, context: ssl.SSLContext, timeout: float, port: int | None = None
             ) -> ssl.SSLSocket:
    sock = socket.create_connection((address, port or HTTPS_PORT), timeout=timeout)
    try:
        return context.wrap_socket(sock, server_hostname=name)
    except BaseException:
        sock.close()
        raise


def handshake(address: str, name: str, ca_bundle: Path | None, timeout: float, port: int | None = None) -> str | None:
    """None when a fully verified handshake succeeds for `name`; else why the certificate is refused (it does not
    verify, or the server has none for the name). TlsUnobserved when no certificate was seen at all: no connection,
    a reset, a timeout, an answer that is not TLS."""
    port = port or HTTPS_PORT
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    try:
        _connect(address, name, context, timeout, port).close()
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc)
    except ssl.SSLError as exc:
        if exc.reason == "TLSV1_ALERT_UNRECOGNIZED_NAME":  # the server's own answer: no certificate for the name
            return f"the server has no certificate for {name} (TLS alert unrecognized_name)"
        raise TlsUnobserved(f"no TLS handshake with {address}:{port} for {name}: {_why(exc)}") from None
    except OSError as exc:
        raise TlsUnobserved(f"no TLS handshake with {address}:{port} for {name}: {_why(exc)}") from None
    return None


def leaf(address: str, name: str, timeout: float, port: int | None = None) -> Leaf:
    """The certificate served for `name`, unverified; TlsUnobserved when no handshake gives one."""
    port = port or HTTPS_PORT
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with _connect(address, name, context, timeout, port) as tls:
            der = tls.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError) as exc:
        raise TlsUnobserved(f"no TLS handshake with {address}:{port} for {name}: {_why(exc)}") from None
    if der is None:
        raise TlsUnobserved(f"{address}:{port} completed the handshake for {name} but served no certificate")
    cert = x509.load_der_x509_certificate(der)
    try:
        sans = tuple(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    return Leaf(sans, cert.not_valid_after_utc, cert.issuer.rfc4514_string())


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return f"{exc.reason} ({exc.library or 'SSL'})"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _legacy_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that offers `version` only, with every cipher at OpenSSL security level 0: this machine's own
    policy (OpenSSL 3 refuses TLS 1.0/1.1 at level 1 and above) must not answer for the server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1 and TLSv1_1 are deprecated: offering them is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    return context


def legacy(address: str, name: str, version: ssl.TLSVersion, timeout: float, port: int | None = None) -> str | None:
    """None when the server refuses a handshake offering only `version`; else what it did instead, as
    `accepted ...`. TlsUnobserved when the probe could not tell: the server completes no TLS 1.2+ handshake
    either (it is not a TLS server, or not reachable), or the legacy attempt ended without the server refusing
    (a reset, a close, a timeout, an answer that is not TLS, this machine refusing to offer the version)."""
    port = port or HTTPS_PORT
    modern = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    modern.check_hostname = False
    modern.verify_mode = ssl.CERT_NONE
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        _connect(address, name, modern, timeout, port).close()
    except (ssl.SSLError, OSError) as exc:
        raise TlsUnobserved(f"no TLS 1.2+ handshake with {address}:{port} for {name} either ({_why(exc)}): "
                            "nothing there refuses or accepts TLS") from None
    try:
        context = _legacy_context(version)
    except (ssl.SSLError, ValueError) as exc:
        raise TlsUnobserved(f"this machine's OpenSSL cannot offer {version.name}: {exc}") from None
    try:
        tls = _connect(address, name, context, timeout, port)
    except ssl.SSLError as exc:
        if exc.reason in REFUSALS:
            return None
        if exc.reason in LOCAL_REFUSALS:
            raise TlsUnobserved(f"this machine refused to offer {version.name} ({exc.reason}), even at "
                                "@SECLEVEL=0: the server was never asked") from None
        raise TlsUnobserved(f"the {version.name} handshake ended without a refusal from the server: "
                            f"{_why(exc)}") from None
    except OSError as exc:
        raise TlsUnobserved(f"the {version.name} handshake ended without a refusal from the server: "
                            f"{_why(exc)}") from None
    with tls:
        cipher = tls.cipher()
        return f"accepted ({tls.version()}, {cipher[0] if cipher else 'no cipher'})"


def hsts_max_age(header: str) -> int | None:
    """The max-age of a Strict-Transport-Security header (RFC 6797 6.1), None when it has none."""
    for directive in header.split(";"):
        key, _, value = directive.strip().partition("=")
        if key.strip().lower() == "max-age":
            digits = value.strip().strip('"')
            return int(digits) if digits.isascii() and digits.isdigit() else None  # RFC 6797: 1*DIGIT only
    return None


def get_by_name(address: str, name: str, path: str, ca_bundle: Path | None, timeout: float) -> httpx.Response:
    """GET https://NAME/PATH at `address` (NPM), the name as SNI and Host, TLS verified against `ca_bundle` (else
    the system CAs); httpx.HTTPError when there is no answer. A client of its own per call: a pooled connection
    would carry another name's TLS session (SNI) to NPM."""
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True
    with httpx.Client(verify=verify, timeout=timeout) as client:
        return client.get(f"https://{address}{path}", headers={"Host": name}, extensions={"sni_hostname": name})
