"""Custom certificates (`provider: other`): multipart upload, PEM checks, facts NPM reads with openssl."""

from __future__ import annotations

import email.parser
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from npm_store import ApiError

SSL_FILES = ("certificate", "certificate_key", "intermediate_certificate")


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The file and field parts of a multipart/form-data body, by form name."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(400, "Expected multipart/form-data with certificate and certificate_key files")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts: dict[str, bytes] = {}
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts


def _dn(name: x509.Name) -> str:
    """A distinguished name the way `openssl x509 -issuer` prints it: `C = US, O = Lab, CN = Lab CA`."""
    return ", ".join(f"{attr.rfc4514_attribute_name} = {attr.value!s}" for attr in name)


def certificate_info(pem: bytes) -> dict[str, Any]:
    """`{cn, issuer, dates: {from, to}}` of the first certificate in `pem`; 400 if invalid or expired."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ApiError(400, f"Certificate is not valid ({exc})") from exc
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(names[0].value) if names else ""
    if not cn:
        try:
            cn = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName)[0]
        except (x509.ExtensionNotFound, IndexError):
            cn = ""
    not_after = cert.not_valid_after_utc
    if not_after < datetime.now(UTC):
        raise ApiError(400, "Certificate has expired")
    return {"cn": cn, "issuer": _dn(cert.issuer),
            "dates": {"from": int(cert.not_valid_before_utc.timestamp()), "to": int(not_after.timestamp())}}


def check_key(pem: bytes) -> Any:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ApiError(400, f"Certificate Key is not valid ({exc})") from exc


def validate_files(files: dict[str, bytes]) -> dict[str, Any]:
    """What `POST /api/nginx/certificates/validate` answers; also checks that the key belongs to the cert."""
    result: dict[str, Any] = {}
    if "certificate" in files:
        result["certificate"] = certificate_info(files["certificate"])
    if "intermediate_certificate" in files:
        result["intermediate_certificate"] = certificate_info(files["intermediate_certificate"])
    if "certificate_key" in files:
        key = check_key(files["certificate_key"])
        result["certificate_key"] = True
        if "certificate" in files:
            public = x509.load_pem_x509_certificate(files["certificate"]).public_key()
            fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            if key.public_key().public_bytes(*fmt) != public.public_bytes(*fmt):
                raise ApiError(400, "Certificate Key does not match the Certificate")
    return result


def write_custom(data_dir: Path, cert_id: int, files: dict[str, bytes]) -> Path:
    """`custom_ssl/npm-<id>/fullchain.pem` (certificate + intermediate) and `privkey.pem`, as NPM lays them out."""
    directory = data_dir / "custom_ssl" / f"npm-{cert_id}"
    directory.mkdir(parents=True, exist_ok=True)
    chain = files["certificate"].rstrip(b"\n") + b"\n"
    if files.get("intermediate_certificate"):
        chain += files["intermediate_certificate"].rstrip(b"\n") + b"\n"
    (directory / "fullchain.pem").write_bytes(chain)
    key = directory / "privkey.pem"
    key.write_bytes(files["certificate_key"])
    key.chmod(0o600)
    return directory


def expires_on(info: dict[str, Any]) -> str:
    return datetime.fromtimestamp(info["dates"]["to"], UTC).strftime("%Y-%m-%d %H:%M:%S")
