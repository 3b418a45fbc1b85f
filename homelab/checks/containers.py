"""What runs on a host, as its own Docker engine reports it, against what the inventory plans there.

Pure: each check takes the inventory, a host and the `docker inspect` dicts of the host's containers, and
returns findings (empty = fine). The only file read is the stacks' compose files (once per run), to know
which services bootstrap deploys.

A container belongs to stack S on a host when the host lists S (`hosts.X.stacks`), its
`com.docker.compose.project` label is S (bootstrap runs `docker compose -p S` in /opt/homelab/stacks/S; Portainer
names a Git stack's project S, and an Edge agent an Edge stack's `edge_S`: homelab.model.gitops) and
its `com.docker.compose.service` label is a service of stacks/S/compose.yaml. Its inventory service is the one
of that name under S; a container of no stack has none, so nothing is planned for it. Only live containers
(running, restarting or paused) are findings: a stopped one holds no port and runs nothing.

Longer than 300 lines because its four checks (unplanned containers, published ports, the Docker socket, host
access) read the same placement of each container in its stack and service (`placed`) and share the findings' shape.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from homelab.model.compose import Mount, load_stack
from homelab.model.gitops import stack_of_project
from homelab.model.inventory import HOST_ACCESS, STACK_PHASES, Host, Inventory, Service
from homelab.model.policy import published

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
LIVE = ("running", "restarting", "paused")
# The one wording of each HOST_ACCESS item, for the live specs and the static compose check alike.
HOST_ACCESS_TEXT = {
    "privileged": "privileged mode (every device and capability of the host)",
    "pid": "the host's PID namespace (pid: host)",
    "network": "the host's network (network_mode: host)",
    "root": "the host's root filesystem (a bind mount of /)",
}
assert tuple(HOST_ACCESS_TEXT) == HOST_ACCESS

ServicesOf = Callable[[str], Collection[str]]


def stack_services(stack: str) -> frozenset[str]:
    """The services of stacks/STACK/compose.yaml: what bootstrap deploys as compose project STACK."""
    return frozenset(load_stack(stack).services)


@dataclass(frozen=True)
class Finding:
    """One container and what it has that the inventory does not plan, with the fix."""

    container: str
    image: str
    found: str
    fix: str

    def __str__(self) -> str:
        return f"container {self.container} ({self.image}) {self.found}"


@dataclass(frozen=True)
class Container:
    """What the checks read of one container's inspect dict."""

    name: str
    image: str
    status: str
    project: str | None
    compose_service: str | None
    attrs: Mapping[str, Any]

    @classmethod
    def of(cls, attrs: Mapping[str, Any]) -> Container:
        config = attrs.get("Config") or {}
        labels = config.get("Labels") or {}
        return cls(name=str(attrs.get("Name") or attrs.get("Id") or "?").lstrip("/"),
                   image=str(config.get("Image") or attrs.get("Image") or "?"),
                   status=str((attrs.get("State") or {}).get("Status") or "unknown"),
                   project=labels.get(PROJECT_LABEL), compose_service=labels.get(SERVICE_LABEL), attrs=attrs)

    @property
    def live(self) -> bool:
        return self.status in LIVE


@dataclass(frozen=True)
class Placed:
    """A live container and where the inventory puts it: its stack on this host and its service (or None)."""

    container: Container
    stack: str | None
    service: Service | None

    def redeploy(self) -> str:
        """How to put the container back as its stack says (only for a container of a stack)."""
        assert self.stack is not None
        return (f"redeploy with `python -m bootstrap phase{STACK_PHASES[self.stack]}` (it recreates "
                f"{self.container.name} from stacks/{self.stack}/compose.yaml)")


def placed(inventory: Inventory, host: Host, containers: Iterable[Mapping[str, Any]],
           services_of: ServicesOf = stack_services) -> list[Placed]:
    """The live containers of `host`, each with its stack and inventory service (None where there is none)."""
    found = []
    for attrs in containers:
        c = Container.of(attrs)
        if not c.live:
            continue
        project = stack_of_project(inventory, host, c.project)  # edge_<stack>: an Edge stack (homelab.model.gitops)
        stack = project if project in host.stacks and c.compose_service in services_of(project) else None
        service = inventory.services.get(c.compose_service or "") if stack else None
        found.append(Placed(c, stack, service if service is not None and service.stack == stack else None))
    return found


def _remove(c: Container, host: Host) -> str:
    return (f"remove it on {host.name}: `docker rm -f {c.name}` (bootstrap never deletes containers it did not "
            f"create), or allow it in inventory.yaml `hosts.{host.name}.extra_containers` with a comment saying why")


