"""The Nginx Proxy Manager stand-in (lab/standins/npm): admin API shapes, and the real nginx it drives."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standin_helpers import free_port, wait_until

from homelab.model.paths import REPO

SERVER = REPO / "lab" / "standins" / "npm" / "standin.py"
HOST = "127.0.0.1"
TIMEOUT = 5.0
SITE = "ollama.home.lan"
needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None,
                                 reason="nginx is not installed (apt-get install -y nginx-light)")


@dataclass
class Npm:
    """One stand-in process on 127.0.0.1: API, HTTP and HTTPS on free high ports, its own data directory."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Npm:
        self.ports = self.ports or {name: free_port() for name in ("admin", "http", "https")}
        env = os.environ | self.env | {"STANDIN_BIND": HOST, "STANDIN_DATA_DIR": str(self.data_dir)} | {
            f"STANDIN_{name.upper()}_PORT": str(port) for name, port in self.ports.items()}
        self.process = subprocess.Popen([sys.executable, str(SERVER)], env=env)
        wait_until(f"the NPM stand-in answering on {self.url('/api/')}", self._up)
        return self

    def _up(self) -> bool:
        try:
            return httpx.get(self.url("/api/"), timeout=0.5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.ports['admin']}{path}"

    def login(self, identity: str = "admin@example.com", secret: str = "changeme") -> dict[str, str]:  # noqa: S107
        response = httpx.post(self.url("/api/tokens"), json={"identity": identity, "secret": secret}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    def call(self, method: str, path: str, auth: dict[str, str], **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url(path), headers=auth, timeout=TIMEOUT, **kwargs)


@dataclass
class Pki:
    """A test CA and a leaf for SITE signed by it, as PEM files."""

    directory: Path

    def __post_init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lab"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "Lab Test CA")])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
              .not_valid_after(now + dt.timedelta(days=30))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(ca_key, hashes.SHA256()))
        self.leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SITE)]))
                     .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=10))
                     .add_extension(x509.SubjectAlternativeName([x509.DNSName(SITE)]), critical=False)
                     .sign(ca_key, hashes.SHA256()))
        self.ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        self.leaf_pem = self.leaf.public_bytes(serialization.Encoding.PEM)
        self.key_pem = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(self.ca_pem)


