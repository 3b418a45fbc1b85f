"""The inventory: one typed, validated description of the homelab, shared by bootstrap, specs and lab.

`load_inventory(path)` returns an `Inventory` or raises `InventoryError` whose message is one line:
`FILE:LINE: dotted.path: what is wrong; expected what`. See docs/inventory.md for the schema.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from homelab.schema import Reader, SchemaError
from homelab.yamlfile import YamlError, load_yaml

PLATFORMS = ("proxmox-vm", "unraid", "wsl2")
ROLES = ("platform", "agent", "edge")
AVAILABILITY = ("always-on", "on-demand")
NETWORK_KINDS = ("lan", "vpn", "guest", "wan")
EXPOSURES = ("platform", "lan", "vpn", "public")
PROTOCOLS = ("tcp", "udp")
SOCKET_ACCESS = ("none", "ro", "rw")
OS_NAMES = ("debian", "ubuntu", "unraid")
# The stacks of stacks/ and the rollout phase that deploys each.
STACK_PHASES = {"platform": 1, "agent": 2, "edge-agent": 3, "gpu-worker": 3, "monitoring": 4, "exporters": 4}


class InventoryError(Exception):
    """The inventory cannot be used; the message names the file, the field and the fix."""


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

    @property
    def on_demand(self) -> bool:
        return self.availability == "on-demand"


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

    @property
    def phase(self) -> int:
        return STACK_PHASES[self.stack]

    def fqdn_for(self, host: Host) -> str | None:
        """The name NPM serves this service under on `host` (`{host}` filled in)."""
        return self.fqdn.replace("{host}", host.name) if self.fqdn else None


@dataclass(frozen=True)
class GitSource:
    repository: str
    ref: str = "refs/heads/main"


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

    def network_of(self, address: IPv4Address) -> Network | None:
        return next((n for n in self.networks.values() if address in n.cidr), None)

    def networks_of_kind(self, kind: str) -> list[Network]:
        return [n for n in self.networks.values() if n.kind == kind]


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory at `path`; raise InventoryError with a one-line message."""
    path = Path(path).expanduser().resolve()
    try:
        data, lines = load_yaml(path)
    except YamlError as exc:
        raise InventoryError(str(exc)) from None
    if data is None:
        raise InventoryError(f"{path}: the file is empty; expected a mapping with name, domain, networks, hosts, services")
    try:
        return _build(Reader(data, path, lines), path)
    except SchemaError as exc:
        raise InventoryError(str(exc)) from None


def _build(root: Reader, path: Path) -> Inventory:
    root.only("name", "domain", "public_address", "settings", "git", "networks", "hosts", "services",
              "vantages", "secrets")
    networks = {name: _network(name, r) for name, r in root.mapping("networks", required=True).items()}
    if not any(n.kind == "lan" for n in networks.values()):
        root.child("networks").fail("no network of kind lan; expected at least one (the home LAN)")
    settings = _settings(root.optional_reader("settings"), networks, path.parent)
    hosts = {name: _host(name, r, networks) for name, r in root.mapping("hosts", required=True).items()}
    services = {name: _service(name, r) for name, r in root.mapping("services", required=True).items()}
    vantages = {name: _vantage(name, r, networks, path.parent) for name, r in root.mapping("vantages").items()}
    inventory = Inventory(
        path=path,
        name=root.string("name", required=True),
        domain=root.hostname("domain", required=True),
        settings=settings,
        networks=networks,
        hosts=hosts,
        services=services,
        vantages=vantages,
        secrets=_secrets(root),
        public_address=root.address("public_address"),
        git=_git(root.optional_reader("git")),
    )
    _cross_check(root, inventory)
    return inventory


def _network(name: str, r: Reader) -> Network:
    r.only("cidr", "kind", "description")
    return Network(name, r.network("cidr", required=True), r.choice("kind", NETWORK_KINDS, required=True),
                   r.string("description") or "")


