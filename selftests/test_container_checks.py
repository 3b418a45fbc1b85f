"""What runs on a host, checked from its engine (homelab.checks.containers and the EXP-CTR specs).

The containers are `docker inspect` dicts built here in the Docker Engine API's shape: the clean ones as
bootstrap deploys the repository's stacks (compose labels, container_name, ports, mounts), the broken ones as
someone would start them by hand. The static twin (compose's privileged/pid/network_mode/`/` against
`host_access`) and the specs themselves, run through pytester against a fake engine, are at the end.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from spec_project import INI, closed_port, inventory_text

from homelab.checks import static, static_services
from homelab.checks.containers import (
    Finding,
    host_access,
    published_bindings,
    socket_mounts,
    unplanned_containers,
    unplanned_ports,
)
from homelab.checks.engine import STACKS_DIR
from homelab.model.compose import load_compose
from homelab.model.inventory import Host
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO

ROOT = REPO
EVERY = ("0.0.0.0", "::")
INVENTORY = load_inventory(ROOT / "inventory.yaml")
CHECKS = (unplanned_containers, unplanned_ports, socket_mounts, host_access)


def inspect(name: str, image: str, *, project: str | None = None, service: str | None = None,
            status: str = "running", ports: dict[str, list[tuple[str, str]]] | None = None,
            binds: tuple[str, ...] = (), privileged: bool = False, pid: str = "",
            network: str = "bridge") -> dict[str, Any]:
    """A container as `docker inspect` shows it. `ports`: "80/tcp" -> [(host ip, host port)] as configured
    (an empty ip is every address); `binds`: "SRC:DST[:ro]" as in HostConfig.Binds."""
    labels = {"com.docker.compose.project": project, "com.docker.compose.service": service,
              "com.docker.compose.oneoff": "False",
              "com.docker.compose.project.working_dir": f"/opt/homelab/stacks/{project}"} if project else {}
    running = status == "running"
    bindings = {key: [{"HostIp": ip, "HostPort": port} for ip, port in bound] for key, bound in (ports or {}).items()}
    live = {key: [{"HostIp": ip or family, "HostPort": port} for ip, port in bound
                  for family in (EVERY if not ip else (ip,))] for key, bound in (ports or {}).items()}
    mounts = []
    for bind in binds:
        source, target, *mode = bind.split(":")
        ro = "ro" in (mode[0].split(",") if mode else [])
        mounts.append({"Type": "bind", "Source": source, "Destination": target, "Mode": mode[0] if mode else "",
                       "RW": not ro, "Propagation": "rprivate"})
    return {
        "Id": f"{abs(hash(name)):064x}"[:64],
        "Created": "2026-12-06T01:01:49.207987821Z",
        "Name": f"/{name}",
        "State": {"Status": status, "Running": running, "Paused": False, "Restarting": False, "Pid": 677 if running
                  else 0, "ExitCode": 0 if running else 137},
        "Image": "sha256:9b6c3935040aaf2d4709cb94d75e7d08a3133dfbc9428737e2220fe6693898cb",
        "Config": {"Hostname": name, "Image": image, "Labels": labels, "Env": ["PATH=/usr/bin"],
                   "ExposedPorts": {key: {} for key in ports or {}}},
        "HostConfig": {"Binds": list(binds) or None, "NetworkMode": network, "PidMode": pid,
                       "Privileged": privileged, "PortBindings": bindings, "PublishAllPorts": False,
                       "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}, "Mounts": None},
        "Mounts": mounts,
        "NetworkSettings": {"Ports": live if running else {}},
    }


def deployed(stack: str) -> list[dict[str, Any]]:
    """The containers bootstrap's `docker compose -p STACK up` makes from stacks/STACK/compose.yaml."""
    compose = load_compose(STACKS_DIR / stack / "compose.yaml")
    found = []
    for svc in compose.services.values():
        raw = compose.data["services"][svc.name]
        ports: dict[str, list[tuple[str, str]]] = {}
        for m in svc.ports:
            ports.setdefault(f"{m.target}/{m.protocol}", []).append((m.host_ip or "", str(m.published or "")))
        binds = tuple(f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in svc.mounts if m.type == "bind")
        found.append(inspect(svc.container_name or svc.name, INVENTORY.settings.image_map.get(svc.image, svc.image),
                             project=stack, service=svc.name, ports=ports, binds=binds,
                             privileged=raw.get("privileged") is True, pid=raw.get("pid") or "",
                             network=raw.get("network_mode") or f"{stack}_default"))
    return found


