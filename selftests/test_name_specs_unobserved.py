"""NAME-TLS-005 (HSTS) and NAME-PROXY-001 (the service behind a name): each fails as "could not observe", naming a
fix, when NPM gives no HTTPS answer for the name, and fails on its fault (no HSTS; a 502 from the proxy)."""

from __future__ import annotations

import httpx
import pytest
from spec_project import spec_module
from test_hardening_logins import Answering, _name

from homelab.checks import tls
from homelab.inventory import Inventory, load_inventory
from homelab.targets import Fqdn

SPECS = spec_module("tests/names/test_name_tls.py")
UP = lambda instance: None  # noqa: E731 - the service taken as up


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
