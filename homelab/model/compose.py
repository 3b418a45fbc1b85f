"""Compose files, read strictly: the services, images, published ports, mounts and `${VAR}` references of a stack.

`load_compose(path)` returns a `ComposeFile` or raises `ComposeError` whose message is one line:
`FILE:LINE: dotted.path: what is wrong; fix: what to change`. Duplicate keys are errors (YAML would keep the
last one silently). Validation covers what breaks a deployment or hides a policy violation: keys the compose
spec does not know, a service without an image, malformed ports and volumes, undeclared named volumes, bad
interpolation. It does not resolve variables: callers see the references, never the values.
`load_stack(name)` is the one reader of the repository's stacks/NAME/compose.yaml, read once per process.

Longer than 300 lines because it is the one strict reader of compose files: the short and long forms of ports and
volumes, the services' keys, healthchecks and `${VAR}` references are each parsed as the compose spec defines them
and refused with a FILE:LINE message of their own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.model.paths import stack_dir
from homelab.model.yamlfile import YamlError, load_yaml

COMPOSE_FILE = "compose.yaml"  # a stack's compose file, in stacks/NAME/ and where bootstrap deploys it
TOP_LEVEL_KEYS = frozenset({"version", "name", "include", "services", "networks", "volumes", "configs", "secrets",
                            "models"})
SERVICE_KEYS = frozenset({
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "driver_opts", "entrypoint",
    "env_file", "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "label_file", "labels", "links", "logging",
    "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit", "models", "network_mode",
    "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit", "platform", "ports", "post_start",
    "pre_stop", "privileged", "profiles", "provider", "pull_policy", "read_only", "restart", "runtime", "scale",
    "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal", "storage_opt",
    "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user", "userns_mode", "uts", "volumes",
    "volumes_from", "working_dir",
})
HEALTHCHECK_KEYS = frozenset({"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"})
PORT_KEYS = frozenset({"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"})
MOUNT_KEYS = frozenset({"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "image", "consistency"})
MOUNT_TYPES = ("bind", "volume", "tmpfs", "npipe", "cluster", "image")
VOLUME_OPTIONS = frozenset({"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated", "shared",
                            "rshared", "slave", "rslave", "private", "rprivate"})
PROTOCOLS = ("tcp", "udp", "sctp")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
# Paths whose bind mount hands a container the Docker engine: the socket itself or a directory holding it.
SOCKET_PATHS = frozenset({"/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class ComposeError(Exception):
    """A compose file cannot be used; the message names the file, line, path and the fix."""


@dataclass(frozen=True)
class PortMapping:
    """One published (or container-only) port; `published` is None when Docker picks the host port."""

    target: int
    published: int | None
    protocol: str = "tcp"
    host_ip: str | None = None

    def __str__(self) -> str:
        host = f"{self.host_ip}:" if self.host_ip else ""
        published = "" if self.published is None else f"{self.published}:"
        return f"{host}{published}{self.target}/{self.protocol}"


@dataclass(frozen=True)
class Mount:
    """One entry of a service's `volumes`; `source` is a host path (bind), a volume name, or None."""

    type: str
    source: str | None
    target: str
    read_only: bool = False

    @property
    def docker_socket(self) -> bool:
        """True when this mount gives the container the Docker engine's socket."""
        if self.type != "bind" or not self.source:
            return False
        source = self.source.rstrip("/") or "/"
        return source in SOCKET_PATHS or source.endswith("/docker.sock")

    def __str__(self) -> str:
        return f"{self.source or ''}:{self.target}{':ro' if self.read_only else ''}"


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    disabled: bool = False


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str
    ports: tuple[PortMapping, ...]
    mounts: tuple[Mount, ...]
    healthcheck: Healthcheck | None
    restart: str | None
    container_name: str | None
    labels: dict[str, str]
    environment: dict[str, str | None]
    api_socket: bool = False   # compose's `use_api_socket: true` also hands over the engine

    @property
    def socket_mounts(self) -> tuple[Mount, ...]:
        return tuple(m for m in self.mounts if m.docker_socket)


@dataclass(frozen=True)
class ComposeFile:
    path: Path
    data: dict[str, Any]
    lines: dict[tuple[str, ...], int]
    services: dict[str, ComposeService]
    variables: dict[str, tuple[str, ...]]   # each referenced variable -> where it is first used

    def where(self, *path: str) -> str:
        """`FILE:LINE: dotted.path` for a key path, using the nearest line known."""
        return _where(self.path, self.lines, path)


