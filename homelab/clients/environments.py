"""The Portainer environments the inventory wants: one per host, named after it, with its group and tags.

The platform VM is a Docker environment over the socket Portainer has mounted; Unraid and the Proxmox Docker
VMs are agent environments (`tcp://ADDRESS:9001`, TLS); the gaming PCs are Edge environments. Bootstrap
(bootstrap/environments.py) makes Portainer match; the phase 2 and 3 specs compare the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homelab.clients.portainer import PORT as PORTAINER_PORT
from homelab.model.inventory import Host, Inventory

DOCKER, AGENT, EDGE = 1, 2, 4
KIND_NAMES = {DOCKER: "Docker (socket)", AGENT: "Agent", 3: "Azure", EDGE: "Edge Agent", 5: "Kubernetes"}
SOCKET_URL = "unix:///var/run/docker.sock"
UP = 1
Endpoint = dict[str, Any]


def kind_name(kind: Any) -> str:
    return KIND_NAMES.get(kind, f"type {kind}")


def agent_port(inventory: Inventory) -> int:
    return inventory.services["portainer-agent"].ports[0].port


@dataclass(frozen=True)
class Wanted:
    """The environment the inventory wants for one host."""

    host: Host
    kind: int
    url: str

    @property
    def name(self) -> str:
        return self.host.name

    def __str__(self) -> str:
        return f"a {kind_name(self.kind)} environment named {self.name}{' with URL ' + self.url if self.url else ''}"


def wanted(inventory: Inventory, host: Host) -> Wanted:
    if host.role == "platform":
        return Wanted(host, DOCKER, SOCKET_URL)
    if host.role == "agent":
        return Wanted(host, AGENT, f"tcp://{host.address}:{agent_port(inventory)}")
    # An Edge environment's URL is where its agent polls Portainer (the agent dials out; nothing dials in).
    return Wanted(host, EDGE, edge_poll_url(inventory))


def edge_poll_url(inventory: Inventory) -> str:
    """Where Edge agents poll Portainer: its name through NPM, whose certificate (the homelab's CA, or Let's
    Encrypt) the agent verifies; only without a name, Portainer's own 9443, whose self-signed certificate an agent
    can only accept unverified (EDGE_INSECURE_POLL=1, an accepted risk the report lists)."""
    portainer = inventory.services.get("portainer")
    name = portainer.fqdn_for(inventory.platform_host) if portainer else None
    port = inventory.upstream_port("portainer", PORTAINER_PORT)
    return f"https://{name}" if name else f"https://{inventory.platform_host.address}:{port}"


def edge_poll_verified(inventory: Inventory) -> bool:
    return not edge_poll_url(inventory).endswith(f":{inventory.upstream_port('portainer', PORTAINER_PORT)}")


def edge_key_url(key: str) -> str | None:
    """The Portainer URL an EDGE_KEY sends its agent to ("URL|tunnel|fingerprint|id", base64), None if unreadable."""
    import base64
    import binascii

    try:
        url = base64.b64decode(key + "=" * (-len(key) % 4), validate=True).decode().split("|")[0].rstrip("/")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return url or None


def identity_differences(want: Wanted, found: Endpoint) -> list[str]:
    """Type and URL of Portainer's environment against the inventory's."""
    diffs = []
    if found["Type"] != want.kind:
        diffs.append(f"type {kind_name(found['Type'])}, not {kind_name(want.kind)}")
    if want.kind != EDGE and found.get("URL") != want.url:
        diffs.append(f"URL {found.get('URL')}, not {want.url}")
    if want.kind == EDGE and edge_key_url(str(found.get("EdgeKey") or "")) != want.url:
        diffs.append(f"its Edge key sends the agent to {edge_key_url(str(found.get('EdgeKey') or ''))}, "
                     f"not {want.url}")
    return diffs


def placement_differences(want: Wanted, found: Endpoint, groups: dict[int, str], tags: dict[int, str]) -> list[str]:
    """Group and tags (Portainer ids resolved to names by `groups` and `tags`) against the inventory's."""
    diffs = []
    group = groups.get(found.get("GroupId", 0), f"id {found.get('GroupId')}")
    if group != want.host.portainer.group:
        diffs.append(f"group {group}, not {want.host.portainer.group}")
    found_tags = sorted(tags.get(t, f"id {t}") for t in found.get("TagIds") or [])
    wanted_tags = sorted(want.host.portainer.tags)
    if found_tags != wanted_tags:
        diffs.append(f"tags {', '.join(found_tags) or 'none'}, not {', '.join(wanted_tags) or 'none'}")
    return diffs


def edge_id_mismatch(found: Endpoint, agent_edge_id: str | None) -> str | None:
    """Why Portainer refuses the Edge agent, when the cause is its ID: the environment holds one Edge ID (bound by
    a first poll, or made at creation with `EnforceEdgeID`) and the agent sends another, which Portainer answers
    403 "invalid Edge identifier" on every poll (api/http/security/bouncer.go at 2.23.0). None otherwise."""
    bound = str(found.get("EdgeID") or "")
    if bound and agent_edge_id and agent_edge_id != bound:
        return (f"Portainer holds Edge ID {bound} for this environment and refuses (403) the agent's "
                f"EDGE_ID {agent_edge_id}")
    return None
