"""The Portainer Agent stand-in (lab/standins/portainer-agent): TLS API, signatures, Docker proxy, edge polling."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from standin_helpers import FakeDocker, free_port, insecure, wait_until

from homelab.model.paths import REPO

AGENT = REPO / "lab" / "standins" / "portainer-agent" / "standin.py"
SECRET = "agent-selftest-secret"
DOCKER_ANSWERS: dict[str, Any] = {
    "/info": {"NCPU": 4, "MemTotal": 8_000_000_000, "Name": "fake-engine", "Swarm": {"NodeID": ""}},
    "/version": {"Version": "27.3.1", "ApiVersion": "1.47", "Components": [{"Name": "Engine"}]},
    "/containers/json": [
        {"Id": "a", "State": "running", "Status": "Up 2 hours (healthy)",
         "Labels": {"com.docker.compose.project": "platform"}},
        {"Id": "b", "State": "running", "Status": "Up 1 hour (unhealthy)", "Labels": {}},
        {"Id": "c", "State": "exited", "Status": "Exited (0) 1 hour ago", "Labels": None},
    ],
    "/images/json": [{"Id": "sha256:1"}, {"Id": "sha256:2"}],
    "/volumes": {"Volumes": [{"Name": "v1"}], "Warnings": None},
    "/networks": [{"Name": "bridge"}, {"Name": "host"}, {"Name": "none"}],
}


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> httpx.Response:
    return httpx.get(url, headers=headers, verify=insecure(), timeout=timeout)


class Signer:
    """An independent implementation of Portainer's request signature (not the server stand-in's code)."""

    def __init__(self, message: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.message = message

    def headers(self) -> dict[str, str]:
        digest = hashlib.md5(self.message.encode()).digest()  # noqa: S324 - the agent protocol's choice
        der = self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.MD5())))  # noqa: S303
        r, s = utils.decode_dss_signature(der)
        public = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo)
        signature = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=").decode()
        return {"X-PortainerAgent-PublicKey": public.hex(), "X-PortainerAgent-Signature": signature}


def start_agent(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **env}  # no __pycache__ in the build context
        return subprocess.Popen([sys.executable, str(AGENT)], env=full_env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def pinged(base: str) -> bool:
    try:
        return get(f"{base}/ping", timeout=1).status_code == 204
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def docker() -> Iterator[FakeDocker]:
    folder = tempfile.mkdtemp(prefix="fd-")
    server = FakeDocker(os.path.join(folder, "docker.sock"), DOCKER_ANSWERS)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def launch(docker: FakeDocker, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start agents on 127.0.0.1 free ports; returns their base URL once /ping answers."""
    started: list[subprocess.Popen[bytes]] = []

    def run(**env: str) -> str:
        port = free_port()
        base_env = {"AGENT_HOST": "127.0.0.1", "AGENT_PORT": str(port), "DOCKER_SOCKET": docker.server_address,
                    "AGENT_ADVERTISE_ADDR": "127.0.0.1", "AGENT_SECRET": ""}
        started.append(start_agent({**base_env, **env}, tmp_path / f"agent-{port}.log"))
        base = f"https://127.0.0.1:{port}"
        wait_until(f"the agent on {base}", lambda: pinged(base), 10)
        return base

    yield run
    for process in started:
        stop(process)


def test_ping_is_204_with_agent_headers(launch: Callable[..., str]) -> None:
    """GET /ping and /v2/ping answer 204 without auth, with version, API version and platform headers."""
    base = launch(AGENT_SECRET=SECRET)
    for path in ("/ping", "/v2/ping"):
        response = get(base + path)
        assert response.status_code == 204
        assert (response.headers["Portainer-Agent"], response.headers["Portainer-Agent-API-Version"],
                response.headers["Portainer-Agent-Platform"]) == ("2.23.0", "2", "1")


def test_unsigned_and_badly_signed_requests_are_403(launch: Callable[..., str]) -> None:
    """Unsigned: 403 'Missing request signature headers'; signed with the wrong secret: 'Invalid request signature'."""
    base = launch(AGENT_SECRET=SECRET)
    unsigned = get(f"{base}/info")
    assert unsigned.status_code == 403
    assert unsigned.json() == {"message": "Missing request signature headers", "details": "Unauthorized"}
    assert unsigned.headers["Portainer-Agent"] == "2.23.0"
    wrong = get(f"{base}/info", headers=Signer("Portainer-App").headers())
    assert (wrong.status_code, wrong.json()["message"]) == (403, "Invalid request signature")


def test_signed_request_is_proxied_to_docker_without_version_prefix(launch: Callable[..., str],
                                                                    docker: FakeDocker) -> None:
    """A request signed over MD5(AGENT_SECRET) reaches the Docker socket, /vX.Y prefix stripped."""
    base = launch(AGENT_SECRET=SECRET)
    response = get(f"{base}/v1.41/containers/json?all=1", headers=Signer(SECRET).headers())
    assert response.status_code == 200
    assert [c["Id"] for c in response.json()] == ["a", "b", "c"]
    assert docker.seen[-1] == "/containers/json?all=1"
    assert response.headers["Portainer-Agent-Platform"] == "1"


def test_without_secret_the_first_key_is_pinned(launch: Callable[..., str]) -> None:
    """Trust on first use: the first Portainer key is kept; another instance's key gets 'Invalid request signature'."""
    base = launch()
    first, second = Signer("Portainer-App"), Signer("Portainer-App")
    assert get(f"{base}/info", headers=first.headers()).status_code == 200
    refused = get(f"{base}/info", headers=second.headers())
    assert (refused.status_code, refused.json()["message"]) == (403, "Invalid request signature")
    assert get(f"{base}/info", headers=first.headers()).status_code == 200


def test_tls_only_with_localhost_and_advertise_ip_in_san(launch: Callable[..., str]) -> None:
    """The port speaks TLS only (>= 1.2) and the self-signed certificate names localhost and the advertise IP."""
    base = launch(AGENT_SECRET=SECRET)
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/ping", timeout=3)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, insecure().wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert der is not None
    san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_edge_mode_listens_nowhere_and_keeps_polling_through_errors(tmp_path: Path) -> None:
    """EDGE=1 opens no API port; a Portainer that refuses connections is logged and polled again."""
    port, dead = free_port(), free_port()
    key = base64.b64encode(f"https://127.0.0.1:{dead}|127.0.0.1:8000|fp|7".encode()).rstrip(b"=").decode()
    env = {"EDGE": "1", "EDGE_ID": "edge-test", "EDGE_KEY": key, "EDGE_INSECURE_POLL": "1", "EDGE_POLL_INTERVAL": "0.2",
           "AGENT_HOST": "127.0.0.1", "AGENT_PORT": str(port)}
    log = tmp_path / "edge.log"
    process = start_agent(env, log)
    try:
        wait_until("two failed polls logged", lambda: log.read_text().count("edge check-in failed") >= 2, 15)
        assert process.poll() is None
        assert f"127.0.0.1:{dead}/api/endpoints/7/edge/status" in log.read_text()
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
    finally:
        stop(process)
