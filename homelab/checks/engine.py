"""The Docker engine and the platform stack's containers, as the specs see them.

Containers are matched to the stack's compose file (`stacks/STACK/compose.yaml`) by `container_name`, or by
compose's service and project labels. The pinned image is the compose file's, mapped through
`settings.image_map` (the lab's registry, or a mirror), exactly as bootstrap deploys it.

Longer than 300 lines because it answers the two questions the specs of phases 1 to 3 ask of each Docker engine they
set up: are the stack's containers as the compose file says (through the Docker SDK: matched by name or labels,
their image, health, ports and env file), and does dockerd listen on its unix socket only (a root script over SSH,
and the parsers of what dockerd was told and which sockets it holds).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from homelab.checks import could_not_observe
from homelab.model.compose import ComposeService, load_stack
from homelab.model.inventory import Inventory
from homelab.model.paths import STACKS
from homelab.transport.ssh import CommandResult, as_root

STACKS_DIR = STACKS  # stacks/, under the name the selftests import from here
EXEMPTION_LABEL = "homelab.healthcheck"
RESTART_OK = ("unless-stopped", "always")
DAEMON_JSON = "/etc/docker/daemon.json"
ENV_MODES_OK = (0o600, 0o640, 0o400, 0o440)


def compose_service(stack: str, service: str) -> ComposeService:
    return load_stack(stack).services[service]


def pinned_image(inventory: Inventory, svc: ComposeService) -> str:
    """The image the container must run: the stack's pin, through the inventory's image map."""
    return inventory.settings.image_map.get(svc.image, svc.image)


def runs_image(engine: Any, container: Any, wanted: str) -> bool:
    """The container runs `wanted`: by name, or, where `wanted` is pinned by digest (settings.image_map), by that
    digest among its image's repository digests: a stack Portainer deploys from Git names the upstream image, which
    is the same content wherever it was pulled from (a mirror, the lab's registry)."""
    import docker.errors

    if container.attrs["Config"]["Image"] == wanted:
        return True
    _, at, digest = wanted.partition("@")
    if not at:
        return False
    try:
        image = engine.images.get(container.attrs["Image"])
    except docker.errors.ImageNotFound:
        return False
    return any(d.endswith(f"@{digest}") for d in image.attrs.get("RepoDigests") or [])


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


def expect_container(instance: Any, docker: Any, fix: str) -> tuple[ComposeService, Any]:
    """The compose service and container of `instance` (a targets.Instance) on its host's engine (`docker`, as
    `on(host).docker` gives it); a spec failure when it has none."""
    import pytest

    from homelab.checks import problem

    __tracebackhide__ = True
    svc = compose_service(instance.service.stack, instance.service.name)
    found = find_container(docker, svc, instance.service.stack)
    if found is None:
        pytest.fail(problem(expected=f"a container for compose service {svc.name}", found="none",
                            where=instance.host.name, fix=fix),
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


class Unobserved(Exception):
    """A check could not look: the command failed, or printed nothing where something must be. The spec fails
    with "could not observe: WHY (on HOST from SOURCE)"; it never passes, and never skips, for that."""


# What dockerd was told (its command line, daemon.json) and what it does (the TCP sockets it holds), read as
# root in one round trip. Every read that fails ends the script with its own exit status: nothing is guessed.
# dockerd (27.3+, and any version with userland-proxy off) itself holds a listening socket for each port a
# container publishes: `docker ps` says which those are; any other TCP listener of dockerd's is a finding.
# dockerd opens and closes descriptors all the time: one that closes between ls listing fd/ and reading its link is
# ls's "minor problem" (exit 1), the rest still listed; a directory it cannot read at all is exit 2, and a failure.
# (HOMELAB_PROC and HOMELAB_DAEMON_JSON exist for the selftests, which run it on a fake /proc.)
DAEMON_SCRIPT = f"""proc=${{HOMELAB_PROC:-/proc}}; conf=${{HOMELAB_DAEMON_JSON:-{DAEMON_JSON}}}
pids=$(pgrep -x dockerd 2>/dev/null || pidof dockerd 2>/dev/null)
[ -n "$pids" ] || {{ echo 'no dockerd process (pgrep -x dockerd found none)' >&2; exit 3; }}
for p in $pids; do
  echo "@@ cmdline $p"; tr '\\0' ' ' < "$proc/$p/cmdline" || exit 4; echo
  echo "@@ fd $p"; ls -l "$proc/$p/fd/"; [ $? -le 1 ] || exit 4
  for f in tcp tcp6; do
    if [ -e "$proc/$p/net/$f" ]; then echo "@@ net $p $f"; cat "$proc/$p/net/$f" || exit 5; fi
  done
done
if [ -e "$conf" ]; then echo '@@ daemon.json'; cat "$conf" || exit 6; echo
else echo '@@ daemon.json absent'; fi
if ports=$(docker ps --format '{{{{.Ports}}}}' 2>&1); then echo '@@ published'; else echo '@@ published unreadable'; fi
printf '%s\\n' "$ports"
"""
DAEMON_SOURCE = f"dockerd's /proc entries and {DAEMON_JSON}, read as root over SSH"
# dockerd's host flags: `-H X`, `-HX`, `-H=X`, `--host X`, `--host=X` (quoted or not).
_HOST_FLAG = re.compile(r"""(?:^|\s)(?:-H|--host(?=[\s=]))[\s=]*["']?([^\s"']+)""")
_LOCAL_SCHEMES = ("unix://", "fd://", "npipe://")
_SOCKET_INODE = re.compile(r"->\s*socket:\[(\d+)\]")
_TCP_LISTEN = "0A"


def _hex_address(text: str) -> str:
    raw = bytes.fromhex(text)
    if len(raw) == 4:
        return str(IPv4Address(raw[::-1]))
    v6 = IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))  # four host-order 32-bit words
    return str(v6.ipv4_mapped) if v6.ipv4_mapped else f"[{v6}]"


