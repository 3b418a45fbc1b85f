"""Where a service's API is (homelab.clients.connect: its `upstream`, else its only TCP port) never ends a run in a
traceback. The loader refuses an API service that does not say (one line naming file and field, and `python -m
bootstrap`, `python -m bootstrap.gaming` and `pytest --inventory` stop with it); a service missing from the inventory
altogether is one line too, from bootstrap's phases and from a spec. No host needed."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from spec_project import INI, closed_port, inventory_text
from test_cli_paths import run

import bootstrap.__main__ as bootstrap_main
from bootstrap.steps import Step
from homelab.clients import connect
from homelab.model.inventory import API_SERVICES, Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.secrets import Secrets

TECHNITIUM = """\
    ports: [{port: 53}, {port: 53, protocol: udp}, {port: 5380}]
    exposure: vpn
    fqdn: dns.home.example.com
    upstream: {port: 5380}
"""
LINE = (REPO / "inventory.yaml").read_text().splitlines().index("  technitium:") + 1
REFUSAL = (f"{LINE}: services.technitium.upstream: is missing, and technitium has 2 TCP ports; expected `upstream: "
           "{port: N}`, the port of its API, which bootstrap and the specs ask")


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """The repository's inventory with `old` (found once) replaced by `new`, in tmp_path."""
    text = (REPO / "inventory.yaml").read_text()
    assert text.count(old) == 1
    path = tmp_path / "inventory.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.fixture
def no_api_port(tmp_path: Path) -> Path:
    """Technitium without `fqdn` and `upstream`: its ports 53/tcp and 5380/tcp leave its API port unsaid."""
    return edited(tmp_path, TECHNITIUM, TECHNITIUM.replace("    fqdn: dns.home.example.com\n", "")
                  .replace("    upstream: {port: 5380}\n", ""))


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- refused when read ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("phase", ["phase1", "phase4"])
def test_bootstrap_stops_in_one_line(no_api_port: Path, phase: str) -> None:
    """`python -m bootstrap phaseN --inventory X`: exit 2 before any host is asked, one line naming file and field."""
    done = run("-m", "bootstrap", phase, "--dry-run", "--inventory", str(no_api_port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_error_line(done.stderr) == f"error: {no_api_port}:{REFUSAL}"
    assert done.stdout == ""


def test_gaming_toggle_stops_in_one_line(no_api_port: Path) -> None:
    done = run("-m", "bootstrap.gaming", "status", "gaming-pc-1", "--inventory", str(no_api_port))
    assert done.returncode == 2, done.stdout + done.stderr
    assert one_error_line(done.stderr) == f"error: {no_api_port}:{REFUSAL}"


def test_pytest_stops_in_one_usage_error(no_api_port: Path) -> None:
    """`pytest --inventory X`: a usage error (4) with the loader's line, before any spec runs."""
    done = run("-m", "pytest", "--inventory", str(no_api_port), "-m", "static", "-q", "-p", "no:cacheprovider",
               "--no-reports")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert one_error_line(done.stderr) == f"ERROR: {no_api_port}:{REFUSAL}"


def test_what_connect_can_use_loads(tmp_path: Path) -> None:
    """An API service with one TCP port needs no `upstream` (connect asks that port); a service connect never asks
    (node-exporter) may publish several TCP ports without one."""
    path = edited(tmp_path, "    fqdn: status.home.example.com\n    upstream: {port: 3001}\n", "")
    path.write_text(path.read_text().replace("ports: [{port: 9100}]", "ports: [{port: 9100}, {port: 9101}]"))
    inventory = load_inventory(path)
    assert connect.url(inventory, "uptime-kuma") == f"http://{inventory.platform_host.address}:3001"


def test_the_loader_checks_every_service_connect_asks() -> None:
    """Every client connect makes asks a service of API_SERVICES, the loader's list, and each of them is asked."""
    inventory = load_inventory(REPO / "inventory.yaml")
    secrets = Secrets(inventory.secrets, Path("/nonexistent/.env"), environ=dict.fromkeys(
        ("PORTAINER_API_TOKEN", "PORTAINER_TLS_FINGERPRINT"), "selftest-value-1"))
    asked: list[str] = []

    def service(inventory: Inventory, name: str) -> object:
        asked.append(name)
        raise LookupError(name)  # stops each client before it connects

    clients = [lambda: connect.grafana(inventory, None), lambda: connect.prometheus(inventory),
               lambda: connect.technitium(inventory, None), lambda: connect.npm(inventory, None),
               lambda: connect.uptime_kuma(inventory, None), lambda: connect.portainer(inventory, secrets)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(connect, "_service", service)
        for client in clients:
            with pytest.raises(LookupError):
                client()
    assert sorted(set(asked)) == sorted(API_SERVICES)


# -- a service missing altogether ------------------------------------------------------------------------------
def test_bootstrap_phase_without_the_service_is_one_line(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A phase whose step asks a service the inventory lacks (here Grafana): exit 1, connect's line, no traceback."""
    def plan(inventory: Inventory, secrets: Secrets, pool: object) -> list[Step]:
        without = replace(inventory, services={k: v for k, v in inventory.services.items() if k != "grafana"})
        return [Step("Grafana answers", "platform", lambda: bool(connect.url(without, "grafana")), lambda: None)]

    monkeypatch.setitem(bootstrap_main.PHASES, "phase4", plan)
    assert bootstrap_main.main(["phase4", "--dry-run", "--inventory", str(REPO / "inventory.yaml")]) == 1
    expected = (f"error: {REPO / 'inventory.yaml'}: services.grafana: not in the inventory; expected an entry with "
                "its stack and `upstream: {port: N}`, the port of its API")
    assert one_error_line(capsys.readouterr().err) == expected


def test_spec_without_the_service_is_one_line(pytester: pytest.Pytester) -> None:
    """A spec whose fixture asks connect for a service the inventory lacks: an error whose report is connect's one
    line, not a traceback through connect.py."""
    pytester.makefile(".ini", pytest=INI)
    (pytester.path / "inventory.yaml").write_text(inventory_text(closed_port()))
    (pytester.path / "key").write_text("not a real key: nothing connects\n")
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_missing_grafana.py").write_text(textwrap.dedent('''\
        import pytest
        from homelab.clients import connect

        pytestmark = pytest.mark.phase1

        @pytest.fixture
        def grafana(inventory):
            return connect.url(inventory, "grafana")

        def test_grafana_answers(grafana):
            """Grafana answers."""
        '''))
    result = pytester.runpytest("tests", "--no-reports")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "inventory.yaml: services.grafana: not in the inventory; expected an entry with its stack" in out
    assert "connect.py" not in out
    assert "Traceback" not in out