def _settings(r: Reader | None, networks: dict[str, Network], base: Path) -> Settings:
    if r is None:
        return Settings(env_file=base / ".env")
    r.only(*Settings.__dataclass_fields__)
    runner = r.string("runner_network") or "lan"
    if runner not in networks:
        r.child("runner_network").fail(f"unknown network {runner!r}; expected one of {', '.join(networks)}")
    defaults = Settings()
    return Settings(
        connect_timeout=r.number("connect_timeout", low=0.1, high=120) or defaults.connect_timeout,
        probe_timeout=r.number("probe_timeout", low=0.1, high=60) or defaults.probe_timeout,
        command_timeout=r.number("command_timeout", low=1, high=3600) or defaults.command_timeout,
        env_file=r.file_path("env_file", base) or base / ".env",
        ca_bundle=r.file_path("ca_bundle", base),
        known_hosts=r.file_path("known_hosts", base),
        trust_on_first_use=r.boolean("trust_on_first_use"),
        runner_network=runner,
        cert_min_days=int(r.number("cert_min_days", low=0, high=3650) or defaults.cert_min_days),
        cert_warn_days=int(r.number("cert_warn_days", low=0, high=3650) or defaults.cert_warn_days),
        image_map=r.string_map("image_map"),
    )


def _ssh(r: Reader, base: Path) -> SSHAccess:
    r.only("user", "port", "key", "host_key")
    return SSHAccess(user=r.string("user", required=True), port=r.port("port") or 22,
                     key=r.file_path("key", base), host_key=r.host_key("host_key"))


def _placed(r: Reader, field_name: str, networks: dict[str, Network]) -> tuple[IPv4Address, str]:
    """An address and the network it lies in; one outside every network is an error."""
    address = r.address(field_name, required=True)
    assert address is not None
    for net in networks.values():
        if address in net.cidr:
            return address, net.name
    cidrs = ", ".join(f"{n.name} {n.cidr}" for n in networks.values())
    r.child(field_name).fail(f"{address} is in no network of the inventory; expected an address in one of: {cidrs}")
    raise AssertionError  # unreachable: fail() raises


def _host(name: str, r: Reader, networks: dict[str, Network]) -> Host:
    r.only("address", "hostname", "platform", "role", "os", "availability", "ssh", "portainer", "gpu", "stacks")
    r.name_key(name)
    address, network = _placed(r, "address", networks)
    portainer = r.optional_reader("portainer")
    placement = PortainerPlacement(group="Unassigned")
    if portainer is not None:
        portainer.only("group", "tags")
        placement = PortainerPlacement(portainer.string("group") or "Unassigned", tuple(portainer.string_list("tags")))
    gpu_reader = r.optional_reader("gpu")
    gpu = None
    if gpu_reader is not None:
        gpu_reader.only("vendor", "model")
        gpu = Gpu(gpu_reader.choice("vendor", ("nvidia",), required=True), gpu_reader.string("model") or "")
    stacks = r.string_list("stacks")
    for index, stack in enumerate(stacks):
        if stack not in STACK_PHASES:
            r.child("stacks").child(str(index)).fail(
                f"unknown stack {stack!r}; expected one of {', '.join(STACK_PHASES)}")
    return Host(
        name=name, address=address, network=network,
        platform=r.choice("platform", PLATFORMS, required=True),
        role=r.choice("role", ROLES, required=True),
        os=r.choice("os", OS_NAMES, required=True),
        availability=r.choice("availability", AVAILABILITY) or "always-on",
        ssh=_ssh(r.reader("ssh"), r.base), portainer=placement, stacks=tuple(stacks),
        hostname=r.hostname("hostname") or name, gpu=gpu,
    )


