"""homelab.clients.connect: each service's client at the address the inventory gives, logged in with its secrets.

URLs from the shipped and the lab's inventory (the ones bootstrap, the specs and the lab's faults used to build
each in their own way), and from an edited one (no port is assumed); a missing secret is one line, raised before
anything is sent; a refused login is the client's own error, without the password, and the client is closed; the
default timeout is the inventory's. The services are local stand-ins of a few lines (HTTP, and HTTPS with a
self-signed certificate for Portainer's pin); no lab needed.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest
from cryptography import x509
from selfsigned import self_signed
from spec_project import lab_inventory_in

from homelab.clients import connect
from homelab.clients.grafana import Grafana, GrafanaAuthError
from homelab.clients.npm import Npm, NpmAuthError
from homelab.clients.pinned_tls import fingerprint_of
from homelab.clients.portainer import FINGERPRINT_VAR, TOKEN_VAR, FingerprintMismatch
from homelab.clients.technitium import Technitium, TechnitiumAuthError
from homelab.model.inventory import Inventory, Upstream
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.secrets import SecretError, Secrets

ROOT = REPO
PASSWORD = "the-right-password-1"
WRONG = "a-wrong-password-2"
TOKEN = "ptr_selftest-token-3"
EMAIL = "selftest-admin@connect.test"
LOGINS = {"NPM_ADMIN_EMAIL": EMAIL, "NPM_ADMIN_PASSWORD": PASSWORD,
          "TECHNITIUM_ADMIN_PASSWORD": PASSWORD, "GRAFANA_ADMIN_PASSWORD": PASSWORD, "UPTIME_KUMA_PASSWORD": PASSWORD}


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def secrets_of(inventory: Inventory, **values: str) -> Secrets:
    """The inventory's secrets with `values` only (no env file)."""
    return Secrets(inventory.secrets, Path("/nonexistent/.env"), environ=values)


def pointed_at(inventory: Inventory, port: int, *services: str, address: str = "127.0.0.1") -> Inventory:
    """`inventory` with `services` on its platform host at `address`, their API on `port` (a local stand-in)."""
    platform = replace(inventory.platform_host, address=IPv4Address(address))
    moved = {}
    for name in services:
        service = inventory.services[name]
        moved[name] = replace(service, upstream=Upstream(port, service.upstream.scheme if service.upstream else "http"))
    return replace(inventory, hosts={**inventory.hosts, platform.name: platform},
                   services={**inventory.services, **moved})


# --- where ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["example", "lab"])
def test_urls_are_the_inventorys(which: str, example: Inventory, tmp_path: Path) -> None:
    """Every service's API at its host's address and its upstream port, with its scheme: for the lab (the inventory
    `lab up` writes), exactly the URLs its faults built by hand before (platform:5380, :81, Portainer's https 9443)."""
    inventory = example if which == "example" else lab_inventory_in(tmp_path)
    platform = inventory.platform_host.address
    names = ["grafana", "npm", "technitium", "uptime-kuma", "prometheus", "portainer"]
    assert {name: connect.url(inventory, name) for name in names} == {
        "grafana": f"http://{platform}:3000", "npm": f"http://{platform}:81", "technitium": f"http://{platform}:5380",
        "uptime-kuma": f"http://{platform}:3001", "prometheus": f"http://{platform}:9090",
        "portainer": f"https://{platform}:9443"}
    assert connect.address(inventory, "portainer") == (str(platform), 9443)


def test_urls_follow_the_inventory(example: Inventory) -> None:
    """Another address and port in the inventory are the ones asked: nothing is assumed."""
    moved = pointed_at(example, 8181, "npm", "portainer", address="192.0.2.7")
    assert connect.url(moved, "npm") == "http://192.0.2.7:8181"
    assert connect.url(moved, "portainer") == "https://192.0.2.7:8181"
    with connect.npm(moved, None) as npm:
        assert npm.base_url == "http://192.0.2.7:8181"
    unraid = example.hosts["unraid"]
    assert connect.url(example, "node-exporter", unraid) == f"http://{unraid.address}:9100"  # its only TCP port


