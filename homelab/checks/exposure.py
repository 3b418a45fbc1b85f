"""Exposure by every path: what an attacker on each vantage reaches, by port and by name, and what listens.

Three views, each judged against one policy (`homelab.model.policy`):
- the attacker's sweep: from the runner and every vantage, a broad port set on every host address (from the
  internet, on the public address only: that is all the internet can address), every open port the policy
  does not allow from there is a finding, named with what answers (an SSH banner, an HTTP `Server`, the
  Docker API);
- names through the reverse proxy: each FQDN asked of every NPM listener a source can reach (NPM's own
  address; from the internet, the public address), over HTTPS (SNI and Host = the name) and HTTP, and under
  a public name's SNI when the homelab has one. Reached only where the name's exposure allows;
- what listens on each host (`/proc/net`, no tool needed): every non-loopback socket is a planned port,
  SSH or a daemon the inventory lists. This sees what the firewall hides and one flush would expose.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from homelab.model.inventory import Host, Inventory
from homelab.model.policy import EXPOSURE_KINDS, Source, allowed_networks, may_connect

# The usual container and admin ports beyond 1-1024 (issue #14): Docker API, dev servers, UIs, exporters, Ollama.
EXTRA_PORTS = (*range(2375, 2378), 3000, 3001, 5000, *range(8000, 8101), 8443, *range(9000, 9101), 9443,
               10000, 11434)
PUBLIC_ADDRESS = "public address"


def attack_ports(inventory: Inventory) -> list[int]:
    """Ports the attacker's sweep tries on every address: 1-1024, the usual extras, every port the inventory
    knows (published, SSH, daemons)."""
    known = {p.port for s in inventory.services.values() for p in s.ports if p.protocol == "tcp"}
    known |= {h.ssh.port for h in inventory.hosts.values()}
    known |= {d.port for h in inventory.hosts.values() for d in h.daemons if d.protocol == "tcp"}
    return sorted(set(range(1, 1025)) | set(EXTRA_PORTS) | known)


@dataclass(frozen=True)
class Surface:
    """One attacker's view: what `source` can open on one host, or (from the internet) on the public address."""

    source: Source
    host: Host | None  # None: the public address

    @property
    def target(self) -> str:
        return self.host.name if self.host else PUBLIC_ADDRESS

    @property
    def phase(self) -> int:
        return self.host.phase if self.host else 1

    @property
    def id(self) -> str:
        return f"{self.host.name if self.host else 'public'}<-{self.source.name}"


def surfaces(inventory: Inventory, found: list[Source]) -> list[Surface]:
    """From the internet the public address (when the inventory has one); from anywhere else every host."""
    result: list[Surface] = []
    for source in found:
        if source.kind == "wan":
            if inventory.public_address is not None:
                result.append(Surface(source, None))
            continue
        result += [Surface(source, h) for h in inventory.hosts.values() if h.address != source.address]
    return result


def public_ports(inventory: Inventory, protocol: str = "tcp") -> set[int]:
    """Ports the router may forward: every port some host publishes (or a daemon serves) with exposure public."""
    return {p.port for s, h in inventory.instances() for p in s.ports if p.exposure == "public" and
            p.protocol == protocol} | {d.port for h in inventory.hosts.values() for d in h.daemons
                                       if d.exposure == "public" and d.protocol == protocol}


def allowed(inventory: Inventory, surface: Surface, port: int) -> bool:
    if surface.host is None:
        return port in public_ports(inventory)
    return may_connect(inventory, surface.source, surface.host, port)


def what_answers(answer: dict[str, Any] | None) -> str:
    """A short description of what answered a banner probe: the SSH banner, the HTTP server, the Docker API."""
    if not answer:
        return "not identified"
    if "banner" in answer:
        banner = str(answer["banner"]).strip().splitlines()
        return f"banner {banner[0][:80]!r}" if banner and banner[0] else "a silent TCP service"
    if "status" in answer:
        headers = answer.get("headers", {})
        if is_docker_api(answer):
            return f"the Docker API (Api-Version {headers.get('api-version')}): a Docker socket exposed"
        server = headers.get("server")
        return f"HTTP {answer['status']}" + (f", Server: {server}" if server else "")
    return f"no HTTP answer ({answer.get('error', 'unknown')})"


