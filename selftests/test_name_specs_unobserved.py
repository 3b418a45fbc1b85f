"""NAME-TLS-004 (redirect), NAME-TLS-005 (HSTS), NAME-PROXY-001 (the service behind a name), NAME-DNS-001 (the name
resolves to NPM) and P4-GF-005 (Grafana login only): each fails as "could not observe", naming a fix, when it gets no
answer, and fails on its fault (no redirect, no HSTS, a 502 from the proxy, another address, anonymous access)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import dns.exception
import dns.resolver
import httpx
import pytest
from fake_access import fake_on
from spec_project import spec_module
from test_hardening_logins import Answering, _name

from homelab.checks import tls
from homelab.checks.observability import GrafanaView
from homelab.clients.grafana import Grafana
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.secrets import Secrets
from homelab.specs.targets import Fqdn, select

SPECS = spec_module("tests/names/test_name_tls.py")
UP = fake_on()  # the service taken as up: no host-down policy, no gaming mode


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    from spec_project import REPO

    return load_inventory(REPO / "inventory.yaml")


@pytest.fixture
def grafana(inventory: Inventory) -> Fqdn:
    return _name(inventory, "grafana")


@pytest.mark.parametrize("spec", ["test_hsts_sent", "test_name_proxied_to_service"])
def test_no_https_answer_is_could_not_observe(spec: str, grafana: Fqdn, inventory: Inventory,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=request)

    monkeypatch.setattr(tls, "httpx", Answering(refuse))
    with pytest.raises(pytest.fail.Exception) as caught:
        getattr(SPECS, spec)(grafana, inventory, UP)
    message = str(caught.value)
    assert message.startswith("could not observe: no HTTPS answer for grafana.home.example.com (ConnectError")
    assert "; fix: " in message


def test_hsts_missing_fails(grafana: Fqdn, inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "httpx", Answering(lambda request: httpx.Response(200)))
    with pytest.raises(AssertionError, match="no such header"):
        SPECS.test_hsts_sent(grafana, inventory, UP)


def test_hsts_present_passes(grafana: Fqdn, inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    answer = httpx.Response(302, headers={"Strict-Transport-Security": "max-age=63072000; preload"})
    monkeypatch.setattr(tls, "httpx", Answering(lambda request: answer))
    assert SPECS.test_hsts_sent(grafana, inventory, UP) is None


def test_proxy_error_fails(grafana: Fqdn, inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "httpx", Answering(lambda request: httpx.Response(502)))
    with pytest.raises(AssertionError, match="HTTP 502"):
        SPECS.test_name_proxied_to_service(grafana, inventory, UP)


# --- NAME-TLS-004: HTTP redirected to HTTPS, with the `http` fixture answering from a MockTransport ----------------


def _http(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=False)


def test_redirect_to_https_passes(grafana: Fqdn, inventory: Inventory) -> None:
    answer = httpx.Response(301, headers={"Location": "https://grafana.home.example.com/"})
    assert SPECS.test_http_redirects_to_https(grafana, inventory, _http(lambda request: answer)) is None


@pytest.mark.parametrize(("answer", "found"), [
    (httpx.Response(200, text="<html>Grafana</html>"), "HTTP 200 (no Location)"),
    (httpx.Response(301, headers={"Location": "http://grafana.home.example.com/"}), "HTTP 301 http://grafana"),
    (httpx.Response(302, headers={"Location": "https://evil.example.org/"}), "HTTP 302 https://evil.example.org/"),
], ids=["served-plain", "redirect-to-http", "redirect-elsewhere"])
def test_no_redirect_to_https_fails(grafana: Fqdn, inventory: Inventory, answer: httpx.Response, found: str) -> None:
    """Force SSL off (NPM serves the name over plain HTTP): the fault NAME-TLS-004 guards against."""
    with pytest.raises(AssertionError) as caught:
        SPECS.test_http_redirects_to_https(grafana, inventory, _http(lambda request: answer))
    assert str(caught.value).startswith(f"expected a redirect to https://grafana.home.example.com/; found {found}")
    assert "fix: turn on Force SSL" in str(caught.value)


def test_no_http_answer_is_could_not_observe(grafana: Fqdn, inventory: Inventory) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(pytest.fail.Exception) as caught:
        SPECS.test_http_redirects_to_https(grafana, inventory, _http(refuse))
    message = str(caught.value)
    assert message.startswith("could not observe: no HTTP answer for grafana.home.example.com (ConnectError"), message
    assert "; fix: make NPM answer on " in message


# --- NAME-DNS-001: the name resolves through Technitium to NPM, with a resolver that answers as told ---------------

DNS_SPECS = spec_module("tests/names/test_name_dns.py")


class Resolver:
    """A dnspython Resolver as the spec sees it: `resolve` answers, raises the server's answer, or times out."""

    def __init__(self, answer: object) -> None:
        self.answer, self.nameservers, self.lifetime = answer, ["198.51.100.10"], 3.0

    def resolve(self, name: str, kind: str, search: bool = True) -> list[SimpleNamespace]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return [SimpleNamespace(address=a) for a in self.answer]  # type: ignore[attr-defined]


def _npm_address(inventory: Inventory) -> str:
    return str(inventory.hosts_of(inventory.services["npm"])[0].address)


def test_name_resolving_to_npm_passes(grafana: Fqdn, inventory: Inventory) -> None:
    assert DNS_SPECS.test_service_fqdn_resolves_to_npm(grafana, inventory, Resolver([_npm_address(inventory)])) is None


