"""homelab.clients.gitremote without a lab: the pkt-lines of Git's smart HTTP discovery, and `ref_commit` against a real
`git http-backend` served on 127.0.0.1 over HTTPS with a self-signed certificate as settings.ca_bundle, reached at
git.address with the repository's name as SNI and Host (the inventory refuses plain HTTP; the plain server here only
serves the pkt-line tests). Every failure names the repository URL."""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from selfsigned import self_signed
from spec_project import closed_port
from test_gitops_inventory import git_inventory

from homelab.clients.gitremote import GitRemoteError, advertised_refs, ref_commit

NAME = "git.home.example.com"


def pkt(line: str) -> bytes:
    """One pkt-line (gitprotocol-common(5)): four hex digits of length, itself included, then the data."""
    data = line.encode()
    return f"{len(data) + 4:04x}".encode() + data


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


# -- a smart HTTP Git server: git http-backend behind a tiny CGI glue --------------------------------------------------


class _Backend(BaseHTTPRequestHandler):
    server: GitServer

    def do_GET(self) -> None:
        self.server.seen.append({"host": self.headers.get("Host"), "auth": self.headers.get("Authorization")})
        path, _, query = self.path.partition("?")
        env = {**os.environ, "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET", "REMOTE_ADDR": "127.0.0.1",
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
        done = subprocess.run(["git", "http-backend"], env=env, capture_output=True, check=False)
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        headers = [line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line]
        self.send_response(next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200))
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GitServer(ThreadingHTTPServer):
    """Serves the bare repositories under `root`; keeps each request's Host and Authorization, and each TLS
    handshake's SNI."""

    daemon_threads = True

    def __init__(self, root: Path, cert: tuple[Path, Path] | None = None) -> None:
        self.root = root
        self.seen: list[dict[str, str | None]] = []
        self.sni: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Backend)
        if cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, cert))
            context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.socket = context.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (its own CA), and its key."""
    return self_signed(directory, name, x509.DNSName(name), stem="git")


Served = tuple[GitServer, GitServer, dict[str, str]]  # plain HTTP, HTTPS, commit of main and of v1


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """homelab.git (main, and a tag v1 one commit behind) under a plain-HTTP and an HTTPS server; its commits."""
    root = tmp_path_factory.mktemp("git")
    work = root / "work"
    git("init", "-q", "--bare", "-b", "main", str(root / "homelab.git"), cwd=root)
    git("init", "-q", "-b", "main", str(work), cwd=root)
    for step in ("v1", "main"):
        (work / "README").write_text(step)
        git("add", "-A", cwd=work)
        git("-c", "user.email=ops@lab", "-c", "user.name=ops", "commit", "-q", "-m", step, cwd=work)
    git("tag", "v1", "HEAD~1", cwd=work)
    git("push", "-q", "--tags", str(root / "homelab.git"), "main", cwd=work)
    commits = {"main": git("rev-parse", "main", cwd=work), "v1": git("rev-parse", "v1", cwd=work)}
    plain, secure = GitServer(root), GitServer(root, certificate(root, NAME))
    yield plain, secure, commits
    for server in (plain, secure):
        server.shutdown()
        server.server_close()


# -- advertised_refs ------------------------------------------------------------------------------------------------


def test_advertised_refs_reads_a_discovery_answer() -> None:
    """The service line and flush-pkts are skipped; the capabilities after the first ref's NUL are dropped."""
    main, tag = "a" * 40, "b" * 40
    body = (pkt("# service=git-upload-pack\n") + b"0000" +
            pkt(f"{main} HEAD\0multi_ack thin-pack side-band symref=HEAD:refs/heads/main agent=git/2.39\n") +
            pkt(f"{main} refs/heads/main\n") + pkt(f"{tag} refs/tags/v1\n") + b"0000")
    assert advertised_refs(body) == {"HEAD": main, "refs/heads/main": main, "refs/tags/v1": tag}


def test_advertised_refs_reads_git_http_backends_answer(served: Served) -> None:
    plain, _, commits = served
    body = subprocess.run(["git", "upload-pack", "--stateless-rpc", "--http-backend-info-refs",
                           str(plain.root / "homelab.git")], check=True, capture_output=True).stdout
    refs = advertised_refs(pkt("# service=git-upload-pack\n") + b"0000" + body)
    assert refs["refs/heads/main"] == commits["main"]
    assert refs["refs/tags/v1"] == commits["v1"]


@pytest.mark.parametrize("body", [b"<html><body>Sign in</body></html>", b"Not Found", b'{"message": "no"}'])
def test_advertised_refs_refuses_what_is_not_pkt_lines(body: bytes) -> None:
    with pytest.raises(GitRemoteError, match="not in Git's pkt-line format"):
        advertised_refs(body)


