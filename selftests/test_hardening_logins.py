"""HARD-AUTH-001 without a lab: how each management API refuses (homelab/checks/logins.py), that every name in the
inventory is either asked or an accepted risk, and the spec itself (tests/hardening/test_logins.py, imported from its
file) with httpx answering from a MockTransport: what it sends (NPM's address, the name as Host and SNI, no
credentials), a refusal passes, an answer that is not a refusal fails, and no answer, or the proxy's own 5xx, is
"could not observe".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fake_access import fake_on
from spec_project import spec_module

from homelab.checks import tls
from homelab.checks.logins import LOGINS, NO_LOGIN, Login
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.specs.targets import Fqdn, select

ROOT = REPO


SPECS = spec_module("tests/hardening/test_logins.py")


def SPEC(fqdn, inventory):
    return SPECS.test_api_refuses_anonymous(fqdn, inventory, fake_on())


SPEC.pytestmark = SPECS.test_api_refuses_anonymous.pytestmark  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def _name(inventory: Inventory, service: str) -> Fqdn:
    names, _ = select(inventory, "fqdn", {"service": service})
    return names[0]


# --- Login.refuses ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "status", "body", "refused"), [
    ("portainer", 401, '{"message":"Unauthorized","details":"Unauthorized"}', True),
    ("portainer", 403, "", False),  # Portainer answers 401; a 403 is some other proxy's answer
    ("portainer", 200, "[]", False),
    ("npm", 401, "", True),
    ("npm", 403, '{"error":{"code":403,"message":"Permission Denied"}}', True),
    ("npm", 200, "[]", False),
    ("uptime-kuma", 401, "Unauthorized", True),
    ("uptime-kuma", 200, "# HELP process_cpu_user_seconds_total", False),
    ("grafana", 401, '{"message":"Unauthorized"}', True),
    ("grafana", 200, '{"id":1,"name":"Main Org."}', False),
    ("grafana", 302, "", False),  # a redirect to the login page is not the API refusing
    ("open-webui", 401, '{"detail":"Not authenticated"}', True),
    ("open-webui", 403, '{"detail":"Not authenticated"}', True),
    ("open-webui", 200, "[]", False),
    ("technitium", 200, '{"status":"invalid-token","errorMessage":"Invalid token or session expired."}', True),
    ("technitium", 200, '{"status":"ok","response":{"zones":[]}}', False),
    ("technitium", 200, '{"status":"error","errorMessage":"Parameter token missing."}', False),
    ("technitium", 401, '{"status":"invalid-token"}', False),  # not how Technitium refuses: not its own answer
    ("technitium", 200, "<html>login</html>", False),
    ("technitium", 200, "", False),
    ("technitium", 200, '["invalid-token"]', False),  # JSON, but not an object
    ("technitium", 200, '"invalid-token"', False),
])
def test_each_api_refuses_as_its_server_does(service: str, status: int, body: str, refused: bool) -> None:
    assert LOGINS[service].refuses(status, body) is refused


def test_a_login_refuses_by_its_status_list_unless_it_is_json() -> None:
    assert Login("/x").refuses(401, "")
    assert not Login("/x").refuses(403, "")
    assert Login("/x", (401, 403)).refuses(403, "")
    assert not Login("/x", (401, 403)).refuses(500, "")


def test_every_named_service_is_asked_or_an_accepted_risk(inventory: Inventory) -> None:
    """Each service with a name is in LOGINS (the spec asks it) or NO_LOGIN (the report lists it), never both."""
    named = {service.name for service, host in inventory.instances() if service.fqdn_for(host)}
    assert named, "the example inventory names services"
    assert named <= set(LOGINS) | set(NO_LOGIN), f"neither asked nor accepted: {named - set(LOGINS) - set(NO_LOGIN)}"
    assert not set(LOGINS) & set(NO_LOGIN)
    assert {"prometheus", "ollama"} <= set(NO_LOGIN)
    for login in LOGINS.values():
        assert login.path.startswith("/api/") or login.path == "/metrics"


def test_the_spec_asks_every_named_service_but_those_without_a_login(inventory: Inventory) -> None:
    """The spec's own `each` mark, evaluated as the plugin does: every name but Prometheus' and Ollama's."""
    marks = [mark for mark in SPEC.pytestmark if mark.name == "each"]
    assert len(marks) == 1
    names, ids = select(inventory, marks[0].args[0], dict(marks[0].kwargs))
    asked = {name.instance.service.name for name in names}
    assert asked == set(LOGINS)
    every, _ = select(inventory, "fqdn", {})
    assert sorted({n.name for n in every} - set(ids)) == [
        "ollama-gaming-pc-1.home.example.com", "ollama-gaming-pc-2.home.example.com", "prometheus.home.example.com"]


