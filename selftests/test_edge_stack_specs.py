"""GIT-EDGE-001/002/003 (tests/gitops/test_edge_stacks.py, imported from its file) driven with a fake Portainer and a
fake Git server: each passes on the inventory's Edge stack at the reference's file, fails on its fault saying
expected / found / where / fix, and fails as "could not observe" when the Git server does not answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from docker.errors import DockerException
from fake_access import GamingSsh, fake_on
from spec_project import REPO, spec_module

from homelab.clients.gitremote import GitRemoteError
from homelab.model.gitops import GitStack
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.specs.targets import select

SPECS = spec_module("tests/gitops/test_edge_stacks.py")
HEAD = "abc1234" + "0" * 33
FILE = "services: {}\n"
PC = "gaming-pc-1"


class FakePortainer:
    """PortainerView's Edge reads, as the specs use them."""

    where = "Portainer at https://platform:9443"

    def __init__(self, inventory: Inventory, stacks: list[dict[str, Any]], members: list[str] | None = None,
                 enabled: bool = True, file: str = FILE) -> None:
        self.ids = {name: n for n, name in enumerate(inventory.hosts, 1)}
        names = members if members is not None else [PC]
        self.groups = {f"homelab-{s}": {"Id": 10 + i, "Name": f"homelab-{s}",
                                        "Endpoints": [self.ids[h] for h in names]}
                       for i, s in enumerate(("gpu-worker", "exporters"))}
        self.stacks, self.enabled, self.file = stacks, enabled, file

    def environments(self) -> dict[str, dict[str, Any]]:
        return {name: {"Id": n, "Name": name} for name, n in self.ids.items()}

    def edge_enabled(self) -> bool:
        return self.enabled

    def edge_groups(self) -> dict[str, dict[str, Any]]:
        return self.groups

    def edge_stacks(self) -> list[dict[str, Any]]:
        return self.stacks

    def edge_file(self, stack_id: int) -> str:
        return self.file


def edge_stack(name: str, status: int | None = 7, error: str = "", **fields: Any) -> dict[str, Any]:
    group = 10 if name == "gpu-worker" else 11
    history = [] if status is None else [{"Type": 3}, {"Type": status, "Error": error}]
    return {"Id": 5, "Name": name, "EntryPoint": f"stacks/{name}/compose.yaml", "DeploymentType": 0,
            "EdgeGroups": [group], "Version": 1, "Status": {"5": {"Status": history}}, **fields}


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory.yaml")


def target(inventory: Inventory, name: str) -> GitStack:
    stacks, ids = select(inventory, "gitstack", {"edge": True})
    return stacks[ids.index(f"{name}@{PC}")]


@pytest.fixture(autouse=True)
def git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SPECS, "ref_commit", lambda inventory, git, password: HEAD)
    monkeypatch.setattr(SPECS, "file_at", lambda inventory, git, commit, path, password: FILE.encode())


def playing(on: bool, engine: Any = None) -> Any:
    """The `on` argument: the worker in gaming mode (its GPU stack stopped) or not, its engine `engine`."""
    return fake_on(ssh=GamingSsh("on since now" if on else None), engine=engine)


def failure(call: Any, *args: Any) -> str:
    with pytest.raises(AssertionError) as caught:
        call(*args)
    return str(caught.value)


def stopped(call: Any, *args: Any) -> str:
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as caught:
        call(*args)
    return str(caught.value)


# -- GIT-EDGE-001 -----------------------------------------------------------------------------------------------------

def deployed(inventory: Inventory, name: str, portainer: FakePortainer, gaming: bool = False) -> Any:
    return SPECS.test_edge_stack_deployed_from_git(target(inventory, name), inventory, portainer, playing(gaming))


def test_001_passes_on_the_edge_stack(inventory: Inventory) -> None:
    assert deployed(inventory, "exporters", FakePortainer(inventory, [edge_stack("exporters")])) is None


def test_001_fails_on_a_missing_stack(inventory: Inventory) -> None:
    message = failure(deployed, inventory, "exporters", FakePortainer(inventory, [edge_stack("gpu-worker")]))
    assert "found none (deployed by hand, or not at all)" in message
    assert "fix: run `python -m bootstrap" in message


def test_001_fails_on_another_entry_file_or_group(inventory: Inventory) -> None:
    stack = edge_stack("exporters", EntryPoint="docker-compose.yml", EdgeGroups=[99])
    message = failure(deployed, inventory, "exporters", FakePortainer(inventory, [stack]))
    assert "entry file 'docker-compose.yml'" in message
    assert "not aimed at the Edge group homelab-exporters" in message


def test_001_fails_when_the_host_is_not_in_the_group(inventory: Inventory) -> None:
    message = failure(deployed, inventory, "exporters", FakePortainer(inventory, [edge_stack("exporters")], []))
    assert f"expected {PC}'s Edge environment in the Edge group homelab-exporters" in message


def test_001_skips_a_gpu_worker_in_gaming_mode_out_of_the_group(inventory: Inventory) -> None:
    portainer = FakePortainer(inventory, [edge_stack("gpu-worker")], [])
    assert "gaming mode" in stopped(deployed, inventory, "gpu-worker", portainer, True)
    assert "Edge group homelab-gpu-worker" in failure(deployed, inventory, "gpu-worker", portainer, False)


