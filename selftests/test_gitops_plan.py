"""Which stacks Portainer deploys from Git (homelab.gitops), the `gitstack` targets the GIT-STACK specs run against
(homelab.targets), and the accepted risks the report lists for every stack bootstrap deploys itself
(homelab.risks): on Edge hosts always, everywhere with `git.deploy: direct` or without a `git:` section."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_gitops_inventory import REPOSITORY, git_inventory

from homelab.gitops import MANAGED, git_stacks, portainer_deploys
from homelab.inventory import Inventory, load_inventory
from homelab.risks import Risk, accepted
from homelab.targets import select

ROOT = Path(__file__).resolve().parents[1]
MANAGED_ON_SERVERS = ["monitoring@platform", "exporters@platform", "exporters@unraid", "exporters@pve-docker-1",
                      "exporters@pve-docker-2"]
EDGE_STACKS = ["gpu-worker@gaming-pc-1", "exporters@gaming-pc-1", "gpu-worker@gaming-pc-2", "exporters@gaming-pc-2"]


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def _deployed_by_bootstrap(risks: list[Risk]) -> dict[str, Risk]:
    """The accepted risks of stacks bootstrap deploys, by STACK@HOST."""
    return {r.where: r for r in risks if "deployed by bootstrap, not by Portainer from Git" in r.what}


# -- portainer_deploys and git_stacks --------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "stack", "deploys"), [
    ("platform", "monitoring", True),
    ("platform", "exporters", True),
    ("unraid", "exporters", True),
    ("platform", "platform", False),     # Portainer cannot deploy the stack that holds Portainer
    ("unraid", "agent", False),          # ... nor the agent it reaches the host through
    ("gaming-pc-1", "edge-agent", False),
    ("gaming-pc-1", "exporters", False),  # Edge hosts: Portainer CE reaches them only through their tunnel
    ("gaming-pc-1", "gpu-worker", False),
])
def test_portainer_deploys_the_managed_stacks_on_servers(inventory: Inventory, host: str, stack: str,
                                                         deploys: bool) -> None:
    assert portainer_deploys(inventory, inventory.hosts[host], stack) is deploys


def test_deploy_direct_leaves_every_stack_to_bootstrap(tmp_path: Path) -> None:
    direct = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  deploy: direct\n")
    assert not any(portainer_deploys(direct, host, stack) for host in direct.hosts.values() for stack in MANAGED)
    assert git_stacks(direct) == []


def test_no_git_section_leaves_every_stack_to_bootstrap(tmp_path: Path) -> None:
    bare = git_inventory(tmp_path, None)
    assert not any(portainer_deploys(bare, host, stack) for host in bare.hosts.values() for stack in MANAGED)
    assert git_stacks(bare) == []


def test_git_stacks_are_the_managed_stacks_of_the_servers(inventory: Inventory) -> None:
    assert [s.id for s in git_stacks(inventory)] == MANAGED_ON_SERVERS


def test_git_stacks_take_their_services_phase(inventory: Inventory) -> None:
    """Exporters and monitoring are phase 4 (observability), as their services are."""
    phases = {inventory.services[name].phase for name in inventory.services
              if inventory.services[name].stack in MANAGED}
    assert phases == {4}
    assert {s.phase for s in git_stacks(inventory)} == {4}


def test_the_gitstack_target_kind_selects_them_by_stack_at_host(inventory: Inventory) -> None:
    stacks, ids = select(inventory, "gitstack", {})
    assert ids == MANAGED_ON_SERVERS
    assert [(s.name, s.host.name) for s in stacks] == [tuple(i.split("@")) for i in MANAGED_ON_SERVERS]


def test_the_gitstack_target_kind_filters(inventory: Inventory) -> None:
    _, ids = select(inventory, "gitstack", {"name": "monitoring"})
    assert ids == ["monitoring@platform"]


# -- accepted risks ---------------------------------------------------------------------------------------------------


def test_edge_stacks_are_accepted_risks_deployed_by_bootstrap(inventory: Inventory) -> None:
    """With Portainer deploying from Git, only the Edge hosts' stacks are bootstrap's, each with the Edge reason."""
    found = _deployed_by_bootstrap(accepted(inventory))
    assert sorted(found) == sorted(EDGE_STACKS)
    for risk in found.values():
        assert "Portainer CE reaches an Edge host only through the tunnel its agent opens on demand" in risk.what
        assert risk.remedy.startswith("none in Portainer CE")


def test_deploy_direct_lists_every_managed_stack(tmp_path: Path) -> None:
    direct = git_inventory(tmp_path, f"  repository: {REPOSITORY}\n  deploy: direct\n")
    found = _deployed_by_bootstrap(accepted(direct))
    assert sorted(found) == sorted(MANAGED_ON_SERVERS + EDGE_STACKS)
    for where in MANAGED_ON_SERVERS:
        assert "an edit on the host or in Portainer is not compared with a commit" in found[where].what
        assert found[where].remedy.startswith("set `git.deploy: portainer`")


def test_no_git_section_says_to_add_one(tmp_path: Path) -> None:
    found = _deployed_by_bootstrap(accepted(git_inventory(tmp_path, None)))
    assert sorted(found) == sorted(MANAGED_ON_SERVERS + EDGE_STACKS)
    for where in MANAGED_ON_SERVERS:
        assert found[where].remedy.startswith("add a `git:` section")


def test_the_platform_stack_is_never_listed(tmp_path: Path) -> None:
    """Portainer cannot deploy `platform`, `agent` or `edge-agent`: not a risk the inventory could remedy."""
    found = _deployed_by_bootstrap(accepted(git_inventory(tmp_path, None)))
    assert not [where for where in found if where.split("@")[0] in ("platform", "agent", "edge-agent")]
