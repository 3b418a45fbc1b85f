"""The Docker engine and the platform stack's containers, as the specs see them.

Containers are matched to the stack's compose file (`stacks/STACK/compose.yaml`) by `container_name`, or by
compose's service and project labels. The pinned image is the compose file's, mapped through
`settings.image_map` (the lab's registry, or a mirror), exactly as bootstrap deploys it.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homelab.compose import ComposeService, load_compose
from homelab.inventory import Inventory
from homelab.ssh import CommandResult

STACKS_DIR = Path(__file__).resolve().parents[2] / "stacks"
EXEMPTION_LABEL = "homelab.healthcheck"
RESTART_OK = ("unless-stopped", "always")
# dockerd listening on TCP: a -H/--host flag with a tcp URL, or a tcp URL in daemon.json "hosts"
_TCP_FLAG = re.compile(r"(?:(?:^|\s)-H|--host)[\s=]+[\"']?(tcp://\S+)")
DAEMON_JSON = "/etc/docker/daemon.json"
ENV_MODES_OK = (0o600, 0o640, 0o400, 0o440)


@functools.cache  # a run reads each stack's compose file once, not once per spec and host
def compose_service(stack: str, service: str) -> ComposeService:
    return load_compose(STACKS_DIR / stack / "compose.yaml").services[service]


def pinned_image(inventory: Inventory, svc: ComposeService) -> str:
    """The image the container must run: the stack's pin, through the inventory's image map."""
    return inventory.settings.image_map.get(svc.image, svc.image)


def find_container(engine: Any, svc: ComposeService, project: str) -> Any | None:
    """The container of compose service `svc` (by container_name, else by compose labels), or None."""
    import docker.errors

    if svc.container_name:
        try:
            return engine.containers.get(svc.container_name)
        except docker.errors.NotFound:
            return None
    found = engine.containers.list(all=True, filters={"label": [f"com.docker.compose.service={svc.name}",
                                                                 f"com.docker.compose.project={project}"]})
    return found[0] if found else None


def expect_container(instance: Any, engine: Any, fix: str) -> tuple[ComposeService, Any]:
    """The compose service and container of `instance` (a targets.Instance); a spec failure when it has none."""
    import pytest

    from homelab.checks import problem

    __tracebackhide__ = True
    svc = compose_service(instance.service.stack, instance.service.name)
    found = find_container(engine(instance.host), svc, instance.service.stack)
    if found is None:
        pytest.fail(problem(f"a container for compose service {svc.name}", "none", instance.host.name, fix),
                    pytrace=False)
    return svc, found


def published_ports(container: Any) -> set[str]:
    """The host ports the container publishes, as `PORT/PROTOCOL` (a port bound on several addresses once)."""
    bindings = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
    return {f"{b.get('HostPort') or key.split('/')[0]}/{key.split('/')[1]}"
            for key, bound in bindings.items() for b in bound or []}


def env_value(container: Any, name: str) -> str | None:
    """The value of `name` in the container's environment, or None when it is not set."""
    for item in container.attrs.get("Config", {}).get("Env") or []:
        key, sep, value = item.partition("=")
        if sep and key == name:
            return str(value)
    return None


def health(container: Any) -> str:
    """`healthy`, `unhealthy`, `starting`, or `none` when the container has no healthcheck."""
    state = container.attrs.get("State", {})
    return str((state.get("Health") or {}).get("Status", "none"))


def exempt_from_health(svc: ComposeService) -> bool:
    """The stack documents that this service cannot have a healthcheck (`homelab.healthcheck: none: why`)."""
    label = svc.labels.get(EXEMPTION_LABEL, "")
    return label.startswith("none") and (svc.healthcheck is None or svc.healthcheck.disabled)


def restart_policy(container: Any) -> str:
    return str(container.attrs.get("HostConfig", {}).get("RestartPolicy", {}).get("Name") or "no")


@dataclass(frozen=True)
class DaemonConfig:
    """How dockerd was told to listen: its command line and daemon.json's `hosts`."""

    cmdline: str
    daemon_json: str

    @property
    def tcp_listeners(self) -> list[str]:
        found = _TCP_FLAG.findall(self.cmdline)
        try:
            hosts = json.loads(self.daemon_json or "{}").get("hosts", [])
        except (ValueError, AttributeError):
            hosts = []
        return found + [h for h in hosts if isinstance(h, str) and h.startswith("tcp://")]


# Unraid logs in as root and has no sudo; elsewhere the SSH user reads daemon.json through sudo.
DAEMON_SCRIPT = (f"ps -C dockerd -o args= ; echo ---; $([ \"$(id -u)\" -eq 0 ] || echo sudo -n) cat {DAEMON_JSON} "
                 "2>/dev/null || true")


def parse_daemon(result: CommandResult) -> DaemonConfig:
    cmdline, _, daemon_json = result.stdout.partition("---\n")
    return DaemonConfig(cmdline.strip(), daemon_json.strip())


def expect_dockerd_unix_only(host: Any, ssh: Any, fix: str) -> None:
    """Fail the spec (expected / found / where / fix) when dockerd on `host` is told to listen on TCP."""
    __tracebackhide__ = True
    from homelab.checks import problem

    config = parse_daemon(ssh.run(host, DAEMON_SCRIPT))
    assert not config.tcp_listeners, problem(
        "dockerd listening on the unix socket only", f"tcp listeners {', '.join(config.tcp_listeners)}",
        f"{host.name}: dockerd command line `{config.cmdline}` and {DAEMON_JSON}", fix)


def env_file_of(container: Any) -> str | None:
    """The `.env` compose read for the container's project: its env-file label, else working_dir/.env."""
    labels = container.attrs.get("Config", {}).get("Labels") or {}
    named = labels.get("com.docker.compose.project.environment_file")
    if named:
        return str(named).split(",")[0]
    working_dir = labels.get("com.docker.compose.project.working_dir")
    return f"{working_dir}/.env" if working_dir else None


def stat_command(path: str) -> str:
    return f"sudo -n stat -c '%a %U %G' {shlex.quote(path)}"


def parse_stat(text: str) -> tuple[int, str, str] | None:
    parts = text.split()
    if len(parts) != 3:
        return None
    return int(parts[0], 8), parts[1], parts[2]