def test_001_fails_on_a_group_with_strangers_or_by_tags(inventory: Inventory) -> None:
    strangers = FakePortainer(inventory, [edge_stack("exporters")], [PC, "unraid"])
    message = failure(deployed, inventory, "exporters", strangers)
    assert "homelab-exporters also holds environments [2]" in message
    dynamic = FakePortainer(inventory, [edge_stack("exporters")])
    dynamic.groups["homelab-exporters"]["Dynamic"] = True
    assert "is a dynamic (tag) group" in failure(deployed, inventory, "exporters", dynamic)
    extra = FakePortainer(inventory, [edge_stack("exporters", EdgeGroups=[11, 12])])
    assert "not aimed at the Edge group homelab-exporters alone" in failure(deployed, inventory, "exporters", extra)


def test_001_fails_when_edge_compute_is_off(inventory: Inventory) -> None:
    message = stopped(deployed, inventory, "exporters", FakePortainer(inventory, [], enabled=False))
    assert "EnableEdgeComputeFeatures false" in message
    assert "--edge-compute" in message


# -- GIT-EDGE-002 -----------------------------------------------------------------------------------------------------

class Container:
    def __init__(self, service: str, files: str, status: str = "running", health: str = "healthy") -> None:
        self.name = service
        self.attrs = {"Config": {"Labels": {"com.docker.compose.service": service,
                                            "com.docker.compose.project.config_files": files}},
                      "State": {"Status": status, "Health": {"Status": health}}}


def engine_with(*containers: Container | Exception) -> Any:
    def listing(**filters: Any) -> list[Container]:
        if containers and isinstance(containers[0], Exception):
            raise containers[0]
        return [c for c in containers if isinstance(c, Container)]

    return lambda host: SimpleNamespace(containers=SimpleNamespace(list=listing))


AGENT_FILE = "/tmp/edge_stacks/5/stacks/exporters/compose.yaml"
AS_DEPLOYED = (Container("node-exporter", AGENT_FILE), Container("cadvisor", AGENT_FILE))


def runs(inventory: Inventory, name: str, portainer: FakePortainer, engine: Any = None) -> Any:
    return SPECS.test_edge_stack_runs_the_reference(target(inventory, name), inventory, None, portainer,
                                                    playing(False, engine or engine_with(*AS_DEPLOYED)))


def test_002_passes_on_the_reference_running(inventory: Inventory) -> None:
    assert runs(inventory, "exporters", FakePortainer(inventory, [edge_stack("exporters")])) is None


def test_002_fails_on_a_file_that_is_not_the_references(inventory: Inventory) -> None:
    portainer = FakePortainer(inventory, [edge_stack("exporters")], file=FILE + "# edited\n")
    message = failure(runs, inventory, "exporters", portainer)
    assert f"main has it at {HEAD[:7]}" in message
    assert "Portainer CE does not poll Edge stacks" in message


def test_002_fails_on_the_agents_error_and_on_no_status(inventory: Inventory) -> None:
    error = FakePortainer(inventory, [edge_stack("exporters", 2, "failed to redeploy stack: no such image")])
    assert "found Error: failed to redeploy stack: no such image" in failure(runs, inventory, "exporters", error)
    silent = FakePortainer(inventory, [edge_stack("exporters", None)])
    assert "found no status" in failure(runs, inventory, "exporters", silent)


def test_002_fails_on_a_container_recreated_by_hand_or_missing(inventory: Inventory) -> None:
    portainer = FakePortainer(inventory, [edge_stack("exporters")])
    by_hand = engine_with(Container("node-exporter", AGENT_FILE + ",/tmp/override.yml"), AS_DEPLOYED[1])
    message = failure(runs, inventory, "exporters", portainer, by_hand)
    assert "node-exporter: node-exporter was made from" in message
    assert "recreated by hand?" in message
    assert "cadvisor: no container" in failure(runs, inventory, "exporters", portainer, engine_with(AS_DEPLOYED[0]))
    stopped_one = engine_with(AS_DEPLOYED[0], Container("cadvisor", AGENT_FILE, "exited", "none"))
    assert "cadvisor: cadvisor is exited (none)" in failure(runs, inventory, "exporters", portainer, stopped_one)


def test_002_cannot_observe_without_the_engine(inventory: Inventory) -> None:
    portainer = FakePortainer(inventory, [edge_stack("exporters")])
    message = stopped(runs, inventory, "exporters", portainer, engine_with(DockerException("ssh channel closed")))
    assert message.startswith("could not observe: the engine did not list the containers of edge_exporters")


def test_002_cannot_observe_without_the_git_server(inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: Any) -> str:
        raise GitRemoteError("https://git.home.example.com/homelab/homelab.git: no answer (ConnectError)")

    monkeypatch.setattr(SPECS, "file_at", unreachable)
    message = stopped(runs, inventory, "exporters", FakePortainer(inventory, [edge_stack("exporters")]))
    assert message.startswith("could not observe: the Git server did not give stacks/exporters/compose.yaml")


# -- GIT-EDGE-003 -----------------------------------------------------------------------------------------------------

def others(inventory: Inventory, portainer: FakePortainer) -> Any:
    return SPECS.test_no_other_edge_stack(inventory.hosts[PC], inventory, portainer)


def test_003_passes_with_only_the_inventorys_edge_stacks(inventory: Inventory) -> None:
    assert others(inventory, FakePortainer(inventory, [edge_stack("exporters"), edge_stack("gpu-worker")])) is None


def test_003_cannot_observe_with_edge_compute_off(inventory: Inventory) -> None:
    message = stopped(others, inventory, FakePortainer(inventory, [], enabled=False))
    assert message.startswith("could not observe: Portainer's Edge compute features are off")


def test_003_fails_on_a_stray_edge_stack(inventory: Inventory) -> None:
    stray = {**edge_stack("exporters"), "Name": "miner", "Id": 9}
    message = failure(others, inventory, FakePortainer(inventory, [edge_stack("exporters"), stray]))
    assert "miner (not a stack the inventory has Portainer deploy on gaming-pc-1)" in message