def _unmanaged(c: Container, host: Host, what: str) -> str:
    return (f"recreate {c.name} on {host.name} without {what}, or remove it (`docker rm -f {c.name}`); no "
            "service of the inventory explains it, so nothing may allow it (a waiver records an accepted exception)")


def _why_unplanned(c: Container, host: Host, services_of: ServicesOf) -> tuple[str, str]:
    """What is wrong with a container of no stack of `host`, and the fix."""
    stacks = ", ".join(host.stacks) or "none"
    if c.project is None:
        return "a container started outside any compose stack (no com.docker.compose.project label)", _remove(c, host)
    if c.project not in STACK_PHASES:
        return f"a container of compose project {c.project!r}, which is no stack of the inventory", _remove(c, host)
    if c.project not in host.stacks:
        return (f"a container of stack {c.project} (service {c.compose_service}), which the inventory does not "
                f"assign to {host.name} (hosts.{host.name}.stacks: {stacks})", _remove(c, host))
    return (f"a container of service {c.compose_service!r} of stack {c.project}, which "
            f"stacks/{c.project}/compose.yaml does not have (services: {', '.join(sorted(services_of(c.project)))})",
            f"redeploy with `python -m bootstrap phase{STACK_PHASES[c.project]}` (compose's --remove-orphans "
            f"removes it), or `docker rm -f {c.name}` on {host.name}")


def unplanned_containers(inventory: Inventory, host: Host, containers: Iterable[Mapping[str, Any]],
                         services_of: ServicesOf = stack_services) -> list[Finding]:
    """Live containers of no stack the inventory assigns to `host`, and not in `hosts.X.extra_containers`."""
    found = []
    for p in placed(inventory, host, containers, services_of):
        c = p.container
        if p.stack is None and c.name not in host.extra_containers:
            what, fix = _why_unplanned(c, host, services_of)
            found.append(Finding(c.name, c.image, what, fix))
    return found


# -- published ports ----------------------------------------------------------------------------------------

def _host_ports(text: str) -> list[int]:
    """`8080` or a range `8000-8010` of a binding's HostPort; nothing when Docker picks it (empty)."""
    low, _, high = text.strip().partition("-")
    if not low.isdigit() or (high and not high.isdigit()):
        return []
    return list(range(int(low), int(high or low) + 1))


def _loopback(address: str) -> bool:
    try:
        return ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def published_bindings(attrs: Mapping[str, Any]) -> dict[tuple[int, str], tuple[set[str], str]]:
    """(host port, protocol) -> (the addresses it is bound on, the container port) of everything the container
    publishes: its configuration (HostConfig.PortBindings) and what Docker bound (NetworkSettings.Ports, where
    a port Docker picked shows up). A port bound only on loopback reaches no one but the host: left out."""
    found: dict[tuple[int, str], tuple[set[str], str]] = {}
    sources = ((attrs.get("HostConfig") or {}).get("PortBindings") or {},
               (attrs.get("NetworkSettings") or {}).get("Ports") or {})
    for bindings in sources:
        for key, bound in bindings.items():
            target, _, protocol = str(key).partition("/")
            for binding in bound or []:
                address = str(binding.get("HostIp") or "0.0.0.0")  # noqa: S104 - Docker's default: every address
                if _loopback(address):
                    continue
                for port in _host_ports(str(binding.get("HostPort") or "")):
                    addresses, _ = found.setdefault((port, protocol or "tcp"), (set(), f"{target}/{protocol}"))
                    addresses.add(address)
    return found


def unplanned_ports(inventory: Inventory, host: Host, containers: Iterable[Mapping[str, Any]],
                    services_of: ServicesOf = stack_services) -> list[Finding]:
    """Each host port a live container publishes that the inventory does not plan for its service on `host`."""
    plan = published(inventory, host)
    found = []
    for p in placed(inventory, host, containers, services_of):
        c = p.container
        planned = {(port.port, port.protocol) for s, port in plan if p.service is not None and s.name == p.service.name}
        for (port, protocol), (addresses, target) in sorted(published_bindings(c.attrs).items()):
            if (port, protocol) in planned:
                continue
            what = f"publishes {port}/{protocol} on {', '.join(sorted(addresses))} (-> {target}), which "
            if p.service is None:
                what += f"no service of the inventory plans on {host.name}"
            else:
                what += (f"the inventory does not plan for services.{p.service.name} on {host.name} (planned: "
                         f"{', '.join(f'{a}/{b}' for a, b in sorted(planned)) or 'no port'})")
            if p.stack is not None:
                fix = (f"{p.redeploy()}; if the port is wanted, plan it first in inventory.yaml "
                       f"services.{p.container.compose_service}.ports and stacks/{p.stack}/compose.yaml")
            else:
                fix = _unmanaged(c, host, f"`-p {port}` (publish nothing, or bind it to 127.0.0.1 only)")
            found.append(Finding(c.name, c.image, what, fix))
    return found


