"""The agent's TLS certificate and request-signature check (crypto/tls.go, crypto/ecdsa.go, http/security)."""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import ipaddress
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.x509.oid import NameOID

DEFAULT_MESSAGE = "Portainer-App"
MISSING = "Missing request signature headers"
INVALID = "Invalid request signature"


def self_signed(advertise_ip: str) -> tuple[Path, Path]:
    """A fresh RSA-2048 certificate (1 year, SAN localhost + advertise IP), written to a private temp dir."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portainer Agent"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "portainer-agent")])
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(advertise_ip)))
    except ValueError:
        names.append(x509.DNSName(advertise_ip))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False).sign(key, hashes.SHA256()))
    folder = Path(tempfile.mkdtemp(prefix="agent-tls-"))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Notary:
    """Checks X-PortainerAgent-PublicKey/-Signature: ECDSA P-256 over MD5(secret or "Portainer-App").

    Without AGENT_SECRET the first key that signs correctly is pinned (trust on first use); any other key is
    then refused, which is how a second Portainer instance gets "Invalid request signature".
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.digest = hashlib.md5((secret or DEFAULT_MESSAGE).encode()).digest()  # noqa: S324 - the protocol
        self.pinned: str | None = None
        self._lock = threading.Lock()

    def check(self, public_key_hex: str, signature: str) -> str | None:
        """None when the request may pass, else the 403 message."""
        if not public_key_hex or not signature:
            return MISSING
        if not self._valid(public_key_hex, signature):
            return INVALID
        if self.secret:
            return None
        with self._lock:
            if self.pinned is None:
                self.pinned = public_key_hex.lower()
            return None if self.pinned == public_key_hex.lower() else INVALID

    def _valid(self, public_key_hex: str, signature: str) -> bool:
        if "=" in signature:  # base64.RawStdEncoding refuses padding
            return False
        try:
            key = serialization.load_der_public_key(bytes.fromhex(public_key_hex))
            raw = base64.b64decode(signature + "=" * (-len(signature) % 4), validate=True)
        except (ValueError, binascii.Error):
            return False
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1" or len(raw) != 64:
            return False
        der = utils.encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        try:
            key.verify(der, self.digest, ec.ECDSA(utils.Prehashed(hashes.MD5())))  # noqa: S303
        except InvalidSignature:
            return False
        return True

    @property
    def associated(self) -> bool:
        return bool(self.secret) or self.pinned is not None
