"""bootstrap.edgestacks.EdgeStack without Portainer or hosts: the Edge stack it asks Portainer to create (upstream's
edgeStackFromGitRepositoryPayload, no AutoUpdate or Env: CE has neither), the group members (a GPU worker in
gaming mode left out, a worker that is off keeping its membership), and what it finds different, which is what
makes bootstrap recreate the stack."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bootstrap.edgestacks import EdgeStack
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO

ROOT = REPO
FILE = "services: {}\n"


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def edge(inventory: Inventory, name: str, gaming: tuple[str, ...] = ()) -> EdgeStack:
    hosts = [inventory.hosts["gaming-pc-1"], inventory.hosts["gaming-pc-2"]]
    stack = EdgeStack(name, hosts, inventory, SimpleNamespace(), SimpleNamespace(), SimpleNamespace())  # type: ignore[arg-type]
    stack.gaming = lambda host: name == "gpu-worker" and host.name in gaming  # type: ignore[method-assign]
    return stack


PORTAINER = SimpleNamespace(endpoints=lambda: [{"Name": "gaming-pc-1", "Id": 5}, {"Name": "gaming-pc-2", "Id": 6}])


def test_the_payload_is_upstreams_without_polling_or_env(inventory: Inventory) -> None:
    assert edge(inventory, "exporters").payload([4]) == {
        "Name": "exporters", "RepositoryURL": "https://git.home.example.com/homelab/homelab.git",
        "RepositoryReferenceName": "refs/heads/main", "RepositoryAuthentication": False, "RepositoryUsername": "",
        "RepositoryPassword": "", "FilePathInRepository": "stacks/exporters/compose.yaml", "EdgeGroups": [4],
        "DeploymentType": 0, "Registries": [], "UseManifestNamespaces": False, "TLSSkipVerify": False}


def test_members_are_every_host_that_is_on(inventory: Inventory) -> None:
    stack = edge(inventory, "exporters")
    assert stack.members(PORTAINER, None, stack.hosts) == [5, 6]  # type: ignore[arg-type]


def test_a_gpu_worker_in_gaming_mode_is_left_out(inventory: Inventory) -> None:
    stack = edge(inventory, "gpu-worker", gaming=("gaming-pc-2",))
    assert stack.members(PORTAINER, None, stack.hosts) == [5]  # type: ignore[arg-type]


def test_a_host_that_is_off_keeps_its_membership(inventory: Inventory) -> None:
    stack = edge(inventory, "gpu-worker")
    on = stack.hosts[:1]
    assert stack.members(PORTAINER, {"Endpoints": [5]}, on) == [5]  # type: ignore[arg-type]
    assert stack.members(PORTAINER, {"Endpoints": [5, 6]}, on) == [5, 6]  # type: ignore[arg-type]
    assert stack.members(PORTAINER, None, on) == [5, 6]  # type: ignore[arg-type]  # a new group: every host


def test_a_host_that_is_off_and_never_registered_does_not_block_the_others(inventory: Inventory) -> None:
    """A new gaming PC, off before phase 3 ever registered it, is left out until it is; one that is on and has no
    environment stops the step, saying to run phase 3."""
    from bootstrap.steps import StepFailed

    stack = edge(inventory, "exporters")
    only_first = SimpleNamespace(endpoints=lambda: [{"Name": "gaming-pc-1", "Id": 5}])
    assert stack.members(only_first, None, stack.hosts[:1]) == [5]  # type: ignore[arg-type]
    with pytest.raises(StepFailed, match="no Edge environment gaming-pc-2: run `python -m bootstrap phase3` first"):
        stack.members(only_first, None, stack.hosts)  # type: ignore[arg-type]


def stack_as_made(**changes: Any) -> dict[str, Any]:
    return {"Id": 2, "Name": "exporters", "EntryPoint": "stacks/exporters/compose.yaml", "EdgeGroups": [4],
            "DeploymentType": 0, **changes}


def test_nothing_differs_on_the_stack_as_made(inventory: Inventory) -> None:
    assert edge(inventory, "exporters").differences(stack_as_made(), 4, FILE, FILE) == []


@pytest.mark.parametrize(("changes", "served", "says"), [
    ({}, FILE + "# edited\n", "its file differs from the reference's (Portainer CE clones an Edge stack only once)"),
    ({"EntryPoint": "docker-compose.yml"}, FILE, "its entry file is 'docker-compose.yml'"),
    ({"EdgeGroups": [4, 9]}, FILE, "it targets Edge groups [4, 9], not homelab-exporters"),
    ({"DeploymentType": 1}, FILE, "it is not a compose stack"),
])
def test_what_differs_makes_bootstrap_recreate_it(inventory: Inventory, changes: dict[str, Any], served: str,
                                                  says: str) -> None:
    assert edge(inventory, "exporters").differences(stack_as_made(**changes), 4, served, FILE) == [says]


def test_a_missing_stack_is_not_in_portainer(inventory: Inventory) -> None:
    assert edge(inventory, "exporters").differences(None, 4, None, FILE) == ["not in Portainer"]
