"""The lab's secrets on disk, under .lab/ (git-ignored): the SSH client key, the CA, the .env file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.topology import LAB_DIR

SSH_KEY = LAB_DIR / "ssh" / "id_ed25519"
CA_DIR = LAB_DIR / "ca"
CA_CERT = CA_DIR / "root.pem"
CA_KEY = CA_DIR / "root.key"
ENV_FILE = LAB_DIR / ".env"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)
    path.chmod(0o600)


def ssh_client_key() -> str:
    """Create the lab's ed25519 client key once; return its public half (`ssh-ed25519 AAAA... lab`)."""
    if not SSH_KEY.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        _write_private(SSH_KEY, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                  serialization.NoEncryption()))
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        SSH_KEY.with_suffix(".pub").write_text(public.decode() + " homelab-lab\n")
    return SSH_KEY.with_suffix(".pub").read_text().strip()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "homelab lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ensure_ca() -> Path:
    """The lab's root CA (EC P-256, 10 years), made once; returns the root certificate's path."""
    if CA_CERT.exists() and CA_KEY.exists():
        return CA_CERT
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    root = _name("homelab lab root CA")
    cert = (x509.CertificateBuilder().subject_name(root).issuer_name(root)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(CA_KEY, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    CA_CERT.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CA_CERT


def issue_cert(names: list[str], out_dir: Path, days: int = 90) -> tuple[Path, Path]:
    """A server certificate for DNS names and/or IP addresses, signed by the lab CA: (cert.pem, key.pem).

    The cert file holds the leaf then the root, as a server presents its chain.
    """
    ensure_ca()
    ca_key = serialization.load_pem_private_key(CA_KEY.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(CA_CERT.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    stem = names[0].replace("*", "wildcard")
    cert_path, key_path = out_dir / f"{stem}.pem", out_dir / f"{stem}.key"
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + CA_CERT.read_bytes())
    return cert_path, key_path


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def ensure_env(secret_names: dict[str, str], domain: str) -> Path:
    """.lab/.env (mode 600) with a random value for each secret; values already there are kept."""
    current: dict[str, str] = {}
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            name, sep, value = line.partition("=")
            if sep and not name.startswith("#"):
                current[name.strip()] = value
    for name, description in secret_names.items():
        if description.lower().startswith("optional") and name not in current:
            continue  # an optional secret changes behaviour when set (UPTIME_KUMA_API_KEY): the lab leaves it unset
        if name not in current:
            current[name] = f"admin@{domain}" if name.endswith("EMAIL") else secrets.token_urlsafe(24)
    lines = ["# Lab secrets, generated by `lab up` (random; kept across runs). Never commit."]
    lines += [f"{name}={value}" for name, value in current.items()]
    _write_private(ENV_FILE, ("\n".join(lines) + "\n").encode())
    return ENV_FILE


def forget_env(names: tuple[str, ...]) -> None:
    """Drop `names` from .lab/.env: values pinned to a machine that was just made anew (a TLS fingerprint)."""
    if not ENV_FILE.exists():
        return
    lines = ENV_FILE.read_text().splitlines()
    kept = [line for line in lines if line.partition("=")[0].strip() not in names]
    if kept != lines:
        _write_private(ENV_FILE, ("\n".join(kept) + "\n").encode())


def ensure_server_cert(directory: Path, names: list[str], min_days: int = 30) -> None:
    """directory/server.pem and server.key for `names`, from the lab CA: made when missing, for other names, or
    under `min_days` from expiry. The key is world-readable: a server's own root reads it in its container."""
    pem, key = directory / "server.pem", directory / "server.key"
    if pem.exists() and key.exists():
        cert = x509.load_pem_x509_certificate(pem.read_bytes())
        found = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
        left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
        if sorted(found) == sorted(names) and left > dt.timedelta(days=min_days):
            return
    directory.mkdir(parents=True, exist_ok=True)
    made_pem, made_key = issue_cert(names, directory)
    made_key.chmod(0o644)
    made_pem.replace(pem)
    made_key.replace(key)
