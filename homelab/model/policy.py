"""Who may connect to what, derived from the inventory: the one policy that firewalls and specs share.

exposure `platform`: the platform VM only (the agent port). `lan`: the LAN networks. `vpn`: LAN and VPN.
`public`: anyone (the router forwards it). SSH is management: LAN and VPN. A host's own daemons
(`hosts.X.daemons`) join with their exposure. A port the inventory does not list is open to no one but the
host itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from homelab.model.inventory import Host, Inventory, Port, Service

SSH_EXPOSURE = "vpn"
EXPOSURE_KINDS = {"lan": ("lan",), "vpn": ("lan", "vpn")}


@dataclass(frozen=True)
class Source:
    """Where a connection comes from: a name for messages, an address (None: this machine), a network kind."""

    name: str
    address: IPv4Address | None
    kind: str
    origin: str = "host"  # runner (this machine) | host | vantage


def allowed_networks(inventory: Inventory, exposure: str) -> list[IPv4Network] | None:
    """The networks an exposure admits; None means anyone."""
    if exposure == "public":
        return None
    if exposure == "platform":
        return [IPv4Network(f"{inventory.platform_host.address}/32")]
    kinds = EXPOSURE_KINDS[exposure]
    return [n.cidr for n in inventory.networks.values() if n.kind in kinds]


def published(inventory: Inventory, host: Host) -> list[tuple[Service, Port]]:
    """Every (service, port) the inventory publishes on `host`."""
    return [(s, p) for s in inventory.services.values() if host in inventory.hosts_of(s) for p in s.ports]


def exposure_of(inventory: Inventory, host: Host, port: int, protocol: str = "tcp") -> str | None:
    """The exposure of `port` on `host`, `SSH_EXPOSURE` for 22, or None when the inventory does not publish it."""
    if port == host.ssh.port and protocol == "tcp":
        return SSH_EXPOSURE
    found = [p.exposure for _, p in published(inventory, host) if p.port == port and p.protocol == protocol]
    found += [d.exposure for d in host.daemons if d.port == port and d.protocol == protocol]
    return found[0] if found else None


def may_connect(inventory: Inventory, source: Source, host: Host, port: int, protocol: str = "tcp") -> bool:
    """Whether the policy lets `source` open `port` on `host`."""
    if source.address == host.address:
        return True
    exposure = exposure_of(inventory, host, port, protocol)
    if exposure is None:
        return False
    if exposure == "public":
        return True
    if source.address is None:  # this machine: it sits on the runner network
        kind = inventory.networks[inventory.settings.runner_network].kind
        return exposure in ("lan", "vpn") and kind in EXPOSURE_KINDS[exposure]
    networks = allowed_networks(inventory, exposure) or []
    return any(source.address in net for net in networks)


def sources(inventory: Inventory) -> list[Source]:
    """Every place the specs connect from: this machine, each host, each vantage point."""
    runner_kind = inventory.networks[inventory.settings.runner_network].kind
    found = [Source("runner", None, runner_kind, "runner")]
    found += [Source(h.name, h.address, inventory.networks[h.network].kind) for h in inventory.hosts.values()]
    found += [Source(v.name, v.address, inventory.networks[v.network].kind, "vantage")
              for v in inventory.vantages.values()]
    return found
