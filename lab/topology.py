"""What the lab is made of: its networks, its machines, their addresses. The one place to add a host."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from homelab.model.paths import REPO as REPO  # re-exported: lab.faults and the proofs import it from here
from lab.docker import LabError

LAB_DIR = REPO / ".lab"
SEED_INVENTORY = REPO / "inventory.yaml"
DOCKERFILES = Path(__file__).resolve().parent / "dockerfiles"
PREFIX = "lab-"  # container, network and volume names: lab-platform, lab-lan, lab-platform-docker


@dataclass(frozen=True)
class Net:
    name: str
    cidr: str
    kind: str
    description: str

    def at(self, last_octet: int) -> str:
        return self.cidr.rsplit(".", 1)[0] + f".{last_octet}"


NETWORKS = {
    "lan": Net("lan", "198.18.10.0/24", "lan", "home LAN: servers and PCs (the runner is .1)"),
    "vpn": Net("vpn", "198.18.20.0/24", "vpn", "WireGuard clients"),
    "guest": Net("guest", "198.18.30.0/24", "guest", "guest and IoT Wi-Fi"),
    "wan": Net("wan", "198.19.0.0/24", "wan", "the internet, as seen from outside"),
}
INTERNAL = ("lan", "vpn", "guest")  # routed to one another by the router, with no ACLs
ROUTER = {"lan": NETWORKS["lan"].at(254), "vpn": NETWORKS["vpn"].at(254),
          "guest": NETWORKS["guest"].at(254), "wan": NETWORKS["wan"].at(2)}
PUBLIC_ADDRESS = ROUTER["wan"]
REGISTRY_ADDRESS = NETWORKS["lan"].at(5)
REGISTRY = f"{REGISTRY_ADDRESS}:5000"
GIT_ADDRESS = NETWORKS["lan"].at(6)  # the Git server the inventory's git.repository names (lab.gitserver)
GIT_TLS = LAB_DIR / "git-tls"        # its certificate and key, from the lab CA (mounted read-only)
REGISTRY_TLS = LAB_DIR / "registry-tls"  # the registry's certificate for the upstream registries' names



@dataclass(frozen=True)
class Machine:
    """One lab container. kind: host (sshd + dockerd + firewall), vantage, router, registry or git."""

    name: str
    kind: str
    image: str
    addresses: dict[str, str]
    user: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    like: str | None = None  # the seed inventory's host whose entry it copies (an extra agent); else its own

    @property
    def container(self) -> str:
        return PREFIX + self.name

    @property
    def volume(self) -> str | None:
        return {"host": f"{self.container}-docker", "registry": f"{self.container}-data",
                "git": f"{self.container}-data"}.get(self.kind)

    @property
    def network(self) -> str:
        return next(iter(self.addresses))

    @property
    def address(self) -> str:
        return self.addresses[self.network]


def _host_routes() -> str:
    """Hosts keep the Docker gateway as default route; the other segments are behind the router."""
    others = [NETWORKS[n].cidr for n in ("vpn", "guest", "wan")]
    return ";".join(f"replace {cidr} via {ROUTER['lan']}" for cidr in others)


def _host(name: str, octet: int, image: str = "host", user: str = "admin", like: str | None = None,
          **env: str) -> Machine:
    return Machine(name, "host", image, {"lan": NETWORKS["lan"].at(octet)}, user,
                   {"LAB_ROUTES": _host_routes(), "LAB_REGISTRY": REGISTRY, **env}, like)


def _vantage(name: str, net: str, routes: str) -> Machine:
    return Machine(name, "vantage", "vantage", {net: NETWORKS[net].at(10)}, "probe", {"LAB_ROUTES": routes})


HOSTS = (
    _host("platform", 10, LAB_NAMESERVER="127.0.0.1"),
    _host("unraid", 20, image="unraid", user="root"),
    _host("pve-docker-1", 21),
    _host("pve-docker-2", 22),
    _host("gaming-pc-1", 30, LAB_GPU="nvidia"),
)
VANTAGES = (
    _vantage("vpn-client", "vpn", f"replace default via {ROUTER['vpn']}"),
    _vantage("guest", "guest", f"replace default via {ROUTER['guest']}"),
    _vantage("wan", "wan", "del default"),  # on the internet: it reaches the router's WAN address only
)
INFRA = (
    Machine("registry", "registry", "registry", {"lan": REGISTRY_ADDRESS}),
    Machine("git", "git", "git", {"lan": GIT_ADDRESS}),
    Machine("router", "router", "router", dict(ROUTER), "root"),
)
MACHINES = {m.name: m for m in (*INFRA, *HOSTS, *VANTAGES)}  # the lab without extra agents

# Extra Proxmox Docker VMs for scaling runs (`lab up --extra-agents N`): pve-docker-3, -4, ... at LAN .40 up,
# each a copy of pve-docker-1 in the inventory. The count is kept in .lab/ so that a plain `lab up` keeps them.
EXTRA_AGENTS_FILE = LAB_DIR / "extra-agents"
EXTRA_TEMPLATE = "pve-docker-1"
MAX_EXTRA_AGENTS = 40


def extra_agent(index: int) -> Machine:
    return _host(f"pve-docker-{index + 3}", 40 + index, like=EXTRA_TEMPLATE)


def extra_agents() -> int:
    """How many extra agents the lab has (0 unless `lab up --extra-agents N` said otherwise)."""
    try:
        text = EXTRA_AGENTS_FILE.read_text().strip()
    except FileNotFoundError:
        return 0
    if not text.isdigit() or int(text) > MAX_EXTRA_AGENTS:
        raise LabError(f"{EXTRA_AGENTS_FILE}: {text!r} is not a count of extra agents (0 to {MAX_EXTRA_AGENTS}); "
                       "run `lab up --extra-agents N`")
    return int(text)


def set_extra_agents(count: int) -> None:
    if not 0 <= count <= MAX_EXTRA_AGENTS:
        raise LabError(f"--extra-agents {count}: expected 0 to {MAX_EXTRA_AGENTS}")
    LAB_DIR.mkdir(exist_ok=True)
    if count:
        EXTRA_AGENTS_FILE.write_text(f"{count}\n")
    else:
        EXTRA_AGENTS_FILE.unlink(missing_ok=True)


def hosts() -> tuple[Machine, ...]:
    """The lab's hosts now: the seed's, then the extra agents."""
    return (*HOSTS, *(extra_agent(i) for i in range(extra_agents())))


def machines() -> dict[str, Machine]:
    return {m.name: m for m in (*INFRA, *hosts(), *VANTAGES)}


def machine(name: str) -> Machine:
    found = machines()
    if name not in found:
        raise LabError(f"no lab machine {name!r}; expected one of: {', '.join(found)}")
    return found[name]