@pytest.mark.parametrize(("answer", "found"), [
    (["198.51.100.99"], "['198.51.100.99']"),
    (dns.resolver.NXDOMAIN(), "no A record (NXDOMAIN)"),
    (dns.resolver.NoAnswer(), "no A record (NoAnswer)"),
], ids=["elsewhere", "nxdomain", "no-a-record"])
def test_name_not_resolving_to_npm_fails(grafana: Fqdn, inventory: Inventory, answer: object, found: str) -> None:
    with pytest.raises(AssertionError) as caught:
        DNS_SPECS.test_service_fqdn_resolves_to_npm(grafana, inventory, Resolver(answer))
    assert str(caught.value).startswith(f"expected grafana.home.example.com A {_npm_address(inventory)} (NPM on "
                                        f"platform); found {found}")


def test_no_dns_answer_is_could_not_observe(grafana: Fqdn, inventory: Inventory) -> None:
    """A timeout (it failed as "found no answer from Technitium" before): the records were never seen."""
    with pytest.raises(pytest.fail.Exception) as caught:
        DNS_SPECS.test_service_fqdn_resolves_to_npm(grafana, inventory, Resolver(dns.exception.Timeout()))
    message = str(caught.value)
    assert message.startswith("could not observe: no answer from 198.51.100.10 for grafana.home.example.com A "
                              "within 3 s (on 198.51.100.10 from this machine); fix: make Technitium answer"), message


# --- P4-GF-005: Grafana's own frontend settings, with Grafana answering from a MockTransport -----------------------

GRAFANA_SPECS = spec_module("tests/phase4/test_grafana.py")
SETTINGS = {"anonymousEnabled": False, "disableUserSignUp": True, "buildInfo": {"version": "11.5.2"}}


def _grafana_view(inventory: Inventory, handler) -> GrafanaView:
    view = GrafanaView(inventory, Secrets({}, Path("/nonexistent/.env"), environ={}))
    view._client = Grafana(view.url, "admin", "not-used-here", transport=httpx.MockTransport(handler))
    return view


def _grafana_instance(inventory: Inventory) -> object:
    instances, _ = select(inventory, "instance", {"service": "grafana"})
    return instances[0]


def test_grafana_login_only_passes(inventory: Inventory) -> None:
    view = _grafana_view(inventory, lambda request: httpx.Response(200, json=SETTINGS))
    assert GRAFANA_SPECS.test_no_anonymous_access_or_sign_up(_grafana_instance(inventory), view) is None


@pytest.mark.parametrize(("settings", "found"), [
    ({**SETTINGS, "anonymousEnabled": True}, "anonymousEnabled True"),
    ({**SETTINGS, "disableUserSignUp": False}, "disableUserSignUp False"),
    ({"buildInfo": {}}, "anonymousEnabled None; disableUserSignUp None"),
], ids=["anonymous", "sign-up", "unsaid"])
def test_grafana_open_to_visitors_fails(inventory: Inventory, settings: dict, found: str) -> None:
    view = _grafana_view(inventory, lambda request: httpx.Response(200, json=settings))
    with pytest.raises(AssertionError) as caught:
        GRAFANA_SPECS.test_no_anonymous_access_or_sign_up(_grafana_instance(inventory), view)
    assert str(caught.value).startswith(f"expected anonymousEnabled false, disableUserSignUp true; found {found}")


@pytest.mark.parametrize(("handler", "why"), [
    (lambda request: (_ for _ in ()).throw(httpx.ConnectTimeout("timed out", request=request)),
     "Grafana did not answer /api/frontend/settings ("),
    (lambda request: httpx.Response(401, json={"message": "Unauthorized"}),
     "Grafana refused admin with GRAFANA_ADMIN_PASSWORD, so /api/frontend/settings was not read"),
    (lambda request: httpx.Response(500, json={"message": "database is locked"}),
     "Grafana did not answer /api/frontend/settings ("),
], ids=["timeout", "password-refused", "server-error"])
def test_grafana_not_asked_is_could_not_observe(inventory: Inventory, handler, why: str) -> None:
    view = _grafana_view(inventory, handler)
    with pytest.raises(pytest.fail.Exception) as caught:
        GRAFANA_SPECS.test_no_anonymous_access_or_sign_up(_grafana_instance(inventory), view)
    message = str(caught.value)
    assert message.startswith(f"could not observe: {why}"), message
    assert f"(on {view.url} from this machine); fix: " in message


# --- P1-DNS-001: each host's name resolves to its address, with the same resolver fake -----------------------------

P1_DNS = spec_module("tests/phase1/test_dns.py")


def test_host_name_resolving_to_its_address_passes(inventory: Inventory) -> None:
    host = inventory.hosts["unraid"]
    assert P1_DNS.test_host_name_resolves(host, inventory, Resolver([str(host.address)])) is None


@pytest.mark.parametrize("answer", [["198.51.100.99"], dns.resolver.NXDOMAIN()], ids=["elsewhere", "nxdomain"])
def test_host_name_not_resolving_to_its_address_fails(inventory: Inventory, answer: object) -> None:
    """The record missing or pointing elsewhere: the fault P1-DNS-001 guards against."""
    host = inventory.hosts["unraid"]
    with pytest.raises(AssertionError) as caught:
        P1_DNS.test_host_name_resolves(host, inventory, Resolver(answer))
    assert str(caught.value).startswith(f"expected {host.hostname}.{inventory.domain} A {host.address}; found ")


def test_no_dns_answer_for_a_host_name_is_could_not_observe(inventory: Inventory) -> None:
    host = inventory.hosts["unraid"]
    with pytest.raises(pytest.fail.Exception) as caught:
        P1_DNS.test_host_name_resolves(host, inventory, Resolver(dns.exception.Timeout()))
    assert str(caught.value).startswith(f"could not observe: no answer from 198.51.100.10 for {host.hostname}."
                                        f"{inventory.domain} A within 3 s")