def tcp_hosts(text: str) -> list[str]:
    """The hosts of dockerd's `-H`/`--host` flags in `text` that are not local sockets: `tcp://...`, and an
    address without a scheme (dockerd reads `-H 0.0.0.0:2375` as tcp)."""
    return [h for h in _HOST_FLAG.findall(text) if not h.lower().startswith(_LOCAL_SCHEMES)]


@dataclass(frozen=True)
class DaemonView:
    """dockerd as configured and as running: its command lines, daemon.json (None: absent), and the TCP
    sockets its processes hold in LISTEN (`ADDRESS:PORT`)."""

    cmdlines: tuple[str, ...]
    daemon_json: str | None
    tcp_sockets: tuple[str, ...]
    published: frozenset[int] = frozenset()  # host ports containers publish (dockerd holds their sockets)

    @property
    def cmdline(self) -> str:
        return " | ".join(self.cmdlines)

    @property
    def configured(self) -> list[str]:
        """The TCP hosts dockerd is told to listen on: its flags and daemon.json `hosts`."""
        found = [h for line in self.cmdlines for h in tcp_hosts(line)]
        hosts = json.loads(self.daemon_json).get("hosts", []) if self.daemon_json else []
        hosts = [hosts] if isinstance(hosts, str) else hosts
        return found + [h for h in hosts if isinstance(h, str) and not h.lower().startswith(_LOCAL_SCHEMES)]

    @property
    def tcp_listeners(self) -> list[str]:
        """Every sign of dockerd on TCP: configured hosts, then the listening sockets it holds."""
        return self.configured + [f"a listening socket {s} (no container publishes {s.rsplit(':', 1)[1]})"
                                  for s in self.unexplained]

    @property
    def unexplained(self) -> list[str]:
        """dockerd's listening TCP sockets that are no container's published port."""
        return [s for s in self.tcp_sockets if int(s.rsplit(":", 1)[1]) not in self.published]


_PORT_MAPPING = re.compile(r"^(?:.*):(\d+)(?:-(\d+))?->\S+/tcp$")


def published_host_ports(text: str) -> frozenset[int]:
    """The TCP host ports in `docker ps --format '{{.Ports}}'` output (`0.0.0.0:9443->9443/tcp, [::]:8000-8001->
    8000-8001/tcp, 9000/tcp`: a port without `->` is exposed, not published)."""
    found: set[int] = set()
    for entry in (e.strip() for line in text.splitlines() for e in line.split(",")):
        match = _PORT_MAPPING.match(entry)
        if match:
            first = int(match.group(1))
            found.update(range(first, int(match.group(2) or first) + 1))
    return frozenset(found)


def _sections(text: str) -> list[tuple[list[str], list[str]]]:
    found: list[tuple[list[str], list[str]]] = []
    for line in text.splitlines():
        if line.startswith("@@ "):
            found.append((line[3:].split(), []))
        elif found:
            found[-1][1].append(line)
    return found


def _listening(table: list[str]) -> dict[int, str]:
    """inode -> ADDRESS:PORT for the LISTEN sockets of one /proc/net/tcp{,6} table."""
    found: dict[int, str] = {}
    for line in table:
        parts = line.split()
        if len(parts) < 10 or not parts[0].rstrip(":").isdigit() or parts[3] != _TCP_LISTEN:
            continue
        address, _, port = parts[1].partition(":")
        found[int(parts[9])] = f"{_hex_address(address)}:{int(port, 16)}"
    return found


