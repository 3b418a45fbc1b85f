"""The hardening code's pure parts: HSTS max-age (homelab/checks/tls.py), `key__not` filters (homelab/specs/targets.py),
where Edge agents poll Portainer and what an EdgeKey says (homelab/clients/environments.py), and the report's accepted
risks (homelab/report/risks.py), all from the repository's inventory.yaml or a copy of it with one line changed.
"""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace

import pytest

from homelab.checks.tls import hsts_max_age
from homelab.clients.environments import (
    EDGE,
    PORTAINER_PORT,
    edge_key_url,
    edge_poll_url,
    edge_poll_verified,
    identity_differences,
    wanted,
)
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.report.risks import accepted
from homelab.specs.targets import _matches, select

ROOT = REPO
PORTAINER_NAME_LINE = "    fqdn: portainer.home.example.com\n"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


@pytest.fixture
def unnamed_portainer(tmp_path: Path) -> Inventory:
    """The repository's inventory with Portainer's name removed (agents then poll its own 9443)."""
    text = (ROOT / "inventory.yaml").read_text()
    assert text.count(PORTAINER_NAME_LINE) == 1
    copy = tmp_path / "inventory.yaml"
    copy.write_text(text.replace(PORTAINER_NAME_LINE, ""))
    inventory = load_inventory(copy)
    assert inventory.services["portainer"].fqdn is None
    return inventory


# --- HSTS ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "age"), [
    ("max-age=31536000", 31536000),
    ("max-age=31536000; includeSubDomains; preload", 31536000),
    ("includeSubDomains; max-age=15552000", 15552000),
    ('max-age="63072000"; includeSubDomains', 63072000),  # quoted-string form (RFC 6797 6.1)
    ("Max-Age=600", 600),  # directive names are case-insensitive
    (" max-age = 600 ;preload", 600),
    ("max-age=0", 0),  # a browser forgets the name: the spec's `or 0` fails it
])
def test_hsts_max_age(header: str, age: int) -> None:
    assert hsts_max_age(header) == age


@pytest.mark.parametrize("header", [
    "",
    "includeSubDomains; preload",
    "max-age",
    "max-age=",
    'max-age=""',
    "max-age=one year",
    "max-age=3.5e7",
    "max-ages=31536000",
    "xmax-age=31536000",
    "age=31536000",
])
def test_hsts_without_a_readable_max_age_is_none(header: str) -> None:
    assert hsts_max_age(header) is None


# --- key__not filters --------------------------------------------------------------------------------------------


def test_matches_key_not() -> None:
    prometheus = SimpleNamespace(name="prometheus", role="platform")
    grafana = SimpleNamespace(name="grafana", role="platform")
    assert not _matches(prometheus, {"name__not": ("prometheus", "ollama")})
    assert _matches(grafana, {"name__not": ("prometheus", "ollama")})
    assert _matches(grafana, {"name__not": ()})
    assert _matches(grafana, {"role": "platform", "name__not": ("prometheus",)})
    assert not _matches(grafana, {"role": ("edge", "agent"), "name__not": ("prometheus",)})  # both must hold


def test_select_service_not_excludes_only_those_services_names(inventory: Inventory) -> None:
    _, every_ids = select(inventory, "fqdn", {})
    without, ids = select(inventory, "fqdn", {"service__not": ("prometheus",)})
    assert "prometheus.home.example.com" in every_ids
    assert "prometheus.home.example.com" not in ids
    assert sorted(set(every_ids) - set(ids)) == ["prometheus.home.example.com"]
    assert all(name.instance.service.name != "prometheus" for name in without)
    _, neither = select(inventory, "fqdn", {"service__not": ("prometheus", "ollama")})
    assert sorted(set(every_ids) - set(neither)) == [
        "ollama-gaming-pc-1.home.example.com", "ollama-gaming-pc-2.home.example.com", "prometheus.home.example.com"]


def test_select_host_field_not_filters_by_the_host(inventory: Inventory) -> None:
    _, ids = select(inventory, "fqdn", {"role__not": ("edge",)})
    assert ids
    assert not [name for name in ids if "gaming-pc" in name]
    _, instance_ids = select(inventory, "instance", {"service__not": ("node-exporter", "cadvisor"),
                                                     "role__not": ("edge",)})
    assert "prometheus@platform" in instance_ids
    assert not [i for i in instance_ids if i.startswith(("node-exporter@", "cadvisor@")) or "@gaming-pc" in i]
    hosts, host_ids = select(inventory, "host", {"role__not": ("edge", "agent")})
    assert host_ids == ["platform"]
    assert [h.role for h in hosts] == ["platform"]


