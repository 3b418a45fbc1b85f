"""P2-PT-003's snapshot (homelab.checks.portainer): one hung engine fails only its own host, naming it; the other
hosts get their status (issue #16: one pool.map for all used to fail every host with "start Portainer")."""

from __future__ import annotations

from typing import Any

import pytest

from homelab.checks.portainer import PortainerView, snapshot_each
from homelab.clients.portainer import PortainerError, PortainerUnreachable
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO

HUNG = 3
ENDPOINTS = [{"Id": 2, "Name": "unraid", "Type": 2, "Status": 1}, {"Id": HUNG, "Name": "docker1", "Type": 2,
                                                                    "Status": 1}]


class FakePortainer:
    """The client's snapshot() and endpoints(); environment HUNG times out as a hung dockerd makes it."""

    def __init__(self, failure: PortainerError) -> None:
        self.failure = failure

    def snapshot(self, ident: int) -> None:
        if ident == HUNG:
            raise self.failure

    def endpoints(self) -> list[dict[str, Any]]:
        return ENDPOINTS


def view(failure: PortainerError) -> PortainerView:
    found = PortainerView(load_inventory(REPO / "inventory.yaml"), secrets=None)  # type: ignore[arg-type]
    found._client = FakePortainer(failure)  # type: ignore[assignment]
    return found


def test_snapshot_each_keeps_failures_apart() -> None:
    """Each snapshot is asked on its own: the failure is kept with its id; the statuses are still read."""
    statuses, failed = snapshot_each(FakePortainer(PortainerUnreachable("timed out")), [2, HUNG])  # type: ignore[arg-type]
    assert statuses == {2: 1, HUNG: 1}
    assert list(failed) == [HUNG]


def test_hung_engine_fails_only_its_host_naming_it() -> None:
    """The healthy host gets status 1; the hung one fails naming its environment, not "start Portainer"."""
    portainer = view(PortainerUnreachable("Portainer at https://10.0.0.2:9443 does not answer: ReadTimeout"))
    among = {"unraid", "docker1"}
    assert portainer.status_after_snapshot(ENDPOINTS[0], among) == 1
    with pytest.raises(pytest.fail.Exception) as hung:
        portainer.status_after_snapshot(ENDPOINTS[1], among)
    assert "expected Portainer to snapshot environment docker1 within" in str(hung.value)
    assert "check Docker on docker1" in str(hung.value)
    assert "start Portainer" not in str(hung.value)


def test_refused_token_still_says_token() -> None:
    """A 401 on the snapshot is the token's problem, said as such."""
    with pytest.raises(pytest.fail.Exception) as refused:
        view(PortainerError("401 Unauthorized", status=401)).status_after_snapshot(ENDPOINTS[1], {"docker1"})
    assert "PORTAINER_API_TOKEN is refused" in str(refused.value)