def _service(name: str, r: Reader) -> Service:
    r.only("stack", "ports", "exposure", "fqdn", "upstream", "docker_socket", "hosts")
    r.name_key(name)
    exposure = r.choice("exposure", EXPOSURES, required=True)
    assert exposure is not None
    ports = []
    for item in r.reader_list("ports"):
        item.only("port", "protocol", "exposure")
        ports.append(Port(item.port("port", required=True) or 0, item.choice("protocol", PROTOCOLS) or "tcp",
                          item.choice("exposure", EXPOSURES) or exposure))
    seen: set[tuple[int, str]] = set()
    for index, port in enumerate(ports):
        if (port.port, port.protocol) in seen:
            r.child("ports").child(str(index)).fail(f"port {port} is listed twice; expected each port once")
        seen.add((port.port, port.protocol))
    upstream = None
    up = r.optional_reader("upstream")
    if up is not None:
        up.only("port", "scheme")
        upstream = Upstream(up.port("port", required=True) or 0, up.choice("scheme", ("http", "https")) or "http")
    fqdn = r.hostname("fqdn", template=True)
    if fqdn and upstream is None:
        r.child("fqdn").fail("a service with an fqdn needs `upstream: {port: N}`: the port NPM forwards to")
    return Service(name=name, stack=r.choice("stack", tuple(STACK_PHASES), required=True) or "",
                   ports=tuple(ports), exposure=exposure, fqdn=fqdn, upstream=upstream,
                   docker_socket=r.choice("docker_socket", SOCKET_ACCESS) or "none",
                   only_on=tuple(r.string_list("hosts")))


def _vantage(name: str, r: Reader, networks: dict[str, Network], base: Path) -> Vantage:
    r.only("address", "ssh")
    r.name_key(name)
    address, network = _placed(r, "address", networks)
    return Vantage(name, address, network, _ssh(r.reader("ssh"), base))


def _secrets(root: Reader) -> dict[str, str]:
    secrets = root.string_map("secrets")
    for key in secrets:
        if not key.replace("_", "").isalnum() or not key[0].isalpha() or key.upper() != key:
            root.child("secrets").child(key).fail(
                f"{key!r} is not an environment variable name; expected UPPER_CASE letters, digits and _")
    return secrets


def _git(r: Reader | None) -> GitSource | None:
    if r is None:
        return None
    r.only("repository", "ref")
    return GitSource(r.string("repository", required=True), r.string("ref") or "refs/heads/main")


def _cross_check(root: Reader, inv: Inventory) -> None:
    """What no single field can tell: names used twice, unknown references, missing roles."""
    addresses: dict[IPv4Address, str] = {}
    for kind, items in (("hosts", inv.hosts), ("vantages", inv.vantages)):
        for name, item in items.items():
            if name in inv.hosts and kind == "vantages":
                root.child(kind).child(name).fail(f"the name {name!r} is used by a host too; expected unique names")
            other = addresses.get(item.address)
            if other:
                root.child(kind).child(name).child("address").fail(
                    f"{item.address} is already the address of {other}; expected one address per machine")
            addresses[item.address] = f"{kind}.{name}"
    platforms = [h.name for h in inv.hosts.values() if h.role == "platform"]
    if len(platforms) != 1:
        root.child("hosts").fail(
            f"{len(platforms)} hosts have role platform ({', '.join(platforms) or 'none'}); expected exactly one")
    for service in inv.services.values():
        for index, name in enumerate(service.only_on):
            if name not in inv.hosts:
                root.child("services").child(service.name).child("hosts").child(str(index)).fail(
                    f"unknown host {name!r}; expected one of {', '.join(inv.hosts)}")
            if service.stack not in inv.hosts[name].stacks:
                root.child("services").child(service.name).child("hosts").child(str(index)).fail(
                    f"host {name!r} does not list stack {service.stack!r}; add it to hosts.{name}.stacks")
        if not inv.hosts_of(service):
            root.child("services").child(service.name).child("stack").fail(
                f"no host lists stack {service.stack!r}; expected it under some host's `stacks`")
    if inv.public_address is None and any(
            p.exposure == "public" for s in inv.services.values() for p in s.ports):
        root.fail("a port is marked public but `public_address` is not set; expected the router's WAN address")
