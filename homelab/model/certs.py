"""Server certificates from a CA of our own (the inventory's `tls: {issuer: ca}`): what NPM serves in the lab.

`issue_leaf` signs a fresh key for one name: subject CN and SAN are the name, serverAuth only, not a CA,
valid 90 days. The CA key never leaves this machine; only the leaf and its key are uploaded to NPM.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LEAF_DAYS = 90
BACKDATE = timedelta(minutes=5)  # tolerate a little clock skew between this machine and the clients


class CertError(Exception):
    """The CA cannot be read or used; the message names the file."""


@dataclass(frozen=True)
class Authority:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the CA certificate, hex: tells which CA signed what we uploaded."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


@dataclass(frozen=True)
class Leaf:
    certificate_pem: bytes
    key_pem: bytes
    not_after: datetime


def load_authority(cert_path: Path, key_path: Path) -> Authority:
    """The CA certificate and its private key (PEM, unencrypted) from the inventory's tls.ca_cert/ca_key."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CertError(f"{cert_path}: cannot read the CA certificate ({exc}); expected a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertError(f"{key_path}: cannot read the CA key ({exc}); expected an unencrypted PEM key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
                      | ed448.Ed448PrivateKey):
        raise CertError(f"{key_path}: a {type(key).__name__} cannot sign certificates; expected EC, RSA or Ed25519")
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CertError(f"{key_path}: this key does not belong to the CA certificate {cert_path}")
    return Authority(certificate, key)


def issue_leaf(ca: Authority, name: str, days: float = LEAF_DAYS, now: datetime | None = None) -> Leaf:
    """A server certificate for DNS name `name`, signed by `ca`, with a new EC P-256 key."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = now + timedelta(days=days)
    ca_public = ca.certificate.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if isinstance(ca_public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
                  | ed448.Ed448PublicKey):
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public),
                                        critical=False)
    algorithm = None if isinstance(ca.key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    certificate = builder.sign(ca.key, algorithm)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return Leaf(certificate.public_bytes(serialization.Encoding.PEM), key_pem, not_after)
