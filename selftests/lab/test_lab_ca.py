"""The lab CA: the root that settings.ca_bundle names signs the server certificates the lab issues."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from lab.keys import CA_CERT, issue_cert


def test_issued_certificate_chains_to_lab_root(tmp_path: Path) -> None:
    """A certificate issued for a name carries that name and is signed by the lab's root CA."""
    cert_path, key_path = issue_cert(["npm.home.example.com", "198.18.10.10"], tmp_path)
    leaf, root = x509.load_pem_x509_certificates(cert_path.read_bytes())
    assert root == x509.load_pem_x509_certificate(CA_CERT.read_bytes())
    leaf.verify_directly_issued_by(root)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["npm.home.example.com"]
    assert key_path.stat().st_mode & 0o077 == 0