def _where(file: Path, lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> str:
    line = next((lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in lines), None)
    return f"{file}:{line}: {'.'.join(path) or '(top level)'}" if line else f"{file}: {'.'.join(path) or '(top level)'}"


class _Context:
    """Where we are in the file, to phrase errors."""

    def __init__(self, path: Path, lines: dict[tuple[str, ...], int]) -> None:
        self.path, self.lines = path, lines

    def fail(self, at: tuple[str, ...], message: str) -> ComposeError:
        return ComposeError(f"{_where(self.path, self.lines, at)}: {message}")


# -- variables ----------------------------------------------------------------------------------------------

def variable_references(text: str) -> list[str]:
    """Names referenced by compose interpolation in `text`: `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR:?e}`...

    `$$` is an escaped dollar. A `$` that starts no valid reference raises ValueError, as compose refuses it.
    """
    names: list[str] = []
    index = 0
    while (index := text.find("$", index)) != -1:
        rest = text[index + 1:]
        if rest.startswith("$"):
            index += 2
            continue
        braced = rest.startswith("{")
        match = _NAME.match(rest, 1 if braced else 0)
        if match is None:
            raise ValueError(f"invalid interpolation at {text[index:index + 12]!r}; write $$ for a literal $")
        end = match.end()
        if braced and (end >= len(rest) or rest[end] not in "}:-?+" or "}" not in rest[end:]):
            raise ValueError(f"invalid interpolation at {text[index:index + 20]!r}; expected ${{NAME}}, "
                             "${NAME:-default} or ${NAME:?error}")
        names.append(match.group())
        index += 1 + end
    return names


def _strings(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, str(index)))


def _variables(data: dict[str, Any], ctx: _Context) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for path, text in _strings(data, ()):
        if path and path[0].startswith("x-"):
            continue
        try:
            names = variable_references(text)
        except ValueError as exc:
            raise ctx.fail(path, str(exc)) from None
        for name in names:
            found.setdefault(name, path)
    return found


# -- ports --------------------------------------------------------------------------------------------------

def _port_range(text: str) -> list[int]:
    low, _, high = text.partition("-")
    first, last = int(low), int(high or low)
    if not (0 < first <= last <= 65535):
        raise ValueError(f"port {text!r} is out of range 1-65535")
    return list(range(first, last + 1))


def parse_port(spec: Any) -> list[PortMapping]:
    """Parse one `ports` entry, short ("80:80", "127.0.0.1:81:81", "53:53/udp", "9000") or long (a mapping)."""
    if isinstance(spec, dict):
        return [_long_port(spec)]
    if isinstance(spec, bool) or not isinstance(spec, str | int):
        raise ValueError(f"expected a string like \"80:80\" or a mapping with target/published; found {spec!r}")
    text = str(spec)
    if "$" in text:
        raise ValueError(f"{text!r} uses a variable; write published ports literally so they can be checked")
    text, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    host_ip = None
    if text.startswith("["):
        host_ip, _, text = text[1:].partition("]:")
    parts = text.split(":")
    if len(parts) == 3 and host_ip is None:
        host_ip = parts.pop(0)
    if len(parts) > 2 or not all(p.replace("-", "").isdigit() for p in parts if p) or not parts[-1]:
        raise ValueError(f"cannot read {spec!r}; expected [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]")
    targets = _port_range(parts[-1])
    published: list[int | None] = [None] * len(targets)
    if len(parts) == 2 and parts[0]:
        hosts = _port_range(parts[0])
        if len(hosts) != len(targets):
            raise ValueError(f"{spec!r} maps {len(hosts)} host ports to {len(targets)} container ports")
        published = list(hosts)
    return [PortMapping(t, p, protocol, host_ip or None) for t, p in zip(targets, published, strict=True)]


def _long_port(spec: dict[str, Any]) -> PortMapping:
    unknown = sorted(set(spec) - PORT_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(PORT_KEYS))}")
    target = spec.get("target")
    if isinstance(target, bool) or not isinstance(target, int) or not 0 < target <= 65535:
        raise ValueError(f"`target` must be a container port number; found {target!r}")
    published = spec.get("published")
    if published is not None:
        if isinstance(published, bool) or not str(published).isdigit():
            raise ValueError(f"`published` must be one literal port number; found {published!r}")
        published = int(published)
        if not 0 < published <= 65535:
            raise ValueError(f"`published` {published} is out of range 1-65535")
    protocol = spec.get("protocol", "tcp")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    return PortMapping(target, published, protocol, spec.get("host_ip") or None)