# --- the spec, with httpx answering from a MockTransport ------------------------------------------------------------


class Answering:
    """httpx as homelab.checks.tls (get_by_name) sees it: `Client(...)` answers every request with `handler`;
    what was asked is kept."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.options: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.HTTPError = httpx.HTTPError

    def Client(self, **options: Any) -> httpx.Client:
        self.options.append(options)

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return httpx.Client(transport=httpx.MockTransport(handle))


def _answering(monkeypatch: pytest.MonkeyPatch, status: int, body: str = "") -> Answering:
    fake = Answering(lambda request: httpx.Response(status, text=body))
    monkeypatch.setattr(tls, "httpx", fake)
    return fake


def test_the_spec_asks_npm_by_the_name_without_credentials(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory) -> None:
    fake = _answering(monkeypatch, 401, '{"message":"Unauthorized"}')
    name = _name(inventory, "grafana")
    assert SPEC(name, inventory) is None
    npm = inventory.hosts_of(inventory.services["npm"])[0]
    [request] = fake.requests
    assert str(request.url) == f"https://{npm.address}/api/org"
    assert request.method == "GET"
    assert request.headers["host"] == "grafana.home.example.com"
    assert request.extensions["sni_hostname"] == "grafana.home.example.com"
    assert "authorization" not in request.headers
    assert "cookie" not in request.headers
    [options] = fake.options
    assert options["verify"] is True  # ca_bundle null: the system store, never unverified
    assert options["timeout"] == inventory.settings.connect_timeout * 3


@pytest.mark.parametrize(("service", "status", "body"), [
    ("portainer", 401, ""),
    ("npm", 403, '{"error":{"code":403,"message":"Permission Denied"}}'),
    ("technitium", 200, json.dumps({"status": "invalid-token", "errorMessage": "Invalid token or session expired."})),
    ("uptime-kuma", 401, "Unauthorized"),
    ("open-webui", 401, '{"detail":"Not authenticated"}'),
])
def test_the_spec_passes_on_each_services_refusal(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory, service: str, status: int, body: str) -> None:
    fake = Answering(lambda request: httpx.Response(200, json=WEBUI_CONFIG) if request.url.path == "/api/config"
                     else httpx.Response(status, text=body))
    monkeypatch.setattr(tls, "httpx", fake)
    assert SPEC(_name(inventory, service), inventory) is None
    assert fake.requests[0].url.path == LOGINS[service].path
    assert [r.url.path for r in fake.requests[1:]] == (["/api/config"] if service == "open-webui" else [])


# Open WebUI 0.6.5's /api/config to a visitor without a session (lab/standins/open-webui/README.md)
WEBUI_CONFIG = {"status": True, "name": "Open WebUI", "version": "0.6.5", "onboarding": False,
                "features": {"auth": True, "auth_trusted_header": False, "enable_signup": False}}


def _webui(monkeypatch: pytest.MonkeyPatch, config: httpx.Response) -> None:
    monkeypatch.setattr(tls, "httpx", Answering(
        lambda request: config if request.url.path == "/api/config"
        else httpx.Response(401, json={"detail": "Not authenticated"})))


def test_open_webui_with_its_login_off_fails(monkeypatch: pytest.MonkeyPatch, inventory: Inventory) -> None:
    """WEBUI_AUTH=false: /api/v1/users/ still refuses a visitor without a token, but signin makes anyone its admin;
    the server says so in /api/config."""
    off = {**WEBUI_CONFIG, "features": {**WEBUI_CONFIG["features"], "auth": False}}  # type: ignore[dict-item]
    _webui(monkeypatch, httpx.Response(200, json=off))
    name = _name(inventory, "open-webui")
    with pytest.raises(AssertionError) as caught:
        SPEC(name, inventory)
    message = str(caught.value)
    assert message.startswith("expected features.auth true (a login required); found features.auth false: anyone "
                              "who reaches the name signs in as its admin")
    assert f"GET https://{name.name}/api/config via NPM" in message
    assert "WEBUI_AUTH=true" in message


@pytest.mark.parametrize("config", [httpx.Response(200, text="<html>Open WebUI</html>"),
                                    httpx.Response(200, json={"status": True}),
                                    httpx.Response(200, json={"features": {"auth": "false"}}),
                                    httpx.Response(404, json={"detail": "Not Found"})])
def test_open_webui_config_that_does_not_say_is_could_not_observe(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory, config: httpx.Response) -> None:
    _webui(monkeypatch, config)
    with pytest.raises(pytest.fail.Exception) as caught:
        SPEC(_name(inventory, "open-webui"), inventory)
    message = str(caught.value)
    assert message.startswith(f"could not observe: /api/config does not say features.auth (HTTP {config.status_code}")
    assert "; fix: make open-webui answer through its name" in message


@pytest.mark.parametrize(("service", "status", "body", "wanted"), [
    ("grafana", 200, '{"id":1,"name":"Main Org."}', "a refusal (401)"),
    ("npm", 200, "[]", "a refusal (401 or 403)"),
    ("technitium", 200, '{"status":"ok","response":{"zones":[]}}', 'a refusal ({"status": "invalid-token"})'),
    ("open-webui", 404, "Not Found", "a refusal (401 or 403)"),
])
def test_the_spec_fails_on_an_answer_that_is_not_a_refusal(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory, service: str, status: int, body: str,
        wanted: str) -> None:
    _answering(monkeypatch, status, body)
    name = _name(inventory, service)
    with pytest.raises(AssertionError) as caught:
        SPEC(name, inventory)
    message = str(caught.value)
    assert message.startswith(f"expected {wanted}; found HTTP {status}: {body[:120]!r}")
    assert f"GET https://{name.name}{LOGINS[service].path} without credentials" in message


@pytest.mark.parametrize("error", [
    httpx.ConnectError("[Errno 111] Connection refused"),
    httpx.ConnectTimeout("timed out"),
    httpx.RemoteProtocolError("Server disconnected without sending a response."),
])
def test_the_spec_could_not_observe_without_an_answer(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory, error: httpx.HTTPError) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    monkeypatch.setattr(tls, "httpx", Answering(fail))
    with pytest.raises(pytest.fail.Exception) as caught:
        SPEC(_name(inventory, "grafana"), inventory)
    message = str(caught.value)
    assert message.startswith(f"could not observe: no answer ({type(error).__name__}: {error})")
    assert "(on platform from this machine, TLS verified); fix: " in message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_the_spec_could_not_observe_behind_a_proxy_error(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory, status: int) -> None:
    """NPM's own 502 when the service is down says nothing about the service's login: never a pass."""
    _answering(monkeypatch, status, "<html>502 Bad Gateway</html>")
    with pytest.raises(pytest.fail.Exception) as caught:
        SPEC(_name(inventory, "portainer"), inventory)
    assert str(caught.value).startswith(f"could not observe: HTTP {status} from the proxy, not the service's own "
                                        "answer (on platform from GET https://portainer.home.example.com/api/endpoints")


def test_a_named_service_with_no_known_request_fails_before_asking(
        monkeypatch: pytest.MonkeyPatch, inventory: Inventory) -> None:
    fake = _answering(monkeypatch, 401)
    grafana = _name(inventory, "grafana")
    service = SimpleNamespace(name="new-ui", stack="platform")
    unknown = Fqdn("new-ui.home.example.com", SimpleNamespace(service=service, host=grafana.instance.host))  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"new-ui \(new-ui.home.example.com\) has no known unauthenticated "
                                             r"request: add .* to homelab/checks/logins.py"):
        SPEC(unknown, inventory)
    assert fake.requests == []