def test_what_the_inventory_does_not_say_is_one_line(example: Inventory) -> None:
    """No such service, a host that does not run it, no API port: NotInInventory naming the inventory's key."""
    without = replace(example, services={k: v for k, v in example.services.items() if k != "grafana"})
    no_upstream = replace(example, services={**example.services, "npm": replace(example.services["npm"],
                                                                                 upstream=None)})
    cases = [(lambda: connect.grafana(without, None), "services.grafana: not in the inventory; "
              "expected an entry with its stack and `upstream: {port: N}`, the port of its API"),
             (lambda: connect.url(example, "grafana", example.hosts["unraid"]),
              "services.grafana: host unraid does not run it; expected a host that lists its stack monitoring"),
             (lambda: connect.npm(no_upstream, None), "services.npm: names no `upstream` and has 3 TCP ports; "
              "expected `upstream: {port: N}`, the port of its API")]
    for call, message in cases:
        with pytest.raises(connect.NotInInventory) as caught:
            call()
        assert str(caught.value) == f"{example.path}: {message}"


def test_default_timeout_is_the_inventorys(example: Inventory) -> None:
    """Each call bounded by connect_timeout x 3 unless the caller says otherwise."""
    slow = replace(example, settings=replace(example.settings, connect_timeout=4.0))
    clients = [connect.grafana(slow, None), connect.prometheus(slow), connect.npm(slow, None),
               connect.technitium(slow, None), connect.pinned_portainer(slow, "AB:CD")]
    try:
        assert [c._http.timeout.read for c in clients] == [12.0] * 5
        with connect.prometheus(slow, timeout=2.5) as prometheus:
            assert prometheus._http.timeout.read == 2.5
    finally:
        for client in clients:
            client.close()


