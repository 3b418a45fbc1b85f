"""Git stacks over HTTPS: the stand-in verifies the remote against the system CAs plus GIT_SSL_CAINFO (the lab CA),
and refuses any other certificate as Go does, naming the URL."""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standin_helpers import FakeDocker
from test_portainer import DOCKER, PASSWORD, Portainer, login
from test_portainer_git_support import COMPOSE, RECORDER, GitServer, Lab, create, make_repo


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A CA:TRUE certificate for 127.0.0.1 that is its own issuer (a one-certificate lab CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, GitServer, GitServer]]:
    """A stand-in told about `lab-ca` (GIT_SSL_CAINFO), a remote signed by it and one signed by a stranger."""
    work = tmp_path_factory.mktemp("git-tls")
    (work / "data").mkdir()
    good, bad = GitServer(work, self_signed(work, "lab-ca")), GitServer(work, self_signed(work, "stranger"))
    engine = FakeDocker(os.path.join(tempfile.mkdtemp(prefix="fd-"), "docker.sock"), {**DOCKER, "/containers/json": []})
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    recorder, record = work / "docker-compose", work / "runs.jsonl"
    recorder.write_text(f"#!{sys.executable}\n{RECORDER}")
    recorder.chmod(0o755)
    portainer = Portainer(work / "data", COMPOSE_BINARY=str(recorder), COMPOSE_RECORD=str(record),
                          GIT_SSL_CAINFO=str(work / "lab-ca.pem"))
    try:
        with portainer.client() as client:
            client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD})
        with portainer.client(login(portainer)) as api:
            made = api.post("/api/endpoints", data={"Name": "local", "EndpointCreationType": "1",
                                                    "URL": f"unix://{engine.server_address}"})
            yield Lab(portainer, api, made.json()["Id"], record, work / "data", engine.server_address), good, bad
    finally:
        portainer.stop()
        for server in (good, bad, engine):
            server.shutdown()
            server.server_close()


def test_https_clone_trusts_the_lab_ca(tls: tuple[Lab, GitServer, GitServer]) -> None:
    """A remote whose certificate is signed by the GIT_SSL_CAINFO CA is cloned; ConfigHash is its commit."""
    lab, good, _ = tls
    repo = make_repo(good.root, "secure", good.base)
    sha = repo.commit({"docker-compose.yml": COMPOSE})
    made = create(lab, Name="secure", RepositoryURL=repo.url)
    assert made.status_code == 200, made.text
    assert made.json()["GitConfig"]["ConfigHash"] == sha


def test_untrusted_certificate_is_refused_naming_the_url(tls: tuple[Lab, GitServer, GitServer]) -> None:
    """Any other certificate fails with Go's x509 wording and the URL; TLSSkipVerify accepts it."""
    lab, _, bad = tls
    repo = make_repo(bad.root, "stranger-repo", bad.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    refused = create(lab, Name="stranger", RepositoryURL=repo.url)
    assert (refused.status_code, refused.json()["message"]) == (
        500, f'unable to clone git repository: failed to clone git repository: Get "{repo.url}/info/refs?service='
             'git-upload-pack": tls: failed to verify certificate: x509: certificate signed by unknown authority')
    assert create(lab, Name="stranger", RepositoryURL=repo.url, TLSSkipVerify=True).status_code == 200