@pytest.mark.parametrize(("body", "why"), [
    (b"cafe babe", "ends inside a pkt-line"),                            # four hex digits, then no packet
    (b"0x1f" + b"x" * 27, "not in Git's pkt-line format"),              # int(..., 16) would take it
    (b"0032" + b"a" * 10, "ends inside a pkt-line"),                     # a packet cut short
    (b"0000", "does not announce"),                                      # no service line
    (pkt(f"{'a' * 40} refs/heads/main\n") + b"0000", "does not announce"),  # the dumb protocol's answer
    (pkt("# service=git-upload-pack\n") + b"0000" + pkt("babe refs/heads/main\n"), "not a reference"),
])
def test_advertised_refs_refuses_what_is_not_a_smart_http_answer(body: bytes, why: str) -> None:
    with pytest.raises(GitRemoteError, match=why):
        advertised_refs(body)


# -- ref_commit (HTTPS at git.address, verified against the test CA) -------------------------------------------------


def _at(tmp_path: Path, secure: GitServer, extra: str = "", path: str = "homelab.git",
        port: int | None = None) -> tuple[str, Any]:
    """The repository's URL on the HTTPS server (or `port`) and an inventory naming it, reached at 127.0.0.1
    (git.address) and verified against the server's certificate."""
    url = f"https://{NAME}:{port or secure.port}/{path}"
    return url, git_inventory(tmp_path, f"  repository: {url}\n  address: 127.0.0.1\n{extra}", secure.root / "git.pem")


def test_ref_commit_is_the_branchs_commit(tmp_path: Path, served: Served) -> None:
    _, secure, commits = served
    assert ref_commit(_at(tmp_path, secure)[1]) == commits["main"]


def test_ref_commit_of_a_tag(tmp_path: Path, served: Served) -> None:
    _, secure, commits = served
    assert ref_commit(_at(tmp_path, secure, "  ref: refs/tags/v1\n")[1]) == commits["v1"]


def test_a_missing_ref_names_the_repository(tmp_path: Path, served: Served) -> None:
    url, inventory = _at(tmp_path, served[1], "  ref: refs/heads/dev\n")
    with pytest.raises(GitRemoteError) as caught:
        ref_commit(inventory)
    assert str(caught.value) == f"{url} (at 127.0.0.1): no refs/heads/dev (it has HEAD, refs/heads/main, refs/tags/v1)"


def test_a_404_names_the_repository(tmp_path: Path, served: Served) -> None:
    url, inventory = _at(tmp_path, served[1], path="elsewhere.git")
    with pytest.raises(GitRemoteError) as caught:
        ref_commit(inventory)
    assert str(caught.value).startswith(f"{url} (at 127.0.0.1): HTTP 404 to the ref discovery")


def test_no_server_names_the_repository(tmp_path: Path, served: Served) -> None:
    url, inventory = _at(tmp_path, served[1], port=closed_port())
    with pytest.raises(GitRemoteError) as caught:
        ref_commit(inventory)
    assert str(caught.value).startswith(f"{url} (at 127.0.0.1): no answer (ConnectError: ")


def test_credentials_go_as_basic_auth(tmp_path: Path, served: Served) -> None:
    """git.username with the password_secret's value (passed in by the caller) as HTTP basic authentication."""
    _, secure, commits = served
    inventory = _at(tmp_path, secure, "  username: ops\n  password_secret: GRAFANA_ADMIN_PASSWORD\n")[1]
    assert ref_commit(inventory, password="t0ken") == commits["main"]
    assert secure.seen[-1]["auth"] == "Basic " + base64.b64encode(b"ops:t0ken").decode()


# -- ref_commit over HTTPS, at git.address ----------------------------------------------------------------------------


def _secure(tmp_path: Path, secure: GitServer, ca_bundle: Path | None) -> tuple[str, Any]:
    url = f"https://{NAME}:{secure.port}/homelab.git"
    return url, git_inventory(tmp_path, f"  repository: {url}\n  address: 127.0.0.1\n", ca_bundle)


def test_https_at_the_address_sends_the_name_as_sni_and_host(tmp_path: Path, served: Served) -> None:
    """The connection goes to git.address (the name need not resolve here), verified against settings.ca_bundle
    for the repository's name, which is also the SNI and the Host header."""
    _, secure, commits = served
    _, inventory = _secure(tmp_path, secure, secure.root / "git.pem")
    assert ref_commit(inventory) == commits["main"]
    assert secure.sni[-1] == NAME
    assert secure.seen[-1]["host"] == f"{NAME}:{secure.port}"


def test_https_unverified_certificate_names_repository_and_address(tmp_path: Path, served: Served) -> None:
    """Without the CA bundle the self-signed certificate is refused: never an unverified answer."""
    url, inventory = _secure(tmp_path, served[1], None)
    with pytest.raises(GitRemoteError) as caught:
        ref_commit(inventory)
    message = str(caught.value)
    assert message.startswith(f"{url} (at 127.0.0.1): no answer (ConnectError: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message
