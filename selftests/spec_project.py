"""A mini homelab repository for pytester runs of the spec plugin: its pytest.ini, an inventory whose hosts are
closed local ports (so SSH is refused at once), and specs whose faults a test switches on and off."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import socket
import textwrap
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from homelab.model.paths import REPO as REPO  # the repository root, for the selftests that import it here

if TYPE_CHECKING:
    from homelab.model.inventory import Inventory



def spec_module(relative: str) -> ModuleType:
    """A spec file of the repository (`tests/names/test_name_tls.py`) imported from its path, so a selftest can call
    its spec functions with fakes."""
    spec = importlib.util.spec_from_file_location(relative.replace("/", "_").removesuffix(".py"), REPO / relative)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INI = """\
[pytest]
addopts = --strict-markers -p no:cacheprovider -p no:pytest11.testinfra
testpaths = tests
empty_parameter_set_mark = fail_at_collect
markers =
    static: no host
    phase1: platform
    phase2: agents
"""

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAzoDnt+rjPJu5k3hJXnLwt57wibA+ccrz1WTb9ZT32b"
PLANTED = "pl4nted-s3cret-value-0042"


def lab_inventory_in(directory: Path) -> Inventory:
    """The inventory `lab up` writes, built from the seed with stand-in host keys in `directory` (no Docker
    needed)."""
    import yaml

    from homelab.model.inventory_loader import load_inventory
    from lab import inventory as lab_inventory

    names = [m.name for m in (*lab_inventory.hosts(), *lab_inventory.VANTAGES)] + ["router"]
    path = directory / "inventory.yaml"
    path.write_text(yaml.safe_dump(lab_inventory.build(dict.fromkeys(names, HOST_KEY), {})))
    return load_inventory(path)


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def inventory_text(port: int) -> str:
    ssh = f"{{user: admin, port: {port}, key: key, host_key: {HOST_KEY}}}"
    return textwrap.dedent(f"""\
        name: mini
        domain: home.example.com
        settings: {{connect_timeout: 1, env_file: .env}}
        networks:
          lan: {{cidr: 127.0.0.0/8, kind: lan}}
        hosts:
          platform: {{address: 127.0.0.1, platform: proxmox-vm, role: platform, os: debian,
                     ssh: {ssh}, stacks: [platform]}}
          gaming-pc-1: {{address: 127.0.0.2, platform: wsl2, role: edge, os: ubuntu, availability: on-demand,
                        ssh: {ssh}, stacks: [edge-agent]}}
        services:
          portainer: {{stack: platform, ports: [{{port: 9443}}], exposure: vpn}}
          npm: {{stack: platform, ports: [{{port: 81}}], exposure: vpn}}
          portainer-edge-agent: {{stack: edge-agent, ports: [], exposure: vpn}}
        secrets:
          PLANTED_TOKEN: a secret the specs must never show
        """)


# Specs that pass unless their name is listed in the project's `faults` file, so that two runs can differ.
AUDIT_SPECS = '''\
from pathlib import Path

import pytest

pytestmark = pytest.mark.phase1


def fault(name):
    return name in Path("faults").read_text().split()


@pytest.mark.spec("P1-A-001", severity="critical", fix="close port 9000 in stacks/platform/compose.yaml")
@pytest.mark.each("instance", stack="platform")
def test_port_closed(instance, secrets):
    """Portainer's plain-HTTP port 9000 answers from nowhere."""
    token = secrets.get("PLANTED_TOKEN")
    assert not fault(f"port-{instance.service.name}"), (
        f"{instance.id}: port 9000 answers (token {token}); expected closed")


@pytest.mark.spec("P1-A-002", severity="high", fix="turn the firewall on: ufw enable")
@pytest.mark.each("host", role="platform")
def test_firewall_on(host):
    """ufw is active on the platform VM."""
    assert not fault("firewall"), f"{host.name}: ufw is inactive; expected active"


@pytest.mark.spec("P1-A-003", severity="low", fix="set the time zone")
@pytest.mark.each("host", role="platform")
def test_timezone(host):
    """The platform VM's time zone is UTC."""
    assert not fault("timezone"), f"{host.name}: time zone is Europe/Paris; expected UTC"


@pytest.mark.phase2
@pytest.mark.spec("P2-A-001", severity="medium", fix="start the edge agent")
@pytest.mark.each("host", role="edge")
def test_edge_agent(host, on):
    """The gaming PC answers SSH (it is on demand: off is not a failure)."""
    if fault("edge-off"):
        on(host)
'''

# One spec that needs SSH to the always-on platform VM (its port is closed: the host is unreachable).
REACH_SPEC = '''\
import pytest

from homelab.model.paths import REPO

pytestmark = pytest.mark.phase1


@pytest.mark.spec("P1-A-010", severity="high", fix="start sshd on the platform VM")
@pytest.mark.each("host", role="platform")
def test_ssh(host, on):
    """The platform VM answers SSH."""
    on(host)
'''


def make_project(pytester: pytest.Pytester, specs: dict[str, str]) -> pytest.Pytester:
    """A mini homelab repo with `specs` (file name -> source) under tests/, no faults, a planted secret."""
    pytester.makefile(".ini", pytest=INI)
    (pytester.path / "inventory.yaml").write_text(inventory_text(closed_port()))
    (pytester.path / "key").write_text("not a real key: the connection is refused before it is read\n")
    (pytester.path / ".env").write_text(f"PLANTED_TOKEN={PLANTED}\n")
    (pytester.path / "faults").write_text("")
    (pytester.path / "tests").mkdir()
    for name, source in specs.items():
        (pytester.path / "tests" / name).write_text(source)
    return pytester


def set_faults(project: pytest.Pytester, *faults: str) -> None:
    (project.path / "faults").write_text(" ".join(faults))


def write_waivers(project: pytest.Pytester, text: str) -> Path:
    path = project.path / "waivers.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def results(project: pytest.Pytester) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.path / "reports" / "results.json").read_text())
    return data


def outcome(project: pytest.Pytester, spec_id: str, target: str) -> dict[str, Any]:
    """The check of `spec_id` on `target` in the latest results.json."""
    found = [c for c in results(project)["checks"] if c["spec_id"] == spec_id and c["target"] == target]
    assert len(found) == 1, f"{spec_id}[{target}]: {len(found)} checks in results.json; expected 1"
    return found[0]


OUTCOMES_CONFTEST = """
import json
from pathlib import Path


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        path = Path({out!r})
        found = json.loads(path.read_text()) if path.exists() else {{}}
        text = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
        found[report.nodeid.split("::")[-1]] = [report.outcome, text]
        path.write_text(json.dumps(found))
"""


def run_for_outcomes(project: pytest.Pytester, conftest: Path, *args: str) -> dict[str, tuple[str, str]]:
    """Run the real specs copied into `project` (`args`: pytest's), with `conftest` also recording each spec's
    outcome and message; the name in brackets (`test_x[platform]`) -> (outcome, message)."""
    out = project.path / "outcomes.json"
    out.unlink(missing_ok=True)
    conftest.write_text(OUTCOMES_CONFTEST.format(out=str(out)))
    plugin = [] if any(e.name == "homelab" for e in importlib.metadata.entry_points(group="pytest11")) \
        else ["-p", "homelab.specs.pytest_plugin"]
    project.runpytest_subprocess(*plugin, "-p", "bench_baseline", "--no-reports", "-p", "no:cacheprovider", *args)
    assert out.exists(), "no spec ran"
    return {k: (v[0], v[1]) for k, v in json.loads(out.read_text()).items()}