def clean(host: Host) -> list[dict[str, Any]]:
    return [c for stack in host.stacks for c in deployed(stack)]


def findings(host: Host, containers: list[dict[str, Any]]) -> dict[str, list[Finding]]:
    return {check.__name__: check(INVENTORY, host, containers) for check in CHECKS}


PLATFORM = INVENTORY.hosts["platform"]
UNRAID = INVENTORY.hosts["unraid"]
STRAY = inspect("stray-web", "nginx:1.27", ports={"80/tcp": [("", "8081")]})
RELAY = inspect("docker-relay", "alpine/socat:1.8.0.0", ports={"2375/tcp": [("", "2375")]},
                binds=("/var/run/docker.sock:/var/run/docker.sock",))
DEBUG = inspect("debug", "ubuntu:24.04", privileged=True, binds=("/:/host",))


# -- a clean host -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(INVENTORY.hosts))
def test_clean_host_passes(name: str) -> None:
    """Every stack of the host deployed as bootstrap does it: no finding of any check."""
    host = INVENTORY.hosts[name]
    assert findings(host, clean(host)) == {check.__name__: [] for check in CHECKS}


def test_no_container_at_all_passes() -> None:
    """An engine that answers with no container is a clean (if empty) host."""
    assert findings(UNRAID, []) == {check.__name__: [] for check in CHECKS}


# -- a stray container on 0.0.0.0:8081 ------------------------------------------------------------------------

def test_stray_container_is_unplanned() -> None:
    """A container no stack explains is named, with its image, how to remove it, and extra_containers."""
    [found] = unplanned_containers(INVENTORY, PLATFORM, [*clean(PLATFORM), STRAY])
    assert (found.container, found.image) == ("stray-web", "nginx:1.27")
    assert "outside any compose stack" in found.found
    assert "`docker rm -f stray-web`" in found.fix
    assert "hosts.platform.extra_containers" in found.fix
    assert "bootstrap never deletes containers it did not create" in found.fix


def test_stray_port_is_unplanned() -> None:
    """Its port 8081 is published on every address and planned for no service."""
    [found] = unplanned_ports(INVENTORY, PLATFORM, [*clean(PLATFORM), STRAY])
    assert found.container == "stray-web"
    assert "publishes 8081/tcp on 0.0.0.0, :: (-> 80/tcp)" in found.found
    assert "which no service of the inventory plans on platform" in found.found


def test_extra_container_may_run_but_not_publish() -> None:
    """`extra_containers` lets the stray run; its published port is still a finding (no service plans it)."""
    host = dataclasses.replace(PLATFORM, extra_containers=("stray-web",))
    inventory = dataclasses.replace(INVENTORY, hosts={**INVENTORY.hosts, host.name: host})
    assert unplanned_containers(inventory, host, [*clean(host), STRAY]) == []
    assert [f.container for f in unplanned_ports(inventory, host, [*clean(host), STRAY])] == ["stray-web"]


def test_stopped_stray_is_no_finding() -> None:
    """A stopped container runs nothing and holds no port: not a finding."""
    stopped = inspect("stray-web", "nginx:1.27", status="exited", ports={"80/tcp": [("", "8081")]})
    assert findings(PLATFORM, [*clean(PLATFORM), stopped]) == {check.__name__: [] for check in CHECKS}


def test_loopback_port_is_not_published_to_anyone() -> None:
    """A port bound on 127.0.0.1 reaches only the host itself, as the policy allows for unlisted ports."""
    local = inspect("stray-web", "nginx:1.27", ports={"80/tcp": [("127.0.0.1", "8081")]})
    assert unplanned_ports(INVENTORY, PLATFORM, [local]) == []


def test_port_docker_picked_is_read_from_network_settings() -> None:
    """`-p 80` (Docker picks the host port): the configured binding is empty, the bound one is the port."""
    picked = inspect("stray-web", "nginx:1.27", ports={"80/tcp": [("", "")]})
    picked["NetworkSettings"]["Ports"] = {"80/tcp": [{"HostIp": EVERY[0], "HostPort": "32768"}]}
    assert list(published_bindings(picked)) == [(32768, "tcp")]


