"""The inventory file, read and validated into the data model (homelab.model.inventory).

`load_inventory(path)` returns an `Inventory` or raises `InventoryError` whose message is one line:
`FILE:LINE: dotted.path: what is wrong; expected what`. See docs/inventory.md for the schema.

Longer than 300 lines because it is the one reader of the inventory format: a function for each section (networks,
settings, hosts, services, vantages, git, tls, secrets) turns every wrong value into a one-line FILE:LINE error, and
the checks that need the whole inventory read (placement, collisions, public names, unique machines) follow.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from homelab.model.inventory import (
    API_SERVICES,
    AVAILABILITY,
    EXPOSURES,
    GIT_DEPLOY,
    HOST_ACCESS,
    NETWORK_KINDS,
    OS_NAMES,
    PLATFORMS,
    PROTOCOLS,
    ROLES,
    SOCKET_ACCESS,
    STACK_PHASES,
    Daemon,
    GitSource,
    Gpu,
    Host,
    Inventory,
    Network,
    Port,
    PortainerPlacement,
    Service,
    Settings,
    SSHAccess,
    TlsIssuer,
    Upstream,
    Vantage,
)
from homelab.model.schema import Reader, SchemaError
from homelab.model.yamlfile import YamlError, load_yaml

GO_DURATION = re.compile(r"^(?:[1-9][0-9]*(?:h|m|s))+$")  # Portainer's AutoUpdate.Interval: Go's time.ParseDuration


class InventoryError(Exception):
    """The inventory cannot be used; the message names the file, the field and the fix."""


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate the inventory at `path`; raise InventoryError with a one-line message."""
    try:
        path = Path(path).expanduser().resolve()
        data, lines = load_yaml(path)
        if data is None:
            raise InventoryError(f"{path}: (top level): the file is empty or only comments; "
                                 f"expected a mapping with {_TOP_REQUIRED}")
        return _build(Reader(data, path, lines), path)
    except (YamlError, SchemaError) as exc:
        raise InventoryError(_one_line(str(exc))) from None
    except (RuntimeError, ValueError, OSError) as exc:  # a path that cannot be resolved (`~nobody`, a NUL)
        raise InventoryError(_one_line(f"{path}: cannot open: {exc}; expected the path of an inventory file")) from None


_TOP_REQUIRED = "name, domain, networks, hosts and services"
_TOP_KEYS = ("name", "domain", "public_address", "router", "settings", "git", "tls", "networks", "hosts",
             "services", "vantages", "secrets")
_SECRET_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_Num = TypeVar("_Num", int, float)


def _one_line(message: str) -> str:
    return message.replace("\r", "\\r").replace("\n", "\\n")


def _build(root: Reader, path: Path) -> Inventory:
    root.only(*_TOP_KEYS, expected=f"a mapping with {_TOP_REQUIRED}")
    name = root.string("name", required=True, expected="a name for the homelab, like homelab")
    domain = root.hostname("domain", required=True, example="home.example.com")
    networks = {n: _network(n, r) for n, r in root.mapping("networks", True, "a mapping of networks").items()}
    _check_networks(root.child("networks"), networks)
    settings = _settings(root.optional_reader("settings"), networks, path.parent)
    hosts = {n: _host(n, r, networks) for n, r in root.mapping("hosts", True, "a mapping of hosts").items()}
    services = {n: _service(n, r) for n, r in root.mapping("services", True, "a mapping of services").items()}
    vantages = {n: _vantage(n, r, networks, path.parent) for n, r in root.mapping("vantages").items()}
    assert name is not None
    assert domain is not None
    inventory = Inventory(
        path=path, name=name, domain=domain, settings=settings, networks=networks, hosts=hosts,
        services=services, vantages=vantages, secrets=_secrets(root),
        public_address=root.address("public_address"), git=_git(root.optional_reader("git")),
        tls=_tls(root.optional_reader("tls"), path.parent), router=_router(root, networks, path.parent),
    )
    _cross_check(root, inventory)
    return inventory


def _network(name: str, r: Reader) -> Network:
    r.only("cidr", "kind", "description")
    cidr = r.network("cidr", required=True)
    kind = r.choice("kind", NETWORK_KINDS, required=True)
    assert cidr is not None
    assert kind is not None
    return Network(name, cidr, kind, r.string("description") or "")


