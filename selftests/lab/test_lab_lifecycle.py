"""`lab reset` and `lab down`: back to fresh, and nothing left behind. These run last (lab_destructive)."""

from __future__ import annotations

import pytest
from lab_helpers import sh

from homelab.model.inventory import Inventory
from homelab.transport.ssh import SSHPool
from lab import up as lab_up
from lab.docker import docker, exists, lab_objects

pytestmark = [pytest.mark.lab, pytest.mark.lab_destructive]
CANARY = "lab-canary-not-ours"  # a volume named like the lab's but without its label: `lab down` must keep it
FRESH = ('echo containers=$(docker ps -aq | wc -l); '
         'if [ -x /usr/sbin/ufw ]; then echo ufw=$(sudo -n ufw status | sed -n "s/^Status: //p"); '
         'else echo ufw=absent; fi')


def test_reset_returns_host_to_fresh(lab_inventory: Inventory, pool: SSHPool) -> None:
    """`lab reset HOST` recreates the host and its Docker volume: what was done on it is gone, new host key."""
    old = lab_inventory.hosts["gaming-pc-1"]
    sh(pool, old, "sudo -n touch /etc/lab-dirty && docker volume create dirt")
    fresh = lab_up.reset("gaming-pc-1", log=lambda _: None)
    host = fresh.hosts["gaming-pc-1"]
    ssh = SSHPool(fresh)
    try:
        assert host.ssh.host_key != old.ssh.host_key
        assert sh(ssh, host, "test -e /etc/lab-dirty && echo dirty || echo clean").strip() == "clean"
        assert sh(ssh, host, FRESH).split() == ["containers=0", "ufw=inactive"]
        assert sh(ssh, host, "docker volume ls -q").strip() == ""
        assert sh(ssh, host, "test -s /etc/cdi/nvidia.yaml && echo cdi").strip() == "cdi"
    finally:
        ssh.close()


def test_down_removes_only_lab_objects_then_up_again() -> None:
    """`lab down` leaves no lab container, network or volume, touching nothing else; `lab up` then gives
    fresh hosts: nothing deployed, no firewall enabled."""
    docker("volume", "create", CANARY)
    try:
        lab_up.down(log=lambda _: None)
        assert [lab_objects(kind) for kind in ("container", "network", "volume")] == [[], [], []]
        assert exists("volume", CANARY)
    finally:
        docker("volume", "rm", CANARY, check=False)
    inventory = lab_up.up(log=lambda _: None)
    ssh = SSHPool(inventory)
    try:
        found = {name: sh(ssh, host, FRESH).split() for name, host in inventory.hosts.items()}
    finally:
        ssh.close()
    assert found == {name: ["containers=0", "ufw=" + ("absent" if host.platform == "unraid" else "inactive")]
                     for name, host in inventory.hosts.items()}