def test_planned_port_of_another_service_is_unplanned() -> None:
    """Ports are planned per service: grafana publishing uptime-kuma's 3001 is a finding."""
    containers = clean(PLATFORM)
    grafana = next(c for c in containers if c["Name"] == "/grafana")
    grafana["HostConfig"]["PortBindings"]["3000/tcp"].append({"HostIp": "", "HostPort": "3001"})
    [found] = unplanned_ports(INVENTORY, PLATFORM, containers)
    assert found.container == "grafana"
    assert "3001/tcp" in found.found
    assert "does not plan for services.grafana on platform (planned: 3000/tcp)" in found.found
    assert "`python -m bootstrap phase4`" in found.fix


# -- the Docker socket ------------------------------------------------------------------------------------------

def test_socket_relay_is_caught_three_ways() -> None:
    """A socat relay of the Docker socket: unplanned, its 2375 unplanned, and the socket mount (critical)."""
    containers = [*clean(UNRAID), RELAY]
    assert [f.container for f in unplanned_containers(INVENTORY, UNRAID, containers)] == ["docker-relay"]
    assert [f.found.split(" on ")[0] for f in unplanned_ports(INVENTORY, UNRAID, containers)] == [
        "publishes 2375/tcp"]
    [found] = socket_mounts(INVENTORY, UNRAID, containers)
    assert (found.container, found.image) == ("docker-relay", "alpine/socat:1.8.0.0")
    assert "mounts the Docker socket (/var/run/docker.sock at /var/run/docker.sock, read-write), which no service of " \
        "the inventory allows" in found.found
    assert "docker rm -f docker-relay" in found.fix


@pytest.mark.parametrize("source", ["/var/run", "/run", "/run/docker.sock"])
def test_socket_folder_counts(source: str) -> None:
    """/run and /var/run hold the socket: mounting them hands over the engine too."""
    found = socket_mounts(INVENTORY, UNRAID, [inspect("relay", "alpine/socat:1.8.0.0", binds=(f"{source}:/x",))])
    assert [f.container for f in found] == ["relay"]


def test_cadvisor_socket_read_write() -> None:
    """cadvisor may have the socket read-only (docker_socket: ro); read-write is a finding, fixed by phase 4."""
    containers = clean(UNRAID)
    cadvisor = next(c for c in containers if c["Name"] == "/cadvisor")
    cadvisor["HostConfig"]["Binds"] = None  # compose's long syntax: only the top-level Mounts
    for mount in cadvisor["Mounts"]:
        if mount["Source"] == "/var/run/docker.sock":
            mount.update(Mode="rw", RW=True)
    [found] = socket_mounts(INVENTORY, UNRAID, containers)
    assert found.container == "cadvisor"
    assert "read-write), which services.cadvisor does not allow (docker_socket: ro)" in found.found
    assert "redeploy with `python -m bootstrap phase4`" in found.fix


def test_socket_in_service_without_grant() -> None:
    """npm (docker_socket: none) with the socket: a finding whose fix is the redeploy, or a grant first."""
    containers = clean(PLATFORM)
    npm = next(c for c in containers if c["Name"] == "/npm")
    npm["Mounts"].append({"Type": "bind", "Source": "/var/run/docker.sock", "Destination": "/var/run/docker.sock",
                          "Mode": "ro", "RW": False, "Propagation": "rprivate"})
    [found] = socket_mounts(INVENTORY, PLATFORM, containers)
    assert "read-only), which services.npm does not allow (docker_socket: none)" in found.found
    assert "`python -m bootstrap phase1`" in found.fix
    assert "services.npm.docker_socket" in found.fix


# -- the host's namespaces and root ---------------------------------------------------------------------------

def test_privileged_container_with_root_mount() -> None:
    """A privileged debug container with / mounted: two findings, each naming what it has."""
    found = host_access(INVENTORY, PLATFORM, [*clean(PLATFORM), DEBUG])
    assert [(f.container, f.image) for f in found] == [("debug", "ubuntu:24.04")] * 2
    assert "has privileged mode" in found[0].found
    assert "has the host's root filesystem (a bind mount of /)" in found[1].found
    assert all("which no service of the inventory allows" in f.found and "docker rm -f debug" in f.fix for f in found)


def test_node_exporter_allowed_pid_and_root() -> None:
    """node-exporter runs in the host's PID namespace with / mounted: its host_access allows both."""
    exporter = next(c for c in clean(UNRAID) if c["Name"] == "/node-exporter")
    assert exporter["HostConfig"]["PidMode"] == "host"
    assert any(m["Source"] == "/" for m in exporter["Mounts"])
    assert host_access(INVENTORY, UNRAID, [exporter]) == []