def _check_networks(r: Reader, networks: dict[str, Network]) -> None:
    if not any(n.kind == "lan" for n in networks.values()):
        r.fail("no network has kind lan; expected at least one (the home LAN)")
    for index, net in enumerate(networks.values()):
        for other in list(networks.values())[:index]:
            if net.cidr.overlaps(other.cidr):
                r.child(net.name).child("cidr").fail(
                    f"{net.cidr} overlaps networks.{other.name} ({other.cidr}); expected networks that do not overlap")


def _settings(r: Reader | None, networks: dict[str, Network], base: Path) -> Settings:
    lan = next(n.name for n in networks.values() if n.kind == "lan")
    if r is None:
        return Settings(env_file=base / ".env", runner_network=lan)
    r.only(*Settings.__dataclass_fields__)
    runner = r.string("runner_network", expected="a network name") or lan
    if runner not in networks:
        r.child("runner_network").fail(f"unknown network {runner!r}; expected one of {', '.join(networks)}")
    d = Settings()
    cert_min = _default(r.integer("cert_min_days", 0, 3650), d.cert_min_days)
    cert_warn = _default(r.integer("cert_warn_days", 0, 3650), d.cert_warn_days)
    if cert_warn < cert_min:
        r.child("cert_warn_days" if r.has("cert_warn_days") else "cert_min_days").fail(
            f"warns at {cert_warn} days but fails at {cert_min}; expected cert_warn_days >= cert_min_days")
    return Settings(
        connect_timeout=_default(r.number("connect_timeout", low=0.1, high=120), d.connect_timeout),
        probe_timeout=_default(r.number("probe_timeout", low=0.1, high=60), d.probe_timeout),
        command_timeout=_default(r.number("command_timeout", low=1, high=3600), d.command_timeout),
        env_file=r.file_path("env_file", base) or base / ".env",
        ca_bundle=r.file_path("ca_bundle", base),
        known_hosts=r.file_path("known_hosts", base),
        trust_on_first_use=r.boolean("trust_on_first_use"),
        runner_network=runner,
        cert_min_days=cert_min,
        cert_warn_days=cert_warn,
        monitor_interval=_default(r.integer("monitor_interval", 20, 86400), d.monitor_interval),
        image_map=r.string_map("image_map"),
    )


def _default(value: _Num | None, default: _Num) -> _Num:
    return default if value is None else value


def _ssh(r: Reader, base: Path) -> SSHAccess:
    r.only("user", "port", "key", "host_key")
    user = r.string("user", required=True, expected="the SSH login name, like admin")
    assert user is not None
    return SSHAccess(user=user, port=r.port("port") or 22,
                     key=r.file_path("key", base), host_key=r.host_key("host_key"))


def _placed(r: Reader, field_name: str, networks: dict[str, Network]) -> tuple[IPv4Address, str]:
    """An address and the network it lies in; one outside every network, or a network's own address, is an error."""
    address = r.address(field_name, required=True)
    assert address is not None
    for net in networks.values():
        if address in net.cidr:
            if net.cidr.prefixlen <= 30 and address in (net.cidr.network_address, net.cidr.broadcast_address):
                r.child(field_name).fail(f"{address} is the network or broadcast address of networks.{net.name} "
                                         f"({net.cidr}); expected a usable address inside it")
            return address, net.name
    cidrs = ", ".join(f"{n.name} {n.cidr}" for n in networks.values())
    r.child(field_name).fail(f"{address} is in no network of the inventory; expected an address in one of: {cidrs}")


