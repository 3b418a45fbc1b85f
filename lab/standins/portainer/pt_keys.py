"""Key material of one Portainer instance: TLS certificate, JWTs, API keys, agent request signatures.

Everything is generated once and persisted in the data directory, like Portainer's own certs/ and
portainer.key; a fresh data directory is a fresh instance.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

AGENT_DEFAULT_MESSAGE = "Portainer-App"
JWT_LIFETIME = 8 * 3600  # DefaultUserSessionTimeout = "8h"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ensure_tls(data_dir: Path) -> tuple[Path, Path]:
    """Self-signed certificate in DATA/certs (kept across restarts), like Portainer without --sslcert."""
    cert_path, key_path = data_dir / "certs" / "cert.pem", data_dir / "certs" / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Portainer"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "portainer")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.DNSName("portainer")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365 * 5)).add_extension(san, critical=False)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class AgentSigner:
    """Signs requests to agents: ECDSA P-256 over MD5(AGENT_SECRET or "Portainer-App"), as api/crypto/ecdsa.go."""

    def __init__(self, data_dir: Path, secret: str) -> None:
        path = data_dir / "portainer.key"
        if path.exists():
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(loaded, ec.EllipticCurvePrivateKey)
            self._key = loaded
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())
            path.write_bytes(self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
            os.chmod(path, 0o600)
        self._message = secret or AGENT_DEFAULT_MESSAGE
        der = self._key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key_hex = der.hex()
        self.fingerprint = base64.b64encode(hashlib.sha256(der).digest()).decode()

    def signature(self) -> str:
        digest = hashlib.md5(self._message.encode()).digest()  # noqa: S324 - the agent protocol's choice
        der = self._key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.MD5())))  # noqa: S303
        r, s = utils.decode_dss_signature(der)
        return base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=").decode()

    def headers(self) -> dict[str, str]:
        return {"X-PortainerAgent-PublicKey": self.public_key_hex, "X-PortainerAgent-Signature": self.signature()}


def jwt_encode(secret: bytes, claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(mac)}"


def jwt_decode(secret: bytes, token: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired HS256 token, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        mac = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(mac, b64url_decode(parts[2])):
            return None
        header, claims = json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
    except ValueError:
        return None
    if header.get("alg") != "HS256" or not isinstance(claims, dict) or claims.get("exp", 0) < time.time():
        return None
    return claims


def new_api_key() -> tuple[str, str]:
    """(raw key, stored digest): "ptr_" + base64 of 32 random bytes; only the SHA-256 digest is kept."""
    raw = "ptr_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return raw, api_key_digest(raw)


def api_key_digest(raw: str) -> str:
    return base64.b64encode(hashlib.sha256(raw.encode()).digest()).decode()


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), 100_000).hex()
    return f"{salt}${digest}"


def check_password(stored: str, password: str) -> bool:
    salt, _, _ = stored.partition("$")
    return hmac.compare_digest(stored, hash_password(password, salt))
