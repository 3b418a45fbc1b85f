"""Reachability in the lab: LAN, guest and VPN routed freely; from the internet, only forwarded ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_helpers import listener_log, sh, start_listener, stop_listener

from homelab.model.inventory import Inventory
from homelab.transport.probes import Outcome, Probe, Reachability, probe_here
from homelab.transport.ssh import SSHPool
from lab.topology import HOSTS

pytestmark = pytest.mark.lab
HOST_NAMES = [m.name for m in HOSTS]
FORWARDED, NOT_FORWARDED = 80, 81  # 80 forwarded by the test itself (inventory.yaml marks nothing public); 81 not


@pytest.fixture(scope="module")
def reach(lab_inventory: Inventory, pool: SSHPool) -> Reachability:
    return Reachability(pool, timeout=lab_inventory.settings.probe_timeout)


@pytest.mark.parametrize("name", HOST_NAMES)
def test_port_open_from_lan_before_firewall(lab_inventory: Inventory, name: str) -> None:
    """Before bootstrap, a host's SSH port answers the runner (the operator's workstation on the LAN)."""
    host = lab_inventory.hosts[name]
    assert probe_here(Probe(str(host.address), 22), timeout=3) is Outcome.OPEN


@pytest.mark.parametrize("vantage", ["guest", "vpn-client"])
@pytest.mark.parametrize("name", HOST_NAMES)
def test_port_open_from_routed_vantage(lab_inventory: Inventory, reach: Reachability, name: str,
                                       vantage: str) -> None:
    """The router forwards guest and VPN traffic to the LAN with no ACLs, as a home router does."""
    probe = Probe(str(lab_inventory.hosts[name].address), 22)
    assert reach.outcome(vantage, lab_inventory.vantages[vantage], probe) is Outcome.OPEN


@pytest.fixture(scope="module")
def platform_listeners(lab_inventory: Inventory, pool: SSHPool) -> Iterator[None]:
    """Listeners on 80 and 81 on the platform, and the router forwarding 80 (as `lab up` does for a port marked
    public; the shipped inventory marks none), undone afterwards."""
    platform = lab_inventory.hosts["platform"]
    forward = (f"-t nat {{}} PREROUTING -d {lab_inventory.public_address} -p tcp --dport {FORWARDED} -j DNAT "
               f"--to-destination {platform.address}:{FORWARDED}",
               f"{{}} FORWARD -d {platform.address} -p tcp --dport {FORWARDED} -m conntrack --ctstate DNAT -j ACCEPT")
    router = lab_inventory.router
    assert router is not None, "the lab inventory has no router"
    for rule in forward:
        pool.run(router, "iptables " + rule.format("-I"))
    pids = [start_listener(pool, platform, port) for port in (FORWARDED, NOT_FORWARDED)]
    yield
    for pid in pids:
        stop_listener(pool, platform, pid)
    for rule in forward:
        pool.run(router, "iptables " + rule.format("-D"))


@pytest.mark.usefixtures("platform_listeners")
@pytest.mark.parametrize(("port", "expected"), [(FORWARDED, Outcome.OPEN), (NOT_FORWARDED, Outcome.FILTERED)],
                         ids=["forwarded-80", "not-forwarded-81"])
def test_wan_reaches_only_forwarded_ports(lab_inventory: Inventory, reach: Reachability, port: int,
                                          expected: Outcome) -> None:
    """From the internet, the public address answers on ports marked public, and on nothing else."""
    probe = Probe(str(lab_inventory.public_address), port)
    assert reach.outcome("wan", lab_inventory.vantages["wan"], probe) is expected


@pytest.mark.usefixtures("platform_listeners")
def test_not_forwarded_port_listens_on_lan(lab_inventory: Inventory) -> None:
    """The port the WAN cannot reach does listen: the router, not a dead service, keeps it closed."""
    probe = Probe(str(lab_inventory.hosts["platform"].address), NOT_FORWARDED)
    assert probe_here(probe, timeout=3) is Outcome.OPEN


def test_wan_cannot_reach_lan_addresses(lab_inventory: Inventory, reach: Reachability) -> None:
    """The internet has no route to the LAN: only the router's WAN address exists for it."""
    probe = Probe(str(lab_inventory.hosts["platform"].address), 22)
    assert reach.outcome("wan", lab_inventory.vantages["wan"], probe) is not Outcome.OPEN


@pytest.mark.usefixtures("platform_listeners")
def test_router_keeps_source_address(lab_inventory: Inventory, pool: SSHPool) -> None:
    """A host sees a guest's own address (no NAT between segments), so per-source firewall rules can work."""
    guest, platform = lab_inventory.vantages["guest"], lab_inventory.hosts["platform"]
    sh(pool, guest, f"curl -s -m 5 -o /dev/null http://{platform.address}:{NOT_FORWARDED}/")
    assert sh(pool, platform, f"cat {listener_log(NOT_FORWARDED)}").startswith(f"{guest.address} ")