def _host(name: str, r: Reader, networks: dict[str, Network]) -> Host:
    r.only("address", "hostname", "platform", "role", "os", "availability", "ssh", "portainer", "gpu", "stacks",
           "daemons", "extra_containers", expected="a mapping with address, platform, role, os and ssh")
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
        gpu = Gpu(gpu_reader.choice("vendor", ("nvidia",), required=True) or "", gpu_reader.string("model") or "")
    stacks = r.string_list("stacks", expected=f"a list of stacks from {', '.join(STACK_PHASES)}")
    for index, stack in enumerate(stacks):
        if stack not in STACK_PHASES:
            r.child("stacks").child(str(index)).fail(
                f"unknown stack {stack!r}; expected one of {', '.join(STACK_PHASES)}")
    return Host(
        name=name, address=address, network=network,
        platform=r.choice("platform", PLATFORMS, required=True) or "",
        role=r.choice("role", ROLES, required=True) or "",
        os=r.choice("os", OS_NAMES, required=True) or "",
        availability=r.choice("availability", AVAILABILITY) or "always-on",
        ssh=_ssh(r.reader("ssh", "a mapping with user, key and host_key"), r.base), portainer=placement,
        stacks=tuple(stacks), hostname=r.hostname("hostname") or name, gpu=gpu, daemons=_daemons(r),
        extra_containers=tuple(r.string_list("extra_containers", "a list of container names")),
    )


def _daemons(r: Reader) -> tuple[Daemon, ...]:
    found: list[Daemon] = []
    for index, item in enumerate(r.reader_list("daemons", "a list like [{name: webui, port: 443, exposure: lan}]")):
        item.only("name", "port", "protocol", "exposure", expected="a mapping like {name: webui, port: 443}")
        daemon = Daemon(item.string("name", required=True) or "", item.port("port", required=True) or 0,
                        item.choice("protocol", PROTOCOLS) or "tcp", item.choice("exposure", EXPOSURES) or "lan")
        if any((d.port, d.protocol) == (daemon.port, daemon.protocol) for d in found):
            r.child("daemons").child(str(index)).fail(f"port {daemon.port}/{daemon.protocol} is listed twice; "
                                                      "expected each port once")
        found.append(daemon)
    return tuple(found)


def _service(name: str, r: Reader) -> Service:
    r.only("stack", "ports", "exposure", "fqdn", "upstream", "docker_socket", "hosts", "host_access",
           expected="a mapping with stack, ports and exposure")
    r.name_key(name)
    stack = r.choice("stack", tuple(STACK_PHASES), required=True) or ""
    exposure = r.choice("exposure", EXPOSURES, required=True) or ""
    ports = []
    for item in r.reader_list("ports", "a list like [{port: 80}, {port: 53, protocol: udp}]"):
        item.only("port", "protocol", "exposure", expected="a mapping like {port: 80}")
        ports.append(Port(item.port("port", required=True) or 0, item.choice("protocol", PROTOCOLS) or "tcp",
                          item.choice("exposure", EXPOSURES) or exposure))
    for index, port in enumerate(ports):
        if any((p.port, p.protocol) == (port.port, port.protocol) for p in ports[:index]):
            r.child("ports").child(str(index)).fail(f"port {port} is listed twice; expected each port once")
    upstream = None
    up = r.optional_reader("upstream", "a mapping like {port: 8080, scheme: http}")
    if up is not None:
        up.only("port", "scheme")
        upstream = Upstream(up.port("port", required=True) or 0, up.choice("scheme", ("http", "https")) or "http")
    fqdn = r.hostname("fqdn", template=True)
    if fqdn and upstream is None:
        r.child("fqdn").fail("is set but `upstream` is not; expected `upstream: {port: N}`, the port NPM forwards to")
    tcp = sum(p.protocol == "tcp" for p in ports)
    if name in API_SERVICES and upstream is None and tcp != 1:
        r.child("upstream").fail(f"is missing, and {name} has {tcp} TCP ports; expected `upstream: {{port: N}}`, the "
                                 f"port of its API, which bootstrap and the specs ask")
    return Service(name=name, stack=stack, ports=tuple(ports), exposure=exposure, fqdn=fqdn, upstream=upstream,
                   docker_socket=r.choice("docker_socket", SOCKET_ACCESS) or "none",
                   only_on=tuple(r.string_list("hosts", "a list of host names", non_empty=True)),
                   host_access=_host_access(r))


def _host_access(r: Reader) -> tuple[str, ...]:
    items = r.string_list("host_access", f"a list from {', '.join(HOST_ACCESS)}")
    for index, item in enumerate(items):
        if item not in HOST_ACCESS:
            r.child("host_access").child(str(index)).fail(f"unknown {item!r}; expected one of {', '.join(HOST_ACCESS)}")
    return tuple(items)