def is_docker_api(answer: dict[str, Any]) -> bool:
    """Docker's `/_ping` answers `OK` with an `Api-Version` header (engine, socket relay or proxy alike)."""
    headers = answer.get("headers") or {}
    return "api-version" in headers and ("docker" in headers.get("server", "").lower()
                                         or str(answer.get("body", "")).strip().startswith("OK"))


# -- names through the reverse proxy -----------------------------------------------------------------------
NPM_DENIED = ("<title>403 Forbidden</title>", "<h1>403 Forbidden</h1>")
NPM_DEFAULT_SITE = "Congratulations"  # NPM's default site: a name no proxy host serves


@dataclass(frozen=True)
class NameAsk:
    """One request of a name through one NPM listener: `sni` differs from `fqdn` for the mismatch probe."""

    fqdn: str
    address: str
    scheme: str  # https | http
    sni: str | None = None

    @property
    def key(self) -> str:
        via = f" under SNI {self.sni}" if self.sni and self.sni != self.fqdn else ""
        return f"{self.scheme}://{self.fqdn} via {self.address}{via}"

    def request(self) -> dict[str, Any]:
        port = 443 if self.scheme == "https" else 80
        return {"key": self.key, "address": self.address, "port": port, "tls": self.scheme == "https",
                "sni": self.sni or self.fqdn, "host": self.fqdn, "path": "/"}


def classify(answer: dict[str, Any] | None) -> tuple[str, bool]:
    """(what was found, whether the service was reached). A redirect to HTTPS, NPM's 403 and its default site
    reach nothing; any other HTTP answer came from the service behind the name."""
    if answer is None:
        return "not observed: no answer from the probe", False
    error = answer.get("error")
    if error in ("closed", "filtered"):
        return str(error), False
    if error == "tls-refused":
        return f"no TLS (handshake refused: {answer.get('detail', '')})", False
    if error:
        return f"not observed: {error} {answer.get('detail', '')}".strip(), False
    if "status" not in answer:
        return f"not observed: not HTTP ({what_answers(answer)})", False
    status, body = int(answer["status"]), str(answer.get("body", ""))
    location = str((answer.get("headers") or {}).get("location", ""))
    if status == 403 and any(mark in body for mark in NPM_DENIED):
        return "refused by NPM (403)", False
    if status in (301, 302, 307, 308) and location.startswith("https://"):
        return "redirect to HTTPS", False
    if NPM_DEFAULT_SITE in body or (status == 404 and "<center>" in body):
        return f"NPM's default site (HTTP {status})", False
    return f"reached (HTTP {status})", True


def observed(found: str) -> bool:
    return not found.startswith("not observed")


# -- what listens on a host ----------------------------------------------------------------------------------
LISTENERS_COMMAND = ("for f in tcp tcp6 udp udp6; do echo \"== $f\"; cat /proc/net/$f 2>&1 || "
                     "echo \"unreadable $f\"; done; "
                     "echo \"== ephemeral $(cat /proc/sys/net/ipv4/ip_local_port_range)\"")
EPHEMERAL = (32768, 60999)  # Linux's default ip_local_port_range, where the host does not say
TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"


@dataclass(frozen=True, order=True)
class Listener:
    protocol: str
    port: int
    address: str

    def __str__(self) -> str:
        shown = f"[{self.address}]" if ":" in self.address else self.address
        return f"{shown}:{self.port}/{self.protocol}"


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))  # four host-order 32-bit words
    v6 = ipaddress.IPv6Address(words)
    return str(v6.ipv4_mapped) if v6.ipv4_mapped else str(v6)


def ephemeral_range(output: str) -> tuple[int, int]:
    """The host's ip_local_port_range from LISTENERS_COMMAND output (Linux's default where it is missing)."""
    for line in output.splitlines():
        parts = line.split()
        if parts[:2] == ["==", "ephemeral"] and len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            return int(parts[2]), int(parts[3])
    return EPHEMERAL