# -- mounts: the Docker socket and the host's root --------------------------------------------------------

def bind_mounts(attrs: Mapping[str, Any]) -> list[Mount]:
    """The container's bind mounts (host path -> container path), from what Docker mounted (`Mounts`) and its
    configuration (HostConfig.Binds and HostConfig.Mounts); read-only only where every one of them says so."""
    seen: dict[tuple[str, str], bool] = {}

    def add(source: Any, target: Any, read_only: bool) -> None:
        if source and target:
            key = (str(source), str(target))
            seen[key] = seen.get(key, True) and read_only

    for m in attrs.get("Mounts") or []:
        if m.get("Type") == "bind":
            add(m.get("Source"), m.get("Destination"), m.get("RW") is False)
    host_config = attrs.get("HostConfig") or {}
    for m in host_config.get("Mounts") or []:
        if m.get("Type") == "bind":
            add(m.get("Source"), m.get("Target"), m.get("ReadOnly") is True)
    for bind in host_config.get("Binds") or []:
        parts = str(bind).split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):
            add(parts[0], parts[1], "ro" in (parts[2].split(",") if len(parts) > 2 else []))
    return [Mount("bind", source, target, read_only) for (source, target), read_only in seen.items()]


def is_root_mount(source: str | None) -> bool:
    """A bind mount of the host's `/` (the `root` of HOST_ACCESS)."""
    return bool(source) and (str(source).rstrip("/") or "/") == "/"


def host_access_items(privileged: bool, pid_mode: str | None, network_mode: str | None,
                      bind_sources: Iterable[str | None]) -> list[str]:
    """The HOST_ACCESS items a container takes (or a compose service asks for), in HOST_ACCESS order."""
    taken = {"privileged": privileged, "pid": pid_mode == "host", "network": network_mode == "host",
             "root": any(is_root_mount(s) for s in bind_sources)}
    return [item for item in HOST_ACCESS if taken[item]]


def socket_mounts(inventory: Inventory, host: Host, containers: Iterable[Mapping[str, Any]],
                  services_of: ServicesOf = stack_services) -> list[Finding]:
    """The Docker socket (or /run, /var/run) bind-mounted into a live container whose service's `docker_socket`
    is none (or that has no service), or read-write where it says ro."""
    found = []
    for p in placed(inventory, host, containers, services_of):
        c = p.container
        allowed = p.service.docker_socket if p.service else "none"
        whose = (f"services.{p.service.name} does not allow (docker_socket: {allowed})" if p.service
                 else "no service of the inventory allows")
        for mount in bind_mounts(c.attrs):
            if not mount.docker_socket or allowed == "rw" or (allowed == "ro" and mount.read_only):
                continue
            mode = "read-only" if mount.read_only else "read-write"
            what = f"mounts the Docker socket ({mount.source} at {mount.target}, {mode}), which {whose}"
            if p.stack is None:
                fix = _unmanaged(c, host, f"the mount of {mount.source}")
            elif allowed == "ro":
                fix = f"{p.redeploy()}, whose mount is `/var/run/docker.sock:/var/run/docker.sock:ro`"
            else:
                fix = (f"{p.redeploy()}; if it needs the engine, grant it first in inventory.yaml "
                       f"services.{p.container.compose_service}.docker_socket")
            found.append(Finding(c.name, c.image, what, fix))
    return found


def host_access(inventory: Inventory, host: Host, containers: Iterable[Mapping[str, Any]],
                services_of: ServicesOf = stack_services) -> list[Finding]:
    """Privileged mode, the host's PID namespace or network, or a bind mount of `/`, in a live container whose
    service does not allow that item in `host_access`."""
    found = []
    for p in placed(inventory, host, containers, services_of):
        c = p.container
        config = c.attrs.get("HostConfig") or {}
        taken = host_access_items(config.get("Privileged") is True, config.get("PidMode"), config.get("NetworkMode"),
                                  (m.source for m in bind_mounts(c.attrs)))
        allowed = p.service.host_access if p.service else ()
        whose = (f"services.{p.service.name} does not allow (host_access: [{', '.join(allowed)}])" if p.service
                 else "no service of the inventory allows")
        for item in taken:
            if item in allowed:
                continue
            what = f"has {HOST_ACCESS_TEXT[item]}, which {whose}"
            if p.stack is None:
                fix = _unmanaged(c, host, HOST_ACCESS_TEXT[item])
            else:
                fix = (f"{p.redeploy()}; if it needs it, allow it first in inventory.yaml "
                       f"services.{p.container.compose_service}.host_access: [{item}]")
            found.append(Finding(c.name, c.image, what, fix))
    return found