def _vantage(name: str, r: Reader, networks: dict[str, Network], base: Path) -> Vantage:
    r.only("address", "ssh", expected="a mapping with address and ssh")
    r.name_key(name)
    address, network = _placed(r, "address", networks)
    return Vantage(name, address, network, _ssh(r.reader("ssh", "a mapping with user, key and host_key"), base))


def _router(root: Reader, networks: dict[str, Network], base: Path) -> Vantage | None:
    r = root.optional_reader("router", "a mapping with address and ssh")
    return None if r is None else _vantage("router", r, networks, base)


def _secrets(root: Reader) -> dict[str, str]:
    secrets = root.string_map("secrets")
    for key in secrets:
        if not _SECRET_NAME.match(key):
            root.child("secrets").child(key).fail(
                f"{key!r} is not an environment variable name; expected UPPER_CASE letters, digits and _, "
                "starting with a letter (like GRAFANA_ADMIN_PASSWORD)")
    return secrets


def _git(r: Reader | None) -> GitSource | None:
    if r is None:
        return None
    r.only("repository", "ref", "deploy", "poll", "address", "username", "password_secret")
    repository = r.string("repository", required=True, expected="the URL of this repository")
    assert repository is not None
    url = urlparse(repository)
    # HTTPS only: Portainer deploys what it clones, as root on every host, and sends the repository's token with
    # each clone; over plain HTTP anyone on the path could read the token or hand Portainer other stacks.
    if url.scheme != "https" or not url.hostname or not url.path.strip("/"):
        r.child("repository").fail(f"{repository!r} is not an HTTPS URL of a repository; expected one like "
                                   "https://git.home.example.com/homelab/homelab.git (Portainer deploys what it "
                                   "clones: the clone must be verified and private, never plain HTTP)")
    if url.username or url.password:
        r.child("repository").fail("holds credentials; expected a URL without them, and the user name and token in "
                                   "git.username and git.password_secret (a secret never goes in the inventory)")
    ref = r.string("ref") or "refs/heads/main"
    if not ref.startswith(("refs/heads/", "refs/tags/")):
        r.child("ref").fail(f"{ref!r} is not a full reference; expected refs/heads/BRANCH or refs/tags/TAG")
    poll = r.string("poll") if isinstance(r.data, dict) and "poll" in r.data else "5m"  # null: no polling
    if poll is not None and not GO_DURATION.match(poll):
        r.child("poll").fail(f"{poll!r} is not a duration; expected one like 5m, 1h or 90s (or null: no polling)")
    return GitSource(repository, ref, r.choice("deploy", GIT_DEPLOY) or "portainer", poll, r.address("address"),
                     r.string("username"), r.string("password_secret"))


def _tls(r: Reader | None, base: Path) -> TlsIssuer | None:
    if r is None:
        return None
    r.only("issuer", "dns_provider", "dns_credentials_secret", "ca_cert", "ca_key")
    issuer = r.choice("issuer", ("letsencrypt", "ca"), required=True)
    assert issuer is not None
    tls = TlsIssuer(issuer, r.string("dns_provider"), r.string("dns_credentials_secret"),
                    r.file_path("ca_cert", base), r.file_path("ca_key", base))
    if issuer == "ca" and (tls.ca_cert is None or tls.ca_key is None):
        r.fail("issuer ca needs `ca_cert` and `ca_key`: the CA that signs NPM's certificates")
    if issuer == "letsencrypt" and tls.dns_provider is None:
        r.child("dns_provider").fail("is missing; Let's Encrypt issues by DNS challenge (e.g. cloudflare)")
    return tls


def _cross_check(root: Reader, inv: Inventory) -> None:
    """What no single field can tell: names used twice, unknown references, missing roles."""
    _check_unique_machines(root, inv)
    _check_platform(root, inv)
    for service in inv.services.values():
        _check_placement(root.child("services").child(service.name), inv, service)
    _check_collisions(root.child("services"), inv)
    _check_public_names(root.child("services"), inv)
    if inv.git is not None and inv.git.password_secret and inv.git.password_secret not in inv.secrets:
        root.child("git").child("password_secret").fail(
            f"{inv.git.password_secret!r} is not named under `secrets:`; expected one of its names (the value lives in "
            "the env file)")
    if inv.public_address is None:
        for service in inv.services.values():
            for index, port in enumerate(service.ports):
                if port.exposure == "public":
                    root.child("services").child(service.name).child("ports").child(str(index)).fail(
                        f"port {port} is public but `public_address` is not set; expected the router's WAN "
                        "address as top-level `public_address`, or a non-public exposure")