# -- volumes ------------------------------------------------------------------------------------------------

def _split_outside_braces(text: str) -> list[str]:
    """Split on ':' except inside `${...}` (a default like `${DIR:-/opt}` holds a colon)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += char == "{"
        depth -= char == "}" and depth > 0
        current += char
    return [*parts, current]


def parse_volume(spec: Any) -> Mount:
    """Parse one service `volumes` entry, short ("SRC:DST[:MODE]", "DST") or long (a mapping)."""
    if isinstance(spec, dict):
        return _long_volume(spec)
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"expected a string like \"data:/data\" or a mapping; found {spec!r}")
    parts = _split_outside_braces(spec)
    if len(parts) > 3:
        raise ValueError(f"cannot read {spec!r}; expected SOURCE:TARGET[:MODE]")
    if len(parts) == 1:
        source, target, mode = None, parts[0], ""
    else:
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    options = [o for o in mode.split(",") if o]
    bad = [o for o in options if o not in VOLUME_OPTIONS]
    if bad:
        raise ValueError(f"unknown mode {','.join(bad)!r} in {spec!r}; expected ro, rw, z, Z or a propagation")
    if not target.startswith("/"):
        raise ValueError(f"target {target!r} in {spec!r} must be an absolute path in the container")
    kind = "volume"
    if source is not None and source.startswith(("/", ".", "~", "$")):
        kind = "bind"
    elif source is not None and not _VOLUME_NAME.match(source):
        raise ValueError(f"{source!r} is neither a host path nor a volume name")
    return Mount(kind, source or None, target, "ro" in options)


def _long_volume(spec: dict[str, Any]) -> Mount:
    unknown = sorted(set(spec) - MOUNT_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(MOUNT_KEYS))}")
    kind, target, source = spec.get("type"), spec.get("target"), spec.get("source")
    if kind not in MOUNT_TYPES:
        raise ValueError(f"`type` must be one of {', '.join(MOUNT_TYPES)}; found {kind!r}")
    if not isinstance(target, str) or not target.startswith("/"):
        raise ValueError(f"`target` must be an absolute path in the container; found {target!r}")
    if source is not None and not isinstance(source, str):
        raise ValueError(f"`source` must be a string; found {source!r}")
    if kind == "bind" and not source:
        raise ValueError("a bind mount needs `source`, the host path")
    return Mount(kind, source or None, target, spec.get("read_only") is True)


# -- services -----------------------------------------------------------------------------------------------

def _string_map(value: Any, what: str) -> dict[str, str | None]:
    """`environment` and `labels` come as a mapping or a list of KEY=VALUE."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): None if v is None else str(v) for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(i, str) for i in value):
        return {k: (v if sep else None) for k, sep, v in (i.partition("=") for i in value)}
    raise ValueError(f"`{what}` must be a mapping or a list of KEY=VALUE strings")


def _healthcheck(value: Any) -> Healthcheck | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("expected a mapping with test, interval, timeout, retries")
    unknown = sorted(set(value) - HEALTHCHECK_KEYS)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(HEALTHCHECK_KEYS))}")
    test = value.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test is not None and (not isinstance(test, list) or not test or test[0] not in ("NONE", "CMD", "CMD-SHELL")):
        raise ValueError(f"`test` must be a string or a list starting with CMD, CMD-SHELL or NONE; found {test!r}")
    if test is None and value.get("disable") is not True:
        raise ValueError("no `test`; give one, or write `disable: true` with a `homelab.healthcheck` label")
    parts = tuple(str(t) for t in test or ())
    return Healthcheck(parts, value.get("disable") is True or parts[:1] == ("NONE",))