class _Backend(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"backend saw Host={self.headers['Host']} proto={self.headers['X-Forwarded-Proto']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def npm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Npm]:
    server = Npm(tmp_path_factory.mktemp("npm")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth(npm: Npm) -> dict[str, str]:
    return npm.login()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def backend() -> Iterator[int]:
    server = ThreadingHTTPServer((HOST, 0), _Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()


def upload(npm: Npm, auth: dict[str, str], pki: Pki) -> dict[str, Any]:
    cert = npm.call("POST", "/api/nginx/certificates", auth, json={"provider": "other", "nice_name": "lab"}).json()
    files = {"certificate": ("cert.pem", pki.leaf_pem), "certificate_key": ("key.pem", pki.key_pem)}
    response = npm.call("POST", f"/api/nginx/certificates/{cert['id']}/upload", auth, files=files)
    assert response.status_code == 200, response.text
    return dict(npm.call("GET", f"/api/nginx/certificates/{cert['id']}", auth).json())


def host_body(**overrides: Any) -> dict[str, Any]:
    return {"domain_names": ["app.home.lan"], "forward_scheme": "http", "forward_host": HOST,
            "forward_port": 8080} | overrides


def test_health_has_the_212_shape(npm: Npm) -> None:
    """GET /api/ needs no token and answers status OK with the 2.12.6 version (no `setup` before 2.13)."""
    body = httpx.get(npm.url("/api/"), timeout=TIMEOUT).json()
    assert body == {"status": "OK", "version": {"major": 2, "minor": 12, "revision": 6}}


@pytest.mark.parametrize("identity", ["admin@example.com", "nobody@example.com"], ids=["wrong-password", "no-user"])
def test_bad_credentials_are_401_with_error_envelope(npm: Npm, identity: str) -> None:
    """A wrong password or an unknown email answers 401 with NPM's `{"error": {code, message}}`: 2.12.6's
    backend/internal/token.js throws error.AuthError, whose status is 401 (backend/lib/error.js)."""
    body = {"identity": identity, "secret": "wrong-secret"}
    response = httpx.post(npm.url("/api/tokens"), json=body, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": "Invalid email or password"}}


def test_project_client_reports_bad_credentials_as_auth_error(npm: Npm) -> None:
    """homelab.clients.npm turns the 401 into NpmAuthError carrying NPM's message."""
    from homelab.clients.npm import Npm as Client
    from homelab.clients.npm import NpmAuthError

    with Client(npm.url("")) as client, pytest.raises(NpmAuthError, match="HTTP 401: Invalid email or password"):
        client.login("admin@example.com", "wrong-secret")


def test_flags_need_a_certificate_and_ssl_forced(npm: Npm, auth: dict[str, str]) -> None:
    """As 2.12.6's cleanSslHstsData (backend/internal/host.js): without a certificate ssl_forced and
    http2_support are stored false; without ssl_forced hsts_enabled is; without hsts_enabled hsts_subdomains is,
    on create and on update (the stored row and the body together)."""
    flags = {"ssl_forced": True, "http2_support": True, "hsts_enabled": True, "hsts_subdomains": True}
    created = npm.call("POST", "/api/nginx/proxy-hosts", auth,
                       json=host_body(domain_names=["flags.home.lan"], **flags)).json()
    assert {k: created[k] for k in flags} == dict.fromkeys(flags, False)
    path = f"/api/nginx/proxy-hosts/{created['id']}"
    updated = npm.call("PUT", path, auth, json=flags).json()
    assert {k: updated[k] for k in flags} == dict.fromkeys(flags, False)
    assert {k: npm.call("GET", path, auth).json()[k] for k in flags} == dict.fromkeys(flags, False)
    npm.call("DELETE", path, auth)


def test_hsts_needs_ssl_forced_even_with_a_certificate(npm: Npm, auth: dict[str, str], pki: Pki) -> None:
    """With a certificate, ssl_forced and http2_support stay; hsts_enabled without ssl_forced does not, and
    turning ssl_forced off later clears HSTS too."""
    cert = upload(npm, auth, pki)
    body = host_body(domain_names=["hsts.home.lan"], certificate_id=cert["id"], ssl_forced=False,
                     http2_support=True, hsts_enabled=True, hsts_subdomains=True)
    created = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=body).json()
    assert (created["http2_support"], created["hsts_enabled"], created["hsts_subdomains"]) == (True, False, False)
    path = f"/api/nginx/proxy-hosts/{created['id']}"
    on = npm.call("PUT", path, auth, json={"ssl_forced": True, "hsts_enabled": True, "hsts_subdomains": True}).json()
    assert (on["ssl_forced"], on["hsts_enabled"], on["hsts_subdomains"]) == (True, True, True)
    off = npm.call("PUT", path, auth, json={"ssl_forced": False}).json()
    assert (off["ssl_forced"], off["hsts_enabled"], off["hsts_subdomains"]) == (False, False, False)
    npm.call("DELETE", path, auth)


def test_token_is_a_jwt_with_expiry_and_refreshes(npm: Npm, auth: dict[str, str]) -> None:
    """POST /api/tokens gives an RS256 JWT and its expiry; GET /api/tokens with it gives a fresh one."""
    refreshed = npm.call("GET", "/api/tokens", auth).json()
    assert refreshed["token"].startswith("eyJhbGciOiJSUzI1NiIs")
    assert refreshed["expires"].endswith("Z")


def test_protected_route_without_token_is_403(npm: Npm) -> None:
    """Without a token, proxy hosts answer 403 Permission Denied."""
    response = httpx.get(npm.url("/api/nginx/proxy-hosts"), timeout=TIMEOUT)
    assert (response.status_code, response.json()["error"]["message"]) == (403, "Permission Denied")


def test_create_proxy_host_is_201_with_npm_fields(npm: Npm, auth: dict[str, str]) -> None:
    """Creating a proxy host answers 201 with the row, owner expanded, certificate null."""
    response = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(domain_names=["shape.home.lan"]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["owner"]["email"] == "admin@example.com"
    assert {"id", "created_on", "enabled", "ssl_forced", "certificate_id", "meta", "locations"} <= set(body)
    assert body["certificate"] is None


@pytest.mark.parametrize("extra", [{"bogus": 1}, {"trust_forwarded_proto": True}], ids=["unknown", "2.14-only"])
def test_unknown_keys_are_rejected(npm: Npm, auth: dict[str, str], extra: dict[str, Any]) -> None:
    """additionalProperties is false: an unknown key (or one 2.12 does not know) is a 400."""
    response = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(domain_names=["x.home.lan"]) | extra)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "data should NOT have additional properties"


def test_missing_required_field_is_400(npm: Npm, auth: dict[str, str]) -> None:
    """A proxy host without forward_host is rejected."""
    body = host_body(domain_names=["y.home.lan"])
    del body["forward_host"]
    response = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=body)
    assert response.json()["error"]["message"] == "data should have required property 'forward_host'"


def test_duplicate_domain_is_400_in_use(npm: Npm, auth: dict[str, str]) -> None:
    """A domain another proxy host has is refused with `<host> is already in use`."""
    npm.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(domain_names=["dup.home.lan"]))
    response = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(domain_names=["DUP.home.lan"]))
    assert (response.status_code, response.json()["error"]["message"]) == (400, "dup.home.lan is already in use")