# --- Edge agents and Portainer ------------------------------------------------------------------------------------


def edge_key(url: str, tunnel: str = "portainer.home.example.com:8000", fingerprint: str = "fp", ident: int = 7) -> str:
    """An EdgeKey as Portainer (and its stand-in, lab/standins/portainer/pt_models.py) makes it: no padding."""
    return base64.b64encode(f"{url}|{tunnel}|{fingerprint}|{ident}".encode()).rstrip(b"=").decode()


def test_edge_agents_poll_portainers_name_when_it_has_one(inventory: Inventory) -> None:
    assert edge_poll_url(inventory) == "https://portainer.home.example.com"
    assert edge_poll_verified(inventory)
    gaming = inventory.hosts["gaming-pc-1"]
    assert wanted(inventory, gaming).url == "https://portainer.home.example.com"


def test_without_a_name_edge_agents_poll_9443_unverified(unnamed_portainer: Inventory) -> None:
    platform = unnamed_portainer.platform_host
    assert edge_poll_url(unnamed_portainer) == f"https://{platform.address}:{PORTAINER_PORT}"
    assert not edge_poll_verified(unnamed_portainer)


@pytest.mark.parametrize("url", [
    "https://portainer.home.example.com",
    "https://198.51.100.10:9443",
    "https://p.example",   # lengths that leave 0, 1 and 2 padding characters off
    "https://pt.example",
    "https://pta.example",
])
def test_edge_key_url_reads_the_url_of_an_unpadded_key(url: str) -> None:
    for ident in (1, 12, 123):  # the same URL at each padding
        key = edge_key(url, ident=ident)
        assert "=" not in key
        assert edge_key_url(key) == url
    assert edge_key_url(edge_key(url + "/")) == url  # a trailing slash is the same URL


@pytest.mark.parametrize("key", ["abcde", "not|base64", "/w"])  # a length base64 cannot have; not UTF-8 (0xff)
def test_edge_key_url_of_an_unreadable_key_is_none(key: str) -> None:
    assert edge_key_url(key) is None


@pytest.mark.parametrize("key", ["", "%%%%"])
def test_edge_key_url_of_an_empty_or_junk_key_is_none(key: str) -> None:
    assert edge_key_url(key) is None


def test_an_edge_environment_whose_key_sends_the_agent_elsewhere_differs(inventory: Inventory) -> None:
    want = wanted(inventory, inventory.hosts["gaming-pc-1"])
    assert want.kind == EDGE
    right = {"Type": EDGE, "EdgeKey": edge_key("https://portainer.home.example.com")}
    assert identity_differences(want, right) == []
    stale = {"Type": EDGE, "EdgeKey": edge_key("https://198.51.100.10:9443")}
    assert identity_differences(want, stale) == [
        "its Edge key sends the agent to https://198.51.100.10:9443, not https://portainer.home.example.com"]


# --- accepted risks ----------------------------------------------------------------------------------------------


def test_the_accepted_risks_are_the_services_without_a_login(inventory: Inventory) -> None:
    risks = [r for r in accepted(inventory) if "no login" in r.what]  # the stacks deployed by bootstrap aside
    assert sorted(r.where for r in risks) == [
        "ollama@gaming-pc-1 (ollama-gaming-pc-1.home.example.com)",
        "ollama@gaming-pc-2 (ollama-gaming-pc-2.home.example.com)",
        "prometheus@platform (prometheus.home.example.com)",
    ]
    assert not [r for r in risks if "Edge" in r.what]  # Portainer has a name: agents poll it verified
    for risk in risks:
        assert risk.what.startswith(("Prometheus has no login", "Ollama has no login"))
        assert "EXP-NAME-002" in risk.guard
        assert set(risk.as_dict()) == {"what", "where", "guard", "remedy"}


def test_without_portainers_name_each_edge_agent_host_is_a_risk(unnamed_portainer: Inventory) -> None:
    risks = accepted(unnamed_portainer)
    edge = [r for r in risks if "EDGE_INSECURE_POLL=1" in r.what]
    assert sorted(r.where for r in edge) == ["gaming-pc-1 -> platform:9443", "gaming-pc-2 -> platform:9443"]
    assert [h.name for h in unnamed_portainer.hosts_with_stack("edge-agent")] == ["gaming-pc-1", "gaming-pc-2"]
    assert len([r for r in risks if "no login" in r.what]) == 3  # the services without a login stay
    for risk in edge:
        assert "services.portainer: fqdn" in risk.remedy