def parse_listeners(output: str) -> list[Listener]:
    """Sockets listening (TCP) or bound unconnected (UDP) in `/proc/net/{tcp,tcp6,udp,udp6}` output, as
    printed by LISTENERS_COMMAND. A UDP socket on a port of the ephemeral range is a client's (a resolver
    waiting for its answer shows as unconnected too), not a server's: left out. Raises ValueError when the
    output is not that (could not observe)."""
    found: set[Listener] = set()
    protocol, tables = "", 0
    low, high = ephemeral_range(output)
    for line in output.splitlines():
        if line.startswith("== ephemeral"):
            continue
        if line.startswith("== "):
            protocol = line[3:].strip().rstrip("6")
            continue
        if line.startswith("unreadable"):
            continue
        parts = line.split()
        if parts[:1] == ["sl"]:
            tables += 1
            continue
        if len(parts) < 4 or not parts[0].rstrip(":").isdigit() or ":" not in parts[1] or not protocol:
            continue
        local, state = parts[1], parts[3]
        if (protocol == "tcp" and state != TCP_LISTEN) or (protocol == "udp" and state != UDP_UNCONNECTED):
            continue
        address, _, port = local.partition(":")
        if protocol == "udp" and low <= int(port, 16) <= high:
            continue
        found.add(Listener(protocol, int(port, 16), _address(address)))
    if tables == 0:
        raise ValueError(f"no /proc/net table in the output: {output.strip()[:200]!r}")
    return sorted(found)


def exposed(listener: Listener) -> bool:
    """Bound to an address other hosts can reach: not loopback (a wildcard counts)."""
    return not ipaddress.ip_address(listener.address).is_loopback


def planned_listener(inventory: Inventory, host: Host, listener: Listener) -> bool:
    """SSH, a port the inventory publishes on the host, or a daemon it lists."""
    if listener.protocol == "tcp" and listener.port == host.ssh.port:
        return True
    published = {(p.port, p.protocol) for s in inventory.services.values() if host in inventory.hosts_of(s)
                 for p in s.ports}
    daemons = {(d.port, d.protocol) for d in host.daemons}
    return (listener.port, listener.protocol) in published | daemons


def name_allowed(inventory: Inventory, source: Source, exposure: str) -> bool:
    """Whether the policy lets `source` reach a name of `exposure` through NPM."""
    if exposure == "public":
        return True
    if exposure == "platform":
        return source.address == inventory.platform_host.address
    if source.address is None:  # this machine: it sits on the runner network
        return inventory.networks[inventory.settings.runner_network].kind in EXPOSURE_KINDS[exposure]
    return any(source.address in net for net in allowed_networks(inventory, exposure) or [])


DOCKER_PING_FALLBACK = (  # hosts without python3 (Unraid): plain HTTP only, through bash's /dev/tcp
    'for ap in {targets}; do a=${{ap%:*}}; p=${{ap##*:}}; '
    'r=$(timeout 3 bash -c "exec 3<>/dev/tcp/$a/$p; printf \'GET /_ping HTTP/1.0\\r\\n\\r\\n\' >&3; '
    'head -c 800 <&3" 2>/dev/null | tr -d \'\\r\' | grep -i \'^api-version:\'); echo "$ap ${{r:-none}}"; done')


# -- the router's port forwards ------------------------------------------------------------------------------
ROUTER_FORWARDS_COMMAND = "iptables -t nat -S PREROUTING"


@dataclass(frozen=True, order=True)
class Forward:
    """One port forward (DNAT) of the router: `protocol`/`port` on its WAN side to `to` (ADDRESS[:PORT])."""

    protocol: str
    port: int
    to: str

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol} -> {self.to}"


def parse_forwards(output: str) -> list[Forward]:
    """The DNAT rules in `iptables -t nat -S PREROUTING` output (ports as single ports or `a:b` ranges).
    Raises ValueError when the output is not that listing (the router could not be read)."""
    if not any(line.startswith("-P PREROUTING") or line.startswith("-N ") for line in output.splitlines()):
        raise ValueError(f"not an iptables listing: {output.strip()[:200]!r}")
    found: list[Forward] = []
    for line in output.splitlines():
        words = line.split()
        if "DNAT" not in words or "--to-destination" not in words:
            continue
        protocol = words[words.index("-p") + 1] if "-p" in words else "all"
        to = words[words.index("--to-destination") + 1]
        key = "--dport" if "--dport" in words else "--dports" if "--dports" in words else None
        if key is None:
            found.append(Forward(protocol, 0, to))  # every port
            continue
        for part in words[words.index(key) + 1].split(","):
            low, _, high = part.partition(":")
            found += [Forward(protocol, p, to) for p in range(int(low), int(high or low) + 1)]
    return sorted(found)