def test_update_and_delete_proxy_host(npm: Npm, auth: dict[str, str]) -> None:
    """PUT changes a host; DELETE answers `true`; the host is then 404."""
    created = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(domain_names=["del.home.lan"])).json()
    path = f"/api/nginx/proxy-hosts/{created['id']}"
    assert npm.call("PUT", path, auth, json={"forward_port": 9090}).json()["forward_port"] == 9090
    assert npm.call("DELETE", path, auth).json() is True
    assert npm.call("GET", path, auth).status_code == 404


def test_letsencrypt_is_refused_with_reason(npm: Npm, auth: dict[str, str]) -> None:
    """Let's Encrypt cannot be reached from the lab: 400 saying so."""
    response = npm.call("POST", "/api/nginx/certificates", auth,
                        json={"provider": "letsencrypt", "domain_names": [SITE], "meta": {"dns_challenge": False}})
    assert response.status_code == 400
    assert "Let's Encrypt cannot be reached" in response.json()["error"]["message"]


def test_uploaded_certificate_sets_expiry_and_domains(npm: Npm, auth: dict[str, str], pki: Pki) -> None:
    """Uploading a custom certificate fills expires_on and domain_names from the certificate."""
    cert = upload(npm, auth, pki)
    assert cert["domain_names"] == [SITE]
    assert cert["nice_name"] == "lab"
    assert cert["expires_on"] == pki.leaf.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S")


def test_upload_without_key_is_400(npm: Npm, auth: dict[str, str], pki: Pki) -> None:
    """An upload with no certificate_key part is rejected."""
    cert = npm.call("POST", "/api/nginx/certificates", auth, json={"provider": "other", "nice_name": "k"}).json()
    files = {"certificate": ("cert.pem", pki.leaf_pem)}
    response = npm.call("POST", f"/api/nginx/certificates/{cert['id']}/upload", auth, files=files)
    assert response.status_code == 400


def test_state_and_tokens_survive_restart(tmp_path: Path) -> None:
    """INITIAL_ADMIN_* replace the default user; hosts and issued tokens persist across a restart."""
    server = Npm(tmp_path / "data", {"INITIAL_ADMIN_EMAIL": "me@home.lan", "INITIAL_ADMIN_PASSWORD": "s3cret-pass"})
    server.start()
    try:
        refused = httpx.post(server.url("/api/tokens"), json={"identity": "admin@example.com", "secret": "changeme"},
                             timeout=TIMEOUT)
        assert refused.status_code == 401
        auth = server.login("me@home.lan", "s3cret-pass")
        server.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(domain_names=["keep.home.lan"]))
        server.stop()
        server.start()
        hosts = server.call("GET", "/api/nginx/proxy-hosts", auth).json()
        assert [h["domain_names"] for h in hosts] == [["keep.home.lan"]]
    finally:
        server.stop()


