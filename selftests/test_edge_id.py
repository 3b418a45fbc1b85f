"""Edge ID adoption (issue #16): bootstrap writes the Edge ID Portainer holds for the environment, and P3-EDGE-005
names an ID mismatch as the cause of a missing check-in instead of "start the agent"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from bootstrap.phase3 import adopted_edge_id, edge_id
from homelab.clients.environments import edge_id_mismatch
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO

BOUND = "5f0c3b7e-bound-by-portainer"


class FakeAccess:
    """What bootstrap.environments.portainer_api needs: `api()` yielding a client with `endpoints()`."""

    def __init__(self, endpoints: list[dict[str, Any]]) -> None:
        self.found = endpoints

    @contextmanager
    def api(self) -> Iterator[SimpleNamespace]:
        yield SimpleNamespace(endpoints=lambda: self.found)


@pytest.fixture(scope="module")
def worker() -> tuple[Any, Any]:
    inventory = load_inventory(REPO / "inventory.yaml")
    return inventory, inventory.hosts_with_stack("edge-agent")[0]


def test_bootstrap_adopts_the_bound_edge_id(worker: tuple[Any, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """An environment that holds an Edge ID (a wizard's, or EnforceEdgeID's) gets that ID, said aloud."""
    inventory, host = worker
    access = FakeAccess([{"Name": host.name, "EdgeID": BOUND}])
    assert adopted_edge_id(inventory, access, host) == BOUND  # type: ignore[arg-type]
    assert f"Portainer holds Edge ID {BOUND}" in capsys.readouterr().out


def test_bootstrap_uses_its_own_id_when_none_is_bound(worker: tuple[Any, Any]) -> None:
    """No Edge ID yet (Portainer binds the first that polls): the homelab's stable uuid5 is written."""
    inventory, host = worker
    unbound = FakeAccess([{"Name": host.name, "EdgeID": ""}])
    assert adopted_edge_id(inventory, unbound, host) == edge_id(inventory, host)  # type: ignore[arg-type]


def test_mismatch_is_named() -> None:
    """The spec's diagnosis: a bound ID and another in the agent is the cause; anything else is not."""
    found = edge_id_mismatch({"EdgeID": BOUND}, "mine")
    assert found is not None
    assert BOUND in found
    assert "refuses (403) the agent's EDGE_ID mine" in found
    assert edge_id_mismatch({"EdgeID": BOUND}, BOUND) is None
    assert edge_id_mismatch({}, "mine") is None
    assert edge_id_mismatch({"EdgeID": BOUND}, None) is None
