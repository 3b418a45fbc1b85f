"""The inventory: one typed description of the homelab, shared by bootstrap, specs and lab.

The data model alone: the vocabularies, the frozen dataclasses and what the `Inventory` answers about itself.
`homelab.model.inventory_loader.load_inventory(path)` reads and validates the file into one. See docs/inventory.md
for the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from urllib.parse import urlparse

PLATFORMS = ("proxmox-vm", "unraid", "wsl2")
ROLES = ("platform", "agent", "edge")
AVAILABILITY = ("always-on", "on-demand")
NETWORK_KINDS = ("lan", "vpn", "guest", "wan")
EXPOSURES = ("platform", "lan", "vpn", "public")
PROTOCOLS = ("tcp", "udp")
SOCKET_ACCESS = ("none", "ro", "rw")
# What a container may take from its host, each only where a service allows it by name (`host_access`).
HOST_ACCESS = ("privileged", "pid", "network", "root")
OS_NAMES = ("debian", "ubuntu", "unraid")
# The stacks of stacks/ and the rollout phase that deploys each.
STACK_PHASES = {"platform": 1, "agent": 2, "edge-agent": 3, "gpu-worker": 3, "monitoring": 4, "exporters": 4}
# The services whose API bootstrap and the specs ask (through homelab.clients.connect): the loader refuses one that
# does not say which port that is, its `upstream` or its only TCP port, rather than fail later mid-run.
API_SERVICES = ("portainer", "npm", "technitium", "uptime-kuma", "prometheus", "grafana")


@dataclass(frozen=True)
class Settings:
    connect_timeout: float = 3.0
    probe_timeout: float = 1.5
    command_timeout: float = 30.0
    env_file: Path = Path(".env")
    ca_bundle: Path | None = None
    known_hosts: Path | None = None
    trust_on_first_use: bool = False
    runner_network: str = "lan"
    cert_min_days: int = 14
    cert_warn_days: int = 30
    monitor_interval: int = 60
    image_map: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Network:
    name: str
    cidr: IPv4Network
    kind: str
    description: str = ""


@dataclass(frozen=True)
class SSHAccess:
    user: str
    key: Path | None
    port: int = 22
    host_key: str | None = None


@dataclass(frozen=True)
class Vantage:
    """A place connections come from: a VPN client, a guest-network device, a machine on the internet."""

    name: str
    address: IPv4Address
    network: str
    ssh: SSHAccess


@dataclass(frozen=True)
class PortainerPlacement:
    group: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gpu:
    vendor: str
    model: str = ""


@dataclass(frozen=True)
class Daemon:
    """A program of the host itself (not a container) that may listen on a non-loopback address: Unraid's web
    UI, an NFS server. Its port joins the policy with its exposure; sshd is always planned (SSH_EXPOSURE)."""

    name: str
    port: int
    protocol: str = "tcp"
    exposure: str = "lan"


@dataclass(frozen=True)
class Host:
    name: str
    address: IPv4Address
    network: str
    platform: str
    role: str
    os: str
    availability: str
    ssh: SSHAccess
    portainer: PortainerPlacement
    stacks: tuple[str, ...]
    hostname: str
    gpu: Gpu | None = None
    daemons: tuple[Daemon, ...] = ()
    extra_containers: tuple[str, ...] = ()  # may run though no stack of the inventory explains them

    @property
    def on_demand(self) -> bool:
        return self.availability == "on-demand"

    @property
    def phase(self) -> int:
        """The rollout phase that first sets this host up (the earliest of its stacks)."""
        return min((STACK_PHASES[s] for s in self.stacks), default=1)


@dataclass(frozen=True)
class Port:
    port: int
    protocol: str = "tcp"
    exposure: str = "vpn"

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Upstream:
    port: int
    scheme: str = "http"


@dataclass(frozen=True)
class Service:
    name: str
    stack: str
    ports: tuple[Port, ...]
    exposure: str
    fqdn: str | None = None
    upstream: Upstream | None = None
    docker_socket: str = "none"
    only_on: tuple[str, ...] = ()
    host_access: tuple[str, ...] = ()  # HOST_ACCESS items its containers may use

    @property
    def phase(self) -> int:
        return STACK_PHASES[self.stack]

    def fqdn_for(self, host: Host) -> str | None:
        """The name NPM serves this service under on `host` (`{host}` filled in)."""
        return self.fqdn.replace("{host}", host.name) if self.fqdn else None


@dataclass(frozen=True)
class TlsIssuer:
    """Where NPM's certificates come from: Let's Encrypt by DNS challenge, or a CA of our own (the lab's)."""

    issuer: str
    dns_provider: str | None = None
    dns_credentials_secret: str | None = None
    ca_cert: Path | None = None
    ca_key: Path | None = None


GIT_DEPLOY = ("portainer", "direct")


@dataclass(frozen=True)
class GitSource:
    """Where Portainer pulls the stacks from, and how (docs/gitops.md)."""

    repository: str
    ref: str = "refs/heads/main"
    deploy: str = "portainer"           # portainer: Git stacks in Portainer; direct: bootstrap runs docker compose
    poll: str | None = "5m"             # GitOps: how often Portainer compares the ref with what it deployed
    address: IPv4Address | None = None  # the repository host's address, for Technitium (a name in the domain)
    username: str | None = None         # credentials for a private repository: the user name...
    password_secret: str | None = None  # ... and the secret (a token) that holds its password

    @property
    def host_name(self) -> str:
        return urlparse(self.repository).hostname or ""

    def compose_path(self, stack: str) -> str:
        """The stack's compose file in the repository, as Portainer's ComposeFile."""
        return f"stacks/{stack}/compose.yaml"


@dataclass(frozen=True)
class Inventory:
    path: Path
    name: str
    domain: str
    settings: Settings
    networks: dict[str, Network]
    hosts: dict[str, Host]
    services: dict[str, Service]
    vantages: dict[str, Vantage]
    secrets: dict[str, str]
    public_address: IPv4Address | None = None
    git: GitSource | None = None
    tls: TlsIssuer | None = None
    router: Vantage | None = None  # SSH access to the router, to read its port forwards (optional)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def platform_host(self) -> Host:
        return next(h for h in self.hosts.values() if h.role == "platform")

    def hosts_with_stack(self, stack: str) -> list[Host]:
        return [h for h in self.hosts.values() if stack in h.stacks]

    def hosts_of(self, service: Service) -> list[Host]:
        hosts = self.hosts_with_stack(service.stack)
        return [h for h in hosts if h.name in service.only_on] if service.only_on else hosts

    def instances(self, phase: int | None = None) -> Iterator[tuple[Service, Host]]:
        """Every (service, host) pair the inventory deploys, optionally of one phase."""
        for service in self.services.values():
            if phase is None or service.phase == phase:
                for host in self.hosts_of(service):
                    yield service, host

    def upstream_port(self, service: str, default: int) -> int:
        """The port of `service`'s own web UI or API (its `upstream`: what NPM forwards its name to); `default`
        where the inventory has no such service or it names no upstream."""
        found = self.services.get(service)
        return found.upstream.port if found is not None and found.upstream is not None else default

    def network_of(self, address: IPv4Address) -> Network | None:
        return next((n for n in self.networks.values() if address in n.cidr), None)

    def networks_of_kind(self, kind: str) -> list[Network]:
        return [n for n in self.networks.values() if n.kind == kind]