def _check_public_names(r: Reader, inv: Inventory) -> None:
    """A public name needs NPM's 443 public: the name is reached through NPM, so its port must be forwarded."""
    npm = inv.services.get("npm")
    if npm is None:
        return
    https = next((p for p in npm.ports if (p.port, p.protocol) == (443, "tcp")), None)
    for service in inv.services.values():
        if service.fqdn and service.exposure == "public" and (https is None or https.exposure != "public"):
            r.child(service.name).child("exposure").fail(
                "is public, but NPM's 443/tcp is not; expected `exposure: public` on services.npm's 443 port "
                "too (its name is served through NPM), or a non-public exposure here")


def _check_unique_machines(root: Reader, inv: Inventory) -> None:
    addresses: dict[IPv4Address, str] = {}
    names: dict[str, str] = {}
    for kind, items in (("hosts", inv.hosts), ("vantages", inv.vantages)):
        for name, item in items.items():
            if name in inv.hosts and kind == "vantages":
                root.child(kind).child(name).fail(f"the name {name!r} is used by hosts.{name} too; "
                                                  "expected a name no host has")
            other = addresses.get(item.address)
            if other:
                root.child(kind).child(name).child("address").fail(
                    f"{item.address} is already the address of {other}; expected one address per machine")
            addresses[item.address] = f"{kind}.{name}"
    for host in inv.hosts.values():
        if host.hostname in names:
            root.child("hosts").child(host.name).child("hostname").fail(
                f"{host.hostname!r} is already the hostname of hosts.{names[host.hostname]}; expected unique hostnames")
        names[host.hostname] = host.name


def _check_platform(root: Reader, inv: Inventory) -> None:
    platforms = [h.name for h in inv.hosts.values() if h.role == "platform"]
    if not platforms:
        root.child("hosts").fail("no host has role platform; expected exactly one (the VM that runs Portainer)")
    if len(platforms) > 1:
        root.child("hosts").child(platforms[1]).child("role").fail(
            f"is platform, but hosts.{platforms[0]} is the platform host already; expected exactly one host "
            "with role platform")


def _check_placement(r: Reader, inv: Inventory, service: Service) -> None:
    for index, name in enumerate(service.only_on):
        item = r.child("hosts").child(str(index))
        if name not in inv.hosts:
            item.fail(f"unknown host {name!r}; expected one of {', '.join(inv.hosts)}")
        if service.stack not in inv.hosts[name].stacks:
            item.fail(f"host {name!r} does not list stack {service.stack!r}; expected it in hosts.{name}.stacks, "
                      "or another host")
    if not inv.hosts_of(service):
        r.child("stack").fail(f"no host lists stack {service.stack!r}; expected it in some host's `stacks`")


def _check_collisions(r: Reader, inv: Inventory) -> None:
    """Two services cannot publish one port of a host, and NPM serves each name from one place."""
    published: dict[tuple[str, int, str], str] = {}
    served: dict[str, str] = {}
    for service, host in inv.instances():
        for index, port in enumerate(service.ports):
            other = published.setdefault((host.name, port.port, port.protocol), service.name)
            if other != service.name:
                r.child(service.name).child("ports").child(str(index)).fail(
                    f"port {port} on hosts.{host.name} is published by services.{other} too; "
                    "expected each port of a host used by one service")
        fqdn = service.fqdn_for(host)
        if fqdn is not None:
            other = served.setdefault(fqdn, f"services.{service.name} on {host.name}")
            if not other.startswith(f"services.{service.name} on {host.name}"):
                r.child(service.name).child("fqdn").fail(
                    f"{fqdn!r} is already served by {other}; expected one name per service and host "
                    "(put {host} in it, or narrow the service with `hosts:`)")
