"""P3-EDGE-006: the Edge agent verifies Portainer. It fails on its fault (EDGE_INSECURE_POLL=1; an Edge key that
sends the agent elsewhere), and when the name's certificate cannot be verified (the handshake's error is named; a
failed handshake never passes)."""

from __future__ import annotations

import base64
import re
from types import SimpleNamespace
from typing import Any

import pytest
from fake_access import fake_on
from spec_project import REPO, spec_module

from homelab.clients.environments import edge_poll_url
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory

SPECS = spec_module("tests/phase3/test_edge_agent.py")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory.yaml")


def _key(url: str) -> str:
    return base64.b64encode(f"{url}|portainer.home.example.com:8000|fp|7".encode()).rstrip(b"=").decode()


class Portainer:
    where = "Portainer at https://platform:9443"

    def __init__(self, key: str) -> None:
        self.key = key

    def environments(self) -> dict[str, Any]:
        return {"gaming-pc-1": {"Name": "gaming-pc-1", "Type": 4, "EdgeKey": self.key}}


def _engine(env: dict[str, str]) -> Any:
    container = SimpleNamespace(name="portainer-edge-agent",
                                attrs={"Config": {"Env": [f"{k}={v}" for k, v in env.items()]}})
    return lambda host: SimpleNamespace(containers=SimpleNamespace(get=lambda name: container))


def _run(inventory: Inventory, key: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
         handshake_error: str | None = None) -> None:
    monkeypatch.setattr(SPECS, "handshake", lambda *args: handshake_error)
    SPECS.test_edge_agent_verifies_portainer(inventory.hosts["gaming-pc-1"], inventory, Portainer(key),
                                             fake_on(engine=_engine(env)))


def test_verified_poll_passes(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    _run(inventory, _key(edge_poll_url(inventory)), {"EDGE_INSECURE_POLL": "0"}, monkeypatch)


def test_insecure_poll_fails(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AssertionError, match="EDGE_INSECURE_POLL on"):
        _run(inventory, _key(edge_poll_url(inventory)), {"EDGE_INSECURE_POLL": "1"}, monkeypatch)


def test_key_to_another_url_fails(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AssertionError, match=re.escape("polls to https://198.51.100.10:9443")):
        _run(inventory, _key("https://198.51.100.10:9443"), {"EDGE_INSECURE_POLL": "0"}, monkeypatch)


def test_certificate_that_cannot_be_verified_fails(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AssertionError, match="connection refused"):
        _run(inventory, _key(edge_poll_url(inventory)), {"EDGE_INSECURE_POLL": "0"}, monkeypatch,
             handshake_error="no TLS answer (connection refused)")
