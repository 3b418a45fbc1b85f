"""Which stacks Portainer deploys from Git (homelab.model.gitops), the `gitstack` targets the GIT-STACK specs run
against (homelab.specs.targets), and the accepted risks the report lists for every stack bootstrap deploys itself
(homelab.report.risks): everywhere with `git.deploy: direct` or without a `git:` section; and the Edge stacks, which
Portainer CE never polls."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_gitops_inventory import REPOSITORY, git_inventory

from homelab.model.gitops import MANAGED, edge_stack_hosts, git_stacks, portainer_deploys, project, stack_of_project
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.report.risks import Risk, accepted
from homelab.specs.targets import select

ROOT = REPO
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
    ("gaming-pc-1", "exporters", True),   # Edge hosts: Edge stacks, fetched by their agents
    ("gaming-pc-1", "gpu-worker", True),
    ("unraid", "gpu-worker", False),      # not assigned to the host
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


def test_git_stacks_are_the_managed_stacks_of_servers_and_edge_hosts(inventory: Inventory) -> None:
    found = git_stacks(inventory)
    assert [s.id for s in found if not s.edge] == MANAGED_ON_SERVERS
    assert [s.id for s in found if s.edge] == EDGE_STACKS
    assert {s.project for s in found if s.edge} == {"edge_gpu-worker", "edge_exporters"}


def test_edge_stack_hosts_groups_the_hosts_per_stack(inventory: Inventory) -> None:
    found = {name: [h.name for h in hosts] for name, hosts in edge_stack_hosts(inventory).items()}
    assert found == {"gpu-worker": ["gaming-pc-1", "gaming-pc-2"], "exporters": ["gaming-pc-1", "gaming-pc-2"]}


def test_an_edge_project_is_its_stack_only_on_edge_hosts(inventory: Inventory) -> None:
    edge, server = inventory.hosts["gaming-pc-1"], inventory.hosts["unraid"]
    assert project(inventory, edge, "exporters") == "edge_exporters"
    assert stack_of_project(inventory, edge, "edge_exporters") == "exporters"
    assert stack_of_project(inventory, server, "edge_exporters") == "edge_exporters"  # no Edge stack there
    assert stack_of_project(inventory, edge, "edge_monitoring") == "edge_monitoring"  # not assigned


def test_git_stacks_take_their_services_phase(inventory: Inventory) -> None:
    """Exporters and monitoring are phase 4 (observability), as their services are; gpu-worker is phase 3."""
    phases = {inventory.services[name].phase for name in inventory.services
              if inventory.services[name].stack in MANAGED}
    assert phases == {4}
    assert {s.name: s.phase for s in git_stacks(inventory)} == {"monitoring": 4, "exporters": 4, "gpu-worker": 3}


def test_the_gitstack_target_kind_selects_them_by_stack_at_host(inventory: Inventory) -> None:
    stacks, ids = select(inventory, "gitstack", {"edge": False})
    assert ids == MANAGED_ON_SERVERS
    assert [(s.name, s.host.name) for s in stacks] == [tuple(i.split("@")) for i in MANAGED_ON_SERVERS]


def test_the_gitstack_target_kind_filters(inventory: Inventory) -> None:
    _, ids = select(inventory, "gitstack", {"name": "monitoring"})
    assert ids == ["monitoring@platform"]


# -- accepted risks ---------------------------------------------------------------------------------------------------


def test_edge_stacks_are_accepted_risks_as_never_polled(inventory: Inventory) -> None:
    """With Portainer deploying from Git, bootstrap deploys nothing itself; each Edge stack is a risk of its own:
    Portainer CE clones it once and never polls, so bootstrap keeps it at the reference."""
    risks = accepted(inventory)
    assert _deployed_by_bootstrap(risks) == {}
    edge = {r.where: r for r in risks if "Edge stack is not polled" in r.what}
    assert sorted(edge) == ["exporters@gaming-pc-1,gaming-pc-2", "gpu-worker@gaming-pc-1,gaming-pc-2"]
    assert edge["gpu-worker@gaming-pc-1,gaming-pc-2"].remedy.startswith("re-run `python -m bootstrap phase3`")
    assert "GIT-EDGE-002" in edge["exporters@gaming-pc-1,gaming-pc-2"].guard


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
