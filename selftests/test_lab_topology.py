"""The lab's extra agents (`lab up --extra-agents N`), planned without Docker: machines, addresses, inventory."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from homelab.model.inventory_loader import load_inventory
from lab import inventory as lab_inventory
from lab import topology
from lab.docker import LabError

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAzoDnt+rjPJu5k3hJXnLwt57wibA+ccrz1WTb9ZT32b"


@pytest.fixture
def count_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "extra-agents"
    monkeypatch.setattr(topology, "EXTRA_AGENTS_FILE", path)
    monkeypatch.setattr(topology, "LAB_DIR", tmp_path)
    return path


def test_no_extra_agents_by_default(count_file: Path) -> None:
    assert topology.hosts() == topology.HOSTS
    assert topology.machines() == topology.MACHINES


def test_extra_agents_are_copies_of_a_proxmox_vm(count_file: Path) -> None:
    """Two extra agents: pve-docker-3 and -4 on free LAN addresses, in the inventory as pve-docker-1 is."""
    topology.set_extra_agents(2)
    extra = [m for m in topology.hosts() if m not in topology.HOSTS]
    assert [(m.name, m.address) for m in extra] == [("pve-docker-3", "198.18.10.40"), ("pve-docker-4", "198.18.10.41")]
    addresses = [a for m in topology.machines().values() for a in m.addresses.values()]
    assert len(addresses) == len(set(addresses))
    names = [m.name for m in (*topology.hosts(), *topology.VANTAGES)] + ["router"]
    data = lab_inventory.build(dict.fromkeys(names, HOST_KEY), {})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "inventory.yaml"
        path.write_text(yaml.safe_dump(data))
        inventory = load_inventory(path)
    template, copy = inventory.hosts["pve-docker-1"], inventory.hosts["pve-docker-4"]
    assert (copy.role, copy.platform, copy.stacks, copy.portainer) == (
        template.role, template.platform, template.stacks, template.portainer)
    assert str(copy.address) == "198.18.10.41"


def test_zero_removes_the_count(count_file: Path) -> None:
    topology.set_extra_agents(3)
    topology.set_extra_agents(0)
    assert not count_file.exists()
    assert topology.extra_agents() == 0


@pytest.mark.parametrize("text", ["many", "-1", "999"])
def test_a_bad_count_names_the_file(count_file: Path, text: str) -> None:
    count_file.write_text(text)
    with pytest.raises(LabError, match="extra-agents"):
        topology.extra_agents()


def test_a_count_out_of_range_is_refused(count_file: Path) -> None:
    with pytest.raises(LabError, match="--extra-agents 41"):
        topology.set_extra_agents(41)