def parse_daemon(result: CommandResult) -> DaemonView:
    """What DAEMON_SCRIPT printed, or Unobserved saying why it cannot be judged (sudo wanted a password, no
    dockerd, an empty command line, no socket table, daemon.json unreadable or not JSON)."""
    if not result.ok:
        why = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise Unobserved(f"the read exited {result.exit_status}: {why}")
    cmdlines: list[str] = []
    fds: dict[str, set[int]] = {}
    tables: dict[str, dict[int, str]] = {}
    daemon_json: str | None = None
    seen_json = False
    published: frozenset[int] | None = None
    why_unpublished = "no `docker ps` output"
    for head, body in _sections(result.stdout):
        if head[0] == "cmdline":
            line = " ".join(body).strip()
            if not line:
                raise Unobserved(f"dockerd (pid {head[1]}) has an empty command line")
            cmdlines.append(line)
        elif head[0] == "fd":
            fds[head[1]] = {int(i) for i in _SOCKET_INODE.findall("\n".join(body))}
            if not any("->" in line for line in body):
                raise Unobserved(f"no open files listed for dockerd (pid {head[1]})")
        elif head[0] == "net":
            if not any(line.split()[:1] == ["sl"] for line in body):
                raise Unobserved(f"/proc/{head[1]}/net/{head[2]} has no socket table")
            tables.setdefault(head[1], {}).update(_listening(body))
        elif head[0] == "published":
            published = None if head[1:] == ["unreadable"] else published_host_ports("\n".join(body))
            why_unpublished = " ".join(line.strip() for line in body if line.strip())[:200]
        elif head[0] == "daemon.json":
            seen_json = True
            daemon_json = None if head[1:] == ["absent"] else "\n".join(body).strip()
    if not cmdlines:
        raise Unobserved("no dockerd command line in the output")
    if not seen_json:
        raise Unobserved(f"nothing said about {DAEMON_JSON}")
    if daemon_json is not None and daemon_json:
        try:
            if not isinstance(json.loads(daemon_json), dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            raise Unobserved(f"{DAEMON_JSON} is not a JSON object ({exc})") from None
    missing = [pid for pid in fds if pid not in tables]
    if missing:
        raise Unobserved(f"no /proc/PID/net/tcp for dockerd (pid {', '.join(missing)})")
    sockets = sorted({tables[pid][inode] for pid, inodes in fds.items() for inode in inodes if inode in tables[pid]})
    if sockets and published is None:
        raise Unobserved(f"dockerd holds listening TCP sockets ({', '.join(sockets)}) and `docker ps` could not say "
                         f"which are published ports: {why_unpublished or 'no output'}")
    return DaemonView(tuple(cmdlines), daemon_json, tuple(sockets), published or frozenset())


def expect_dockerd_unix_only(shell: Any, fix: str) -> None:
    """Fail the spec (expected / found / where / fix) when dockerd on the host of `shell` (`on(host)`: its
    `target`, and `run(command, root=True)`) is told to listen on TCP, or holds a listening TCP socket; fail as
    "could not observe" when either cannot be read."""
    __tracebackhide__ = True
    import pytest

    from homelab.checks import problem

    host = shell.target
    try:
        view = parse_daemon(shell.run(DAEMON_SCRIPT, root=True))
    except Unobserved as exc:
        pytest.fail(could_not_observe(str(exc), host.name, f"{DAEMON_SOURCE} as {host.ssh.user}"), pytrace=False)
    assert not view.tcp_listeners, problem(
        expected="dockerd on its unix socket only: no tcp host configured, no TCP socket listening",
        found=", ".join(view.tcp_listeners),
        where=f"{host.name}: dockerd command line `{view.cmdline}`, {DAEMON_JSON}, and the sockets dockerd holds",
        fix=fix)


def env_file_of(container: Any) -> str | None:
    """The `.env` compose read for the container's project: its env-file label, else working_dir/.env."""
    labels = container.attrs.get("Config", {}).get("Labels") or {}
    named = labels.get("com.docker.compose.project.environment_file")
    if named:
        return str(named).split(",")[0]
    working_dir = labels.get("com.docker.compose.project.working_dir")
    return f"{working_dir}/.env" if working_dir else None


def stat_command(path: str, user: str = "") -> str:
    """`stat` of `path` as root (`sudo -n` unless `user` is root)."""
    return as_root(user, f"stat -c '%a %U %G' {shlex.quote(path)}")


def read_stat(result: CommandResult) -> tuple[int, str, str] | None:
    """(mode, owner, group) from `stat_command`; None when the file does not exist; Unobserved when the read
    failed otherwise (sudo wanted a password, say) or printed something else."""
    if not result.ok:
        why = (result.stderr.strip() or "no output").splitlines()[-1]
        if "No such file" in why:
            return None
        raise Unobserved(f"stat exited {result.exit_status}: {why}")
    found = parse_stat(result.stdout)
    if found is None:
        raise Unobserved(f"stat printed {result.stdout.strip()[:80]!r}, not `MODE OWNER GROUP`")
    return found


def parse_stat(text: str) -> tuple[int, str, str] | None:
    parts = text.split()
    if len(parts) != 3:
        return None
    return int(parts[0], 8), parts[1], parts[2]
