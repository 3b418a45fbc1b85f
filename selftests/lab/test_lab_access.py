"""SSH and Docker into every lab machine, with host keys verified against the lab inventory."""

from __future__ import annotations

import dataclasses
import stat

import pytest
from lab_helpers import machine, sh

from homelab.model.inventory import Inventory
from homelab.transport.dockerclient import docker_over_ssh
from homelab.transport.ssh import HostKeyMismatch, SSHPool, connect
from lab.topology import HOSTS, VANTAGES

pytestmark = pytest.mark.lab
HOST_NAMES = [m.name for m in HOSTS]
ALL_NAMES = [m.name for m in (*HOSTS, *VANTAGES)]


def test_inventory_has_the_lab_layout(lab_inventory: Inventory) -> None:
    """The lab inventory loads with the project's loader and describes the lab, not the seed."""
    assert lab_inventory.name == "lab"
    assert sorted(lab_inventory.hosts) == sorted(HOST_NAMES)
    assert sorted(lab_inventory.vantages) == ["guest", "vpn-client", "wan"]
    assert str(lab_inventory.public_address) == "198.19.0.2"
    assert lab_inventory.settings.ca_bundle is not None
    assert lab_inventory.settings.ca_bundle.exists()
    assert {n.kind for n in lab_inventory.networks.values()} == {"lan", "vpn", "guest", "wan"}


def test_env_file_holds_every_secret_privately(lab_inventory: Inventory) -> None:
    """.lab/.env has a value for every secret the inventory names (but the optional ones, which change behaviour
    when set: the lab leaves them unset), and only its owner can read it."""
    env = lab_inventory.settings.env_file
    names = {line.split("=", 1)[0] for line in env.read_text().splitlines() if "=" in line}
    required = {name for name, why in lab_inventory.secrets.items() if not why.lower().startswith("optional")}
    assert required <= names
    assert "UPTIME_KUMA_API_KEY" not in names
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ALL_NAMES)
def test_ssh_with_verified_host_key(lab_inventory: Inventory, pool: SSHPool, name: str) -> None:
    """Each machine answers SSH as its inventory user, its host key checked against the inventory."""
    target = machine(lab_inventory, name)
    assert sh(pool, target, "id -un; hostname").split() == [target.ssh.user, name]


@pytest.mark.parametrize("name", ["platform", "wan"])
def test_wrong_host_key_is_refused(lab_inventory: Inventory, name: str) -> None:
    """A machine presenting a key other than the inventory's is never connected to."""
    target = machine(lab_inventory, name)
    other = lab_inventory.hosts["unraid"].ssh.host_key
    forged = dataclasses.replace(target, ssh=dataclasses.replace(target.ssh, host_key=other))
    with pytest.raises(HostKeyMismatch):
        connect(forged, lab_inventory.settings)


@pytest.mark.parametrize("name", HOST_NAMES)
def test_docker_sdk_over_ssh(lab_inventory: Inventory, pool: SSHPool, name: str) -> None:
    """The Docker SDK reaches each host's own engine (Docker 26) through the verified SSH connection."""
    engine = docker_over_ssh(pool.get(lab_inventory.hosts[name]), timeout=30)
    assert engine.version()["Version"].startswith("26.")
    assert engine.info()["Name"] == name


@pytest.mark.parametrize("name", HOST_NAMES)
def test_host_has_its_tools(lab_inventory: Inventory, pool: SSHPool, name: str) -> None:
    """A lab host has compose v2 and root via sudo; ufw everywhere but on Unraid (iptables only)."""
    target = lab_inventory.hosts[name]
    assert sh(pool, target, "docker compose version --short").startswith("2.")
    assert sh(pool, target, "sudo -n id -u").strip() == "0"
    ufw = sh(pool, target, "if [ -x /usr/sbin/ufw ]; then echo ufw; else echo absent; fi").strip()
    assert ufw == ("absent" if target.platform == "unraid" else "ufw")


def test_unraid_has_its_boot_script(lab_inventory: Inventory, pool: SSHPool) -> None:
    """The Unraid stand-in has /boot/config/go, as Unraid has, and root logs in over SSH."""
    assert sh(pool, lab_inventory.hosts["unraid"], "head -1 /boot/config/go").startswith("#!/bin/bash")


def test_engine_restarts_without_stopping_host(lab_inventory: Inventory, pool: SSHPool) -> None:
    """Restarting a host's Docker engine (as bootstrap does after editing daemon.json) keeps the host up."""
    host = lab_inventory.hosts["pve-docker-2"]
    before = sh(pool, host, "cat /var/run/docker.pid")
    sh(pool, host, "sudo -n systemctl restart docker", timeout=60)
    sh(pool, host, "for i in $(seq 60); do docker version >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1")
    assert sh(pool, host, "cat /var/run/docker.pid") != before