def test_node_exporter_not_allowed_host_network() -> None:
    """... but not the host's network: that item alone is the finding."""
    exporter = next(c for c in clean(UNRAID) if c["Name"] == "/node-exporter")
    exporter["HostConfig"]["NetworkMode"] = "host"
    [found] = host_access(INVENTORY, UNRAID, [exporter])
    assert "has the host's network (network_mode: host), which services.node-exporter does not allow " \
        "(host_access: [pid, root])" in found.found
    assert "services.node-exporter.host_access: [network]" in found.fix


# -- which stack a container belongs to -------------------------------------------------------------------------

def test_stack_not_assigned_to_host() -> None:
    """A gpu-worker container on Unraid (which does not list that stack) is unplanned there."""
    ollama = next(c for c in deployed("gpu-worker") if c["Name"] == "/ollama")
    [found] = unplanned_containers(INVENTORY, UNRAID, [*clean(UNRAID), ollama])
    assert "stack gpu-worker (service ollama), which the inventory does not assign to unraid" in found.found
    assert [f.container for f in unplanned_ports(INVENTORY, UNRAID, [ollama])] == ["ollama"]


def test_same_name_other_project_is_unplanned() -> None:
    """The name alone proves nothing: `portainer-agent` started in another project is not the agent stack's."""
    fake = inspect("portainer-agent", "portainer/agent:2.23.0", project="agent-old", service="portainer-agent")
    [found] = unplanned_containers(INVENTORY, UNRAID, [fake])
    assert "compose project 'agent-old', which is no stack of the inventory" in found.found


def test_orphan_of_own_stack_is_removed_by_redeploy() -> None:
    """A service the stack's compose file no longer has: bootstrap's --remove-orphans removes it."""
    orphan = inspect("platform-old-1", "busybox:1.36", project="platform", service="old")
    [found] = unplanned_containers(INVENTORY, PLATFORM, [*clean(PLATFORM), orphan])
    assert "which stacks/platform/compose.yaml does not have" in found.found
    assert "`python -m bootstrap phase1` (compose's --remove-orphans removes it)" in found.fix


# -- the static twin: compose files against host_access -------------------------------------------------------

@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "inventory.yaml", tmp_path / "inventory.yaml")
    return tmp_path


def static_problems(root: Path) -> list[str]:
    repo = static.Repository(root)
    return [p for stack, service in repo.service_ids()
            for p in repo.check_service(static_services.host_access_allowed, stack, service)]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_static_clean_copy(repo: Path) -> None:
    """The repository's compose files ask only for what host_access allows (node-exporter, cadvisor)."""
    assert static_problems(repo) == []


@pytest.mark.parametrize(("key", "where", "expected"), [
    ("privileged: true", "services.grafana.privileged", "privileged mode (every device and capability"),
    ("pid: host", "services.grafana.pid", "the host's PID namespace (pid: host) only where"),
    ("network_mode: host", "services.grafana.network_mode", "the host's network (network_mode: host) only"),
])
def test_static_host_access_not_allowed(repo: Path, key: str, where: str, expected: str) -> None:
    """privileged / pid: host / network_mode: host on grafana (host_access: none) is one problem, on its line."""
    edit(repo / "stacks/monitoring/compose.yaml", "    container_name: grafana\n",
         f"    container_name: grafana\n    {key}\n")
    [found] = static_problems(repo)
    assert found.startswith(f"expected {expected}")
    assert f"{where}; fix: " in found
    assert "only where host_access allows it (inventory.yaml services.grafana host_access: [])" in found
    assert "allow it in inventory.yaml services.grafana.host_access" in found


def test_static_root_mount_needs_root(repo: Path) -> None:
    """Taking `root` from node-exporter's host_access makes its `/:/host` mount the problem."""
    edit(repo / "inventory.yaml", "host_access: [pid, root]", "host_access: [pid]")
    [found] = static_problems(repo)
    assert found.startswith("expected the host's root filesystem (a bind mount of /) only")
    assert "services.node-exporter.volumes.0; fix: " in found
    assert "found mount /:/host:ro" in found


# -- the specs themselves, against a fake engine ----------------------------------------------------------------