# --- secrets and logins -----------------------------------------------------------------------------------------
class _Service(BaseHTTPRequestHandler):
    """NPM's /api/tokens, Technitium's /api/user/login and Grafana's /api/datasources: PASSWORD logs in."""

    seen: ClassVar[list[str]] = []

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.seen.append(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.path == "/api/tokens":
            if json.loads(body).get("secret") == PASSWORD:
                return self._answer(200, {"token": "npm-token", "expires": "tomorrow"})
            return self._answer(400, {"error": {"code": 400, "message": "Invalid email or password"}})
        if self.path == "/api/user/login":
            if parse_qs(body).get("pass") == [PASSWORD]:
                return self._answer(200, {"status": "ok", "token": "tdns-token"})
            return self._answer(200, {"status": "error", "errorMessage": "Invalid username or password."})
        return self._answer(404, {})

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.headers.get("Authorization") == "Bearer npm-token" and self.path == "/api/nginx/proxy-hosts":
            return self._answer(200, [])
        if self.path == "/api/datasources":
            basic = base64.b64decode(self.headers.get("Authorization", "Basic ").removeprefix("Basic ")).decode()
            if basic == f"admin:{PASSWORD}":
                return self._answer(200, [])
            return self._answer(401, {"message": "invalid username or password"})
        return self._answer(404, {})

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def services(example: Inventory) -> Iterator[Inventory]:
    """The example inventory with NPM, Technitium and Grafana at one local stand-in."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield pointed_at(example, httpd.server_address[1], "npm", "technitium", "grafana")
    httpd.shutdown()
    httpd.server_close()


def test_logged_in_with_the_inventorys_secrets(services: Inventory) -> None:
    """NPM and Technitium log in at once (their token used next), Grafana sends the admin's Basic credentials."""
    secrets = secrets_of(services, **LOGINS)
    with connect.npm(services, secrets) as npm:
        assert npm.token == "npm-token"
        assert npm.proxy_hosts() == []
    with connect.technitium(services, secrets) as technitium:
        assert (technitium.token, technitium.user) == ("tdns-token", "admin")
    with connect.grafana(services, secrets) as grafana:
        assert grafana.datasources() == []


@pytest.mark.parametrize(("make", "missing"), [
    (lambda i, s: connect.npm(i, s), "NPM_ADMIN_EMAIL"),
    (lambda i, s: connect.technitium(i, s), "TECHNITIUM_ADMIN_PASSWORD"),
    (lambda i, s: connect.grafana(i, s), "GRAFANA_ADMIN_PASSWORD"),
    (lambda i, s: connect.uptime_kuma(i, s), "UPTIME_KUMA_PASSWORD"),
    (lambda i, s: connect.portainer(i, s), TOKEN_VAR),
], ids=["npm", "technitium", "grafana", "uptime-kuma", "portainer"])
def test_a_missing_secret_is_one_line_before_anything_is_sent(services: Inventory, make, missing: str) -> None:
    """SecretError naming the secret and where to put it, one line, and no request made (Uptime Kuma's address
    in the example inventory answers nothing: had it been asked, this would be UptimeKumaUnreachable)."""
    _Service.seen = []
    with pytest.raises(SecretError) as caught:
        make(services, secrets_of(services))
    message = str(caught.value)
    assert message.startswith(f"secret {missing} is not set: add `{missing}=...` to /nonexistent/.env")
    assert "\n" not in message
    assert _Service.seen == []


def test_portainer_wants_its_pin_too(services: Inventory) -> None:
    with pytest.raises(SecretError, match=f"^secret {FINGERPRINT_VAR} is not set"):
        connect.portainer(services, secrets_of(services, **{TOKEN_VAR: TOKEN}))


@pytest.mark.parametrize(("kind", "make", "error", "message"), [
    (Npm, lambda i, s: connect.npm(i, s), NpmAuthError, "POST /api/tokens: HTTP 400: Invalid email or password"),
    (Technitium, lambda i, s: connect.technitium(i, s), TechnitiumAuthError,
     "/api/user/login: Invalid username or password."),
], ids=["npm", "technitium"])
def test_a_refused_login_is_the_clients_error_and_closes_it(services: Inventory, monkeypatch: pytest.MonkeyPatch,
                                                           kind: type, make, error: type, message: str) -> None:
    closed: list[object] = []
    close = kind.close
    monkeypatch.setattr(kind, "close", lambda self: (closed.append(self), close(self))[1])
    with pytest.raises(error) as caught:
        make(services, secrets_of(services, **{**LOGINS, "NPM_ADMIN_PASSWORD": WRONG,
                                               "TECHNITIUM_ADMIN_PASSWORD": WRONG}))
    assert message in str(caught.value)
    assert WRONG not in str(caught.value)
    assert len(closed) == 1


def test_grafana_refuses_at_its_first_call(services: Inventory) -> None:
    """Grafana takes HTTP Basic on every call: a wrong password is GrafanaAuthError when it is first asked."""
    with connect.grafana(services, secrets_of(services, GRAFANA_ADMIN_PASSWORD=WRONG)) as grafana:
        assert isinstance(grafana, Grafana)
        with pytest.raises(GrafanaAuthError, match="401, Grafana refuses the admin's user name or password") as caught:
            grafana.datasources()
    assert WRONG not in str(caught.value)


def test_without_secrets_no_login(services: Inventory) -> None:
    """`secrets=None`: a client not logged in (the public calls; bootstrap logs in itself, waiting)."""
    _Service.seen = []
    with connect.npm(services, None) as npm, connect.technitium(services, None) as technitium:
        assert (npm.token, technitium.token) == (None, None)
    assert _Service.seen == []
    assert connect.credentials("npm", secrets_of(services, **LOGINS)) == (EMAIL, PASSWORD)


# --- Portainer: pinned, token ----------------------------------------------------------------------------------
class _Portainer(BaseHTTPRequestHandler):
    keys: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        self.keys.append(self.headers.get("X-API-Key"))
        data = b'{"Id": 1, "Username": "admin"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def portainer(tmp_path: Path, example: Inventory) -> Iterator[tuple[Inventory, str]]:
    """(the example inventory with Portainer at a local HTTPS server, its certificate's fingerprint)."""
    cert, key = self_signed(tmp_path, "localhost", x509.DNSName("localhost"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Portainer)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    _Portainer.keys = []
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield (pointed_at(example, httpd.server_address[1], "portainer"),
           fingerprint_of(ssl.PEM_cert_to_DER_cert(cert.read_text(encoding="utf-8"))))
    httpd.shutdown()
    httpd.server_close()


def test_portainer_pinned_with_its_token(portainer: tuple[Inventory, str]) -> None:
    inventory, pin = portainer
    with connect.portainer(inventory, secrets_of(inventory, **{TOKEN_VAR: TOKEN, FINGERPRINT_VAR: pin})) as client:
        assert client.me()["Id"] == 1
    assert _Portainer.keys == [TOKEN]


def test_portainer_another_certificate_is_refused_before_the_token_is_sent(portainer: tuple[Inventory, str]) -> None:
    inventory, pin = portainer
    wrong = ":".join(["AB"] * 32)
    with connect.portainer(inventory, secrets_of(inventory, **{TOKEN_VAR: TOKEN, FINGERPRINT_VAR: wrong})) as client, \
            pytest.raises(FingerprintMismatch, match=f"SHA-256 {pin}, but {FINGERPRINT_VAR} pins {wrong}") as caught:
        client.me()
    assert _Portainer.keys == []
    assert TOKEN not in str(caught.value)
