"""Git stacks over HTTPS: the stand-in verifies the remote against the system CAs plus GIT_SSL_CAINFO (the lab CA),
and refuses any other certificate as Go does, naming the URL."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from selfsigned import self_signed
from test_portainer_git_support import COMPOSE, GitServer, Lab, create, make_repo, running_lab


def lab_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own issuer (a one-certificate lab CA)."""
    return self_signed(directory, name, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, GitServer, GitServer]]:
    """A stand-in told about `lab-ca` (GIT_SSL_CAINFO), a remote signed by it and one signed by a stranger."""
    work = tmp_path_factory.mktemp("git-tls")
    (work / "data").mkdir()
    good, bad = GitServer(work, lab_ca(work, "lab-ca")), GitServer(work, lab_ca(work, "stranger"))
    try:
        with running_lab(work, GIT_SSL_CAINFO=str(work / "lab-ca.pem")) as found:
            yield found, good, bad
    finally:
        for server in (good, bad):
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