FAKE_ENGINE = '''\
import json

import docker
import pytest

from homelab.transport.dockerclient import EngineSnapshot
from selftests.fake_access import FakeAccess

MODE = {mode!r}
INSPECTED = json.loads({inspected!r})


class Refusing:
    """An engine whose every read fails, as a `docker` refused by the socket's permissions does."""

    class containers:
        @staticmethod
        def list(all=False, filters=None):
            raise docker.errors.APIError("permission denied while trying to connect to the Docker daemon socket")


@pytest.fixture(scope="session")
def access():
    def get(host):
        if MODE == "refused":
            return Refusing()
        # An empty snapshot over an engine that does not answer: the quiet failure of `docker ps | xargs`.
        client = docker.DockerClient(base_url="tcp://127.0.0.1:{port}", version="1.41", timeout=2)
        return EngineSnapshot(client, "" if MODE == "empty" else json.dumps(INSPECTED))
    return FakeAccess(engine=get)
'''


def mini_inventory() -> str:
    """spec_project's mini homelab, its portainer and npm planned as stacks/platform deploys them."""
    text = inventory_text(closed_port())
    for old, new in (("portainer: {stack: platform, ports: [{port: 9443}], exposure: vpn}",
                      "portainer: {stack: platform, ports: [{port: 9443}, {port: 8000}], exposure: vpn, "
                      "upstream: {port: 9443, scheme: https}, docker_socket: rw}"),
                     ("npm: {stack: platform, ports: [{port: 81}], exposure: vpn}",
                      "npm: {stack: platform, ports: [{port: 80}, {port: 443}, {port: 81}], exposure: vpn, "
                      "upstream: {port: 81}}")):
        assert old in text
        text = text.replace(old, new)
    return text


def spec_run(pytester: pytest.Pytester, mode: str, inspected: list[dict[str, Any]]) -> pytest.RunResult:
    """tests/exposure/test_host_containers.py, run on a mini homelab whose engine is the fake of `mode`."""
    pytester.makefile(".ini", pytest=INI + "    phase3: workers\n    phase4: observability\n    exposure: every path\n")
    (pytester.path / "inventory.yaml").write_text(mini_inventory())
    (pytester.path / "key").write_text("not a real key\n")
    (pytester.path / ".env").write_text("PLANTED_TOKEN=not-a-real-token\n")
    (pytester.path / "tests").mkdir()
    shutil.copy(ROOT / "tests/exposure/test_host_containers.py", pytester.path / "tests")
    (pytester.path / "tests/conftest.py").write_text(
        FAKE_ENGINE.format(mode=mode, inspected=json.dumps(inspected), port=closed_port()))
    return pytester.runpytest("-m", "phase1", "tests", "--no-reports", "-rA")


@pytest.mark.parametrize("mode", ["refused", "empty"])
def test_spec_fails_when_the_engine_cannot_be_read(pytester: pytest.Pytester, mode: str) -> None:
    """An engine that cannot be read fails every spec of the host, saying so; never a pass on an empty list."""
    result = spec_run(pytester, mode, [])
    result.assert_outcomes(failed=4)
    out = result.stdout.str()
    assert out.count("could not observe them") >= 4, out
    assert "where: the Docker engine of platform" in out


def test_specs_pass_on_a_clean_host_and_name_a_stray(pytester: pytest.Pytester) -> None:
    """The mini platform host with its platform stack passes, except a stray on 8081 (EXP-CTR-001 and 002)."""
    stray = inspect("stray-web", "nginx:1.27", ports={"80/tcp": [("", "8081")]})
    planned = [c for c in deployed("platform") if c["Name"] in ("/portainer", "/npm")]
    result = spec_run(pytester, "snapshot", [*planned, stray])
    result.assert_outcomes(failed=2, passed=2)
    result.stdout.fnmatch_lines([
        "FAILED tests/test_host_containers.py::test_only_planned_containers[[]platform[]]*",
        "FAILED tests/test_host_containers.py::test_no_unplanned_published_port[[]platform[]]*",
    ])
    assert "container stray-web (nginx:1.27) on platform" in result.stdout.str()


def test_spec_module_has_no_phase_marker() -> None:
    """Each host's check carries its host's phase (the plugin's `_phased`): the module sets none of its own."""
    source = (ROOT / "tests/exposure/test_host_containers.py").read_text()
    assert "pytestmark = pytest.mark.exposure" in source
    assert "pytest.mark.phase" not in source