def tls_get(port: int, name: str, ca_file: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(ca_file))
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as raw, \
            context.wrap_socket(raw, server_hostname=name) as tls:
        tls.sendall(f"GET /hello HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def tls_site(npm: Npm, auth: dict[str, str], pki: Pki, backend: int) -> Npm:
    """SITE proxied to the backend with the lab-CA certificate and ssl_forced, once nginx serves it."""
    cert = upload(npm, auth, pki)
    body = host_body(domain_names=[SITE], forward_port=backend, certificate_id=cert["id"], ssl_forced=True)
    created = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=body).json()
    assert created["meta"]["nginx_online"] is True, created["meta"]

    def serving() -> bool:
        """nginx reloads asynchronously: old workers may answer for a moment, so ask three times in a row."""
        try:
            for _ in range(3):
                redirect = httpx.get(f"http://{HOST}:{npm.ports['http']}/", headers={"Host": SITE}, timeout=TIMEOUT)
                if redirect.status_code != 301 or b"200 OK" not in tls_get(npm.ports["https"], SITE, pki.ca_file):
                    return False
        except (OSError, httpx.TransportError):
            return False
        return True

    wait_until(f"nginx serving {SITE} over HTTP and TLS", serving)
    return npm


@needs_nginx
def test_tls_chains_to_the_ca_and_proxies(tls_site: Npm, pki: Pki) -> None:
    """nginx presents the uploaded certificate for the SNI name, verified against the test CA, and proxies."""
    reply = tls_get(tls_site.ports["https"], SITE, pki.ca_file)
    assert reply.startswith(b"HTTP/1.1 200")
    assert f"backend saw Host={SITE} proto=https".encode() in reply


@needs_nginx
def test_http_redirects_to_https(tls_site: Npm) -> None:
    """With ssl_forced, plain HTTP answers 301 to the https URL."""
    response = httpx.get(f"http://{HOST}:{tls_site.ports['http']}/a?b=1", headers={"Host": SITE}, timeout=TIMEOUT)
    assert (response.status_code, response.headers["location"]) == (301, f"https://{SITE}/a?b=1")


@needs_nginx
def test_unknown_name_gets_404(tls_site: Npm) -> None:
    """The default server answers 404 for a name no proxy host has."""
    response = httpx.get(f"http://{HOST}:{tls_site.ports['http']}/", headers={"Host": "nope.lan"}, timeout=TIMEOUT)
    assert response.status_code == 404