def _service(name: str, data: Any, ctx: _Context, declared_volumes: set[str]) -> ComposeService:
    at = ("services", name)
    if not isinstance(data, dict):
        raise ctx.fail(at, "a service must be a mapping of compose keys")
    unknown = sorted(k for k in data if k not in SERVICE_KEYS and not str(k).startswith("x-"))
    if unknown:
        raise ctx.fail((*at, unknown[0]), f"unknown service key {unknown[0]!r}; check the spelling against the "
                       "compose specification (or prefix an extension with x-)")
    image = data.get("image")
    if not isinstance(image, str) or not image.strip():
        raise ctx.fail(at, "no `image`; every service here runs a published image: add `image: NAME:VERSION`")
    for key in ("ports", "volumes"):
        if key in data and not isinstance(data[key], list):
            raise ctx.fail((*at, key), f"`{key}` must be a list")
    ports: list[PortMapping] = []
    for index, spec in enumerate(data.get("ports") or []):
        try:
            ports.extend(parse_port(spec))
        except ValueError as exc:
            raise ctx.fail((*at, "ports", str(index)), str(exc)) from None
    mounts: list[Mount] = []
    for index, spec in enumerate(data.get("volumes") or []):
        try:
            mount = parse_volume(spec)
        except ValueError as exc:
            raise ctx.fail((*at, "volumes", str(index)), str(exc)) from None
        if mount.type == "volume" and mount.source and mount.source not in declared_volumes:
            raise ctx.fail((*at, "volumes", str(index)), f"named volume {mount.source!r} is not declared; add it "
                           "under the top-level `volumes:` (or give a host path for a bind mount)")
        mounts.append(mount)
    restart = data.get("restart")
    if restart is not None and str(restart).partition(":")[0] not in RESTART_POLICIES:
        raise ctx.fail((*at, "restart"), f"unknown restart policy {restart!r}; expected unless-stopped or always")
    container_name = data.get("container_name")
    try:
        healthcheck = _healthcheck(data.get("healthcheck"))
    except ValueError as exc:
        raise ctx.fail((*at, "healthcheck"), str(exc)) from None
    try:
        labels = {k: v or "" for k, v in _string_map(data.get("labels"), "labels").items()}
        environment = _string_map(data.get("environment"), "environment")
    except ValueError as exc:
        raise ctx.fail((*at, str(exc).split("`")[1]), str(exc)) from None
    return ComposeService(name=name, image=image.strip(), ports=tuple(ports), mounts=tuple(mounts),
                          healthcheck=healthcheck, restart=None if restart is None else str(restart),
                          container_name=None if container_name is None else str(container_name),
                          labels=labels, environment=environment, api_socket=data.get("use_api_socket") is True)


def parse_compose(data: Any, path: Path, lines: dict[tuple[str, ...], int] | None = None) -> ComposeFile:
    """Validate already-parsed compose data (from `path`, for messages) and build a ComposeFile."""
    ctx = _Context(path, lines or {})
    if not isinstance(data, dict):
        raise ctx.fail((), "expected a mapping with a `services:` key")
    unknown = sorted(str(k) for k in data if k not in TOP_LEVEL_KEYS and not str(k).startswith("x-"))
    if unknown:
        raise ctx.fail((unknown[0],), f"unknown top-level key {unknown[0]!r}; compose allows "
                       f"{', '.join(sorted(TOP_LEVEL_KEYS))} and x-* extensions")
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        raise ctx.fail(("services",), "no services; expected a mapping of service name to definition")
    volumes = data.get("volumes") or {}
    if not isinstance(volumes, dict):
        raise ctx.fail(("volumes",), "top-level `volumes` must be a mapping of volume names")
    variables = _variables(data, ctx)
    built = {str(name): _service(str(name), spec, ctx, set(volumes)) for name, spec in services.items()}
    return ComposeFile(path=path, data=data, lines=ctx.lines, services=built, variables=variables)


def load_compose(path: str | Path) -> ComposeFile:
    """Read `path` strictly (duplicate keys are errors) and validate it; raise ComposeError on any problem."""
    path = Path(path)
    try:
        data, lines = load_yaml(path)
    except YamlError as exc:
        raise ComposeError(str(exc)) from None
    return parse_compose(data, path, lines)


def stack_compose(stack: str) -> Path:
    """stacks/STACK/compose.yaml of this repository."""
    return stack_dir(stack) / COMPOSE_FILE


@functools.cache  # a run reads each stack's compose file once, not once per spec and host
def load_stack(stack: str) -> ComposeFile:
    """stacks/STACK/compose.yaml, read strictly and validated: what bootstrap deploys as compose project STACK."""
    return load_compose(stack_compose(stack))


def image_tag(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference; either may be None. `host:5000/name` has no tag."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else None
    return tag or None, digest or None