@needs_nginx
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_1_1_is_refused(tls_site: Npm) -> None:
    """A client that offers at most TLS 1.1 gets no handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        context.minimum_version, context.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"the local OpenSSL cannot be set to offer TLS 1.1: {exc}")
    with socket.create_connection((HOST, tls_site.ports["https"]), timeout=TIMEOUT) as raw, \
            pytest.raises(ssl.SSLError) as refused:
        context.wrap_socket(raw, server_hostname=SITE)
    if "NO_PROTOCOLS_AVAILABLE" in str(refused.value):
        pytest.skip("the local OpenSSL refuses to offer TLS 1.1 at all, so the server's refusal cannot be seen")
    assert "PROTOCOL_VERSION" in str(refused.value) or "UNSUPPORTED_PROTOCOL" in str(refused.value), refused.value


# --- access lists: NPM 2.12.6's _access.conf in the rendered nginx, enforced by the real nginx ---------------
ALLOW_ONLY_ELSEWHERE = "198.18.99.0/24"  # no loopback source is in it
OTHER_SOURCE = "127.0.0.2"  # all of 127/8 is on lo, so a client may bind it as its source


def acl_body(name: str, *allow: str, **overrides: Any) -> dict[str, Any]:
    return {"name": name, "satisfy_any": False, "pass_auth": False, "items": [],
            "clients": [{"address": a, "directive": "allow"} for a in allow]} | overrides


def host_conf_text(npm: Npm, host_id: int) -> str:
    return (npm.data_dir / "nginx" / "proxy_host" / f"{host_id}.conf").read_text()


def status_from(npm: Npm, site: str, source: str = HOST, **kwargs: Any) -> tuple[int, str]:
    """GET / for `site` through nginx, the connection made from `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
        reply = client.get(f"http://{HOST}:{npm.ports['http']}/", headers={"Host": site}, **kwargs)
    return reply.status_code, reply.text


def settles(npm: Npm, site: str, status: int, source: str = HOST, **kwargs: Any) -> str:
    """Wait until nginx answers `status` three times in a row (a reload lets old workers answer for a moment)."""
    seen: list[tuple[int, str]] = []

    def steady() -> bool:
        seen[:] = [status_from(npm, site, source, **kwargs) for _ in range(3)]
        return all(code == status for code, _ in seen)

    wait_until(f"nginx answering {status} for {site} from {source} (last: {[c for c, _ in seen]})", steady)
    return seen[-1][1]


@pytest.fixture(scope="module")
def other_source() -> str | None:
    """127.0.0.2 as a client's source address, where the system lets a socket bind it."""
    try:
        with socket.socket() as sock:
            sock.bind((OTHER_SOURCE, 0))
    except OSError:
        return None
    return OTHER_SOURCE


@needs_nginx
def test_access_list_is_enforced_and_follows_changes(npm: Npm, auth: dict[str, str], backend: int,
                                                     other_source: str | None) -> None:
    """Allow 127.0.0.1 only: it reaches the upstream, 127.0.0.2 gets nginx's 403; allow only 198.18.99.0/24: 403
    for 127.0.0.1 too (the list's hosts are re-rendered); access_list_id 0: everyone reaches it again."""
    site = "acl.home.lan"
    acl = npm.call("POST", "/api/nginx/access-lists", auth, json=acl_body("loopback", HOST)).json()
    host = npm.call("POST", "/api/nginx/proxy-hosts", auth,
                    json=host_body(domain_names=[site], forward_port=backend, access_list_id=acl["id"])).json()
    assert host["meta"]["nginx_online"] is True, host["meta"]
    text = host_conf_text(npm, host["id"])
    assert "# Access Rules: 1 total" in text
    assert "allow 127.0.0.1;" in text
    assert "deny all;" in text
    assert "satisfy all;" in text
    assert "auth_basic" not in text  # no users on the list
    assert f"backend saw Host={site}" in settles(npm, site, 200)
    if other_source is not None:
        assert "403 Forbidden" in settles(npm, site, 403, other_source)

    changed = npm.call("PUT", f"/api/nginx/access-lists/{acl['id']}", auth,
                       json=acl_body("loopback", ALLOW_ONLY_ELSEWHERE))
    assert changed.status_code == 200, changed.text
    assert changed.json()["proxy_host_count"] == 1
    text = host_conf_text(npm, host["id"])
    assert f"allow {ALLOW_ONLY_ELSEWHERE};" in text
    assert "allow 127.0.0.1;" not in text
    assert "403 Forbidden" in settles(npm, site, 403)

    detached = npm.call("PUT", f"/api/nginx/proxy-hosts/{host['id']}", auth, json={"access_list_id": 0}).json()
    assert detached["access_list_id"] == 0
    assert "deny all;" not in host_conf_text(npm, host["id"])
    settles(npm, site, 200)
    if other_source is not None:
        settles(npm, site, 200, other_source)


@needs_nginx
def test_deleting_a_list_in_use_detaches_its_hosts(npm: Npm, auth: dict[str, str], backend: int) -> None:
    """As NPM's access-list.js delete: the hosts get access_list_id 0 and are re-rendered without the rules; the
    htpasswd file goes; the list is then 404."""
    site = "acl-deleted.home.lan"
    acl = npm.call("POST", "/api/nginx/access-lists", auth,
                   json=acl_body("doomed", ALLOW_ONLY_ELSEWHERE, items=[{"username": "u", "password": "p"}])).json()
    assert (npm.data_dir / "access" / str(acl["id"])).exists()
    host = npm.call("POST", "/api/nginx/proxy-hosts", auth,
                    json=host_body(domain_names=[site], forward_port=backend, access_list_id=acl["id"])).json()
    settles(npm, site, 403)  # satisfy all: the address rule refuses before the password is asked
    assert npm.call("DELETE", f"/api/nginx/access-lists/{acl['id']}", auth).json() is True
    assert npm.call("GET", f"/api/nginx/proxy-hosts/{host['id']}", auth).json()["access_list_id"] == 0
    assert "deny all;" not in host_conf_text(npm, host["id"])
    assert not (npm.data_dir / "access" / str(acl["id"])).exists()
    assert npm.call("GET", f"/api/nginx/access-lists/{acl['id']}", auth).status_code == 404
    settles(npm, site, 200)


@needs_nginx
def test_basic_auth_users_with_satisfy_any(npm: Npm, auth: dict[str, str], backend: int) -> None:
    """Items become an `$apr1$` htpasswd file (as `openssl passwd -apr1`) that Debian's nginx checks; with
    satisfy any, a client outside the allowed addresses gets in with the right credentials only."""
    site = "acl-users.home.lan"
    users = [{"username": "bob", "password": "hunter22"}]
    body = acl_body("users", ALLOW_ONLY_ELSEWHERE, satisfy_any=True, items=users)
    acl = npm.call("POST", "/api/nginx/access-lists", auth, json=body).json()
    line = (npm.data_dir / "access" / str(acl["id"])).read_text().strip()
    user, hashed = line.split(":", 1)
    assert user == "bob"
    assert hashed.startswith("$apr1$")
    if shutil.which("openssl"):
        salt = hashed.split("$")[2]
        again = subprocess.run(["openssl", "passwd", "-apr1", "-salt", salt, "hunter22"], capture_output=True,
                               text=True, check=True).stdout.strip()
        assert again == hashed
    host = npm.call("POST", "/api/nginx/proxy-hosts", auth,
                    json=host_body(domain_names=[site], forward_port=backend, access_list_id=acl["id"])).json()
    text = host_conf_text(npm, host["id"])
    assert 'auth_basic "Authorization required";' in text
    assert f"auth_basic_user_file {npm.data_dir / 'access' / str(acl['id'])};" in text
    assert "satisfy any;" in text
    assert 'proxy_set_header Authorization "";' not in text  # pass_auth false: 2.12.6 keeps the header (below)
    settles(npm, site, 401)
    settles(npm, site, 401, auth=("bob", "wrong"))
    assert f"backend saw Host={site}" in settles(npm, site, 200, auth=("bob", "hunter22"))


def test_pass_auth_renders_as_npm_2_12_6(npm: Npm, auth: dict[str, str]) -> None:
    """NPM 2.12.2-2.13.2 compare the boolean pass_auth with `== 0 or == true` (liquidjs `==` is strict): the
    Authorization header is cleared when pass_auth is *true* (fixed in 2.13.3)."""
    body = acl_body("pass", HOST, pass_auth=True, items=[{"username": "amy", "password": "x"}])
    acl = npm.call("POST", "/api/nginx/access-lists", auth, json=body).json()
    host = npm.call("POST", "/api/nginx/proxy-hosts", auth,
                    json=host_body(domain_names=["acl-pass.home.lan"], access_list_id=acl["id"])).json()
    assert 'proxy_set_header Authorization "";' in host_conf_text(npm, host["id"])


def test_access_list_is_rendered_into_custom_locations(npm: Npm, auth: dict[str, str]) -> None:
    """NPM's _location.conf includes _access.conf too: a custom location is guarded as `location /` is."""
    acl = npm.call("POST", "/api/nginx/access-lists", auth, json=acl_body("locations", "10.8.0.0/24")).json()
    location = {"path": "/api", "forward_scheme": "http", "forward_host": HOST, "forward_port": 9}
    host = npm.call("POST", "/api/nginx/proxy-hosts", auth, json=host_body(
        domain_names=["acl-locations.home.lan"], access_list_id=acl["id"], locations=[location])).json()
    text = host_conf_text(npm, host["id"])
    assert text.count("allow 10.8.0.0/24;") == 2
    assert text.count("deny all;") == 2


def test_access_list_api_shapes(npm: Npm, auth: dict[str, str]) -> None:
    """201 with owner, items, clients and proxy_hosts; passwords never come back (empty, with NPM's hint);
    `?expand=` on GET; an empty password on PUT keeps that user; without `name` a PUT leaves satisfy_any."""
    body = acl_body("shapes", "192.168.1.0/24", items=[{"username": "eve", "password": "secret1"}])
    created = npm.call("POST", "/api/nginx/access-lists", auth, json=body)
    assert created.status_code == 201, created.text
    acl = created.json()
    assert {"owner", "items", "clients", "proxy_hosts", "proxy_host_count", "satisfy_any", "pass_auth"} <= set(acl)
    assert [(i["username"], i["password"], i["hint"]) for i in acl["items"]] == [("eve", "", "s******")]
    assert [(c["directive"], c["address"]) for c in acl["clients"]] == [("allow", "192.168.1.0/24")]
    assert "secret1" not in created.text
    plain = npm.call("GET", f"/api/nginx/access-lists/{acl['id']}", auth).json()
    assert "items" not in plain
    assert "clients" not in plain
    listed = npm.call("GET", "/api/nginx/access-lists?expand=owner,items,clients,proxy_hosts", auth).json()
    shown = next(a for a in listed if a["id"] == acl["id"])
    assert shown["owner"]["email"] == "admin@example.com"
    assert shown["proxy_hosts"] == []
    assert [a["name"] for a in listed] == sorted(a["name"] for a in listed)

    user_file = npm.data_dir / "access" / str(acl["id"])
    before = user_file.read_text()
    path = f"/api/nginx/access-lists/{acl['id']}"
    kept = npm.call("PUT", path, auth, json={"name": "shapes", "items": [{"username": "eve", "password": ""}]}).json()
    assert [i["hint"] for i in kept["items"]] == ["s******"]
    assert user_file.read_text() == before
    ignored = npm.call("PUT", path, auth, json={"satisfy_any": True}).json()
    assert ignored["satisfy_any"] is False  # NPM patches name, satisfy_any and pass_auth only with a name
    assert npm.call("PUT", path, auth, json={"name": "shapes", "satisfy_any": True}).json()["satisfy_any"] is True
    renamed = npm.call("PUT", path, auth, json={"name": "shapes2", "pass_auth": True}).json()
    assert (renamed["name"], renamed["satisfy_any"], renamed["pass_auth"]) == ("shapes2", True, True)  # kept


@pytest.mark.parametrize(("body", "message"), [
    ({"name": "x", "bogus": 1}, "data should NOT have additional properties"),
    ({"name": "x", "clients": [{"address": "10.0.0.1", "directive": "permit"}]},
     "data.clients[0].directive should be equal to one of the allowed values"),
    ({"name": "x", "clients": [{"address": "not-an-ip", "directive": "allow"}]},
     "data.clients[0].address should match exactly one schema in oneOf"),
    ({"name": "x", "clients": [{"address": "10.0.0.1", "directive": "allow", "id": 3}]},
     "data.clients[0] should NOT have additional properties"),
    ({"satisfy_any": True}, "data should have required property 'name'"),
], ids=["unknown-key", "bad-directive", "bad-address", "client-extra-key", "no-name"])
def test_access_list_validation(npm: Npm, auth: dict[str, str], body: dict[str, Any], message: str) -> None:
    """additionalProperties false at every level, directive allow|deny, address IPv4/IPv6/`all`."""
    response = npm.call("POST", "/api/nginx/access-lists", auth, json=body)
    assert (response.status_code, response.json()["error"]["message"]) == (400, message)
