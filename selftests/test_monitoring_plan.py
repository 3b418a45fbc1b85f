"""Phase 4 without a lab: the plan from the example inventory (targets, file_sd, monitors), Kuma's /metrics
parsed, and what a Stack uploads (subfolders, generated files, the configuration digest)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bootstrap.phase4.exporters import monitoring_stack
from bootstrap.stack import CONFIG_LABEL, OVERRIDE, Stack
from homelab.checks.observability import parse_states
from homelab.model import monitoring
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.secrets import Secrets

ROOT = REPO


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


def test_targets_cover_every_exporter_host(example: Inventory) -> None:
    """Each job has one target per host with the exporters stack, at the inventory's port."""
    hosts = [h.name for h in example.hosts_with_stack("exporters")]
    for job, port in (("node", 9100), ("cadvisor", 8080)):
        found = monitoring.scrape_targets(example, job)
        assert [t.host.name for t in found] == hosts
        assert all(t.address == f"{t.host.address}:{port}" for t in found)


def test_file_sd_labels_on_demand_hosts(example: Inventory) -> None:
    """file_sd files are a list of groups; the gaming PCs are labelled on-demand, the rest always-on."""
    files = monitoring.file_sd_files(example)
    assert sorted(files) == ["prometheus/targets/cadvisor-inventory.json", "prometheus/targets/node-inventory.json"]
    groups = json.loads(files["prometheus/targets/node-inventory.json"])
    labels = {g["labels"]["host"]: g["labels"]["availability"] for g in groups}
    assert labels["gaming-pc-1"] == "on-demand"
    assert labels["platform"] == "always-on"
    assert all(len(g["targets"]) == 1 for g in groups)


def test_monitors_one_per_probeable_instance(example: Inventory) -> None:
    """One monitor per service instance that publishes something, named SERVICE@HOST, never twice."""
    specs = {m.name: m for m in monitoring.monitors(example)}
    assert len(specs) == len(monitoring.monitors(example))
    assert "portainer-edge-agent@gaming-pc-1" not in specs  # publishes nothing: nothing to probe
    assert specs["grafana@platform"].type == "http"
    assert specs["grafana@platform"].url == f"http://{example.platform_host.address}:3000/"
    assert specs["portainer@platform"].type == "port"  # https upstream with a self-signed certificate
    assert specs["node-exporter@unraid"].port == 9100
    assert {m.description for m in specs.values()} == {monitoring.MANAGED}


def test_dashboards_of_the_repo() -> None:
    assert set(monitoring.dashboards()) == {"homelab-hosts", "homelab-containers", "homelab-compliance"}


def test_kuma_states_parsed() -> None:
    text = ('# HELP monitor_status x\nmonitor_status{monitor_name="a@b",monitor_type="port"} 1\n'
            'monitor_status{monitor_name="c@d",monitor_type="http"} 0\n'
            'monitor_status{monitor_name="e",monitor_type="http"} 2\nmonitor_response_time{monitor_name="a@b"} 3\n')
    assert parse_states(text) == {"a@b": "up", "c@d": "down", "e": "pending (failing, retrying)"}


@dataclass
class _Remote:
    """What Stack.files needs of a Remote: the inventory, secrets and host."""

    inventory: Inventory
    secrets: Secrets
    host: object


def _stack(example: Inventory, tmp_path: Path, name: str) -> Stack:
    env = tmp_path / ".env"
    env.write_text("GRAFANA_ADMIN_PASSWORD=secret-value-1\n")
    remote = _Remote(example, Secrets(example.secrets, env), example.platform_host)
    if name == "monitoring":
        return monitoring_stack(remote)  # type: ignore[arg-type]
    return Stack(remote, name)  # type: ignore[arg-type]


def test_monitoring_stack_files(example: Inventory, tmp_path: Path) -> None:
    """The monitoring stack uploads its subfolders, the generated targets and a .env with HOMELAB_DIR."""
    files = _stack(example, tmp_path, "monitoring").files()
    assert "prometheus/prometheus.yml" in files
    assert "grafana/dashboards/homelab-hosts.json" in files
    assert "prometheus/targets/node-inventory.json" in files
    env = files[".env"][0].decode()
    assert "HOMELAB_DIR=/opt/homelab\n" in env
    assert files[".env"][1] == 0o600


def test_config_digest_follows_mounted_configuration(example: Inventory, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus and Grafana carry a digest of what they mount; the generated targets and READMEs are not in
    it, prometheus.yml is."""
    stack = _stack(example, tmp_path, "monitoring")
    labels = yaml.safe_load(stack.files()[OVERRIDE][0])["services"]
    before = {s: labels[s]["labels"][CONFIG_LABEL] for s in ("prometheus", "grafana")}
    repo = stack.repo_files()
    monkeypatch.setattr(Stack, "repo_files", lambda self: repo | {"prometheus/targets/README.md": b"changed"})
    assert stack.config_digests(yaml.safe_load(repo["compose.yaml"])) == before
    monkeypatch.setattr(Stack, "repo_files", lambda self: repo | {"prometheus/prometheus.yml": b"changed"})
    after = stack.config_digests(yaml.safe_load(repo["compose.yaml"]))
    assert after["prometheus"] != before["prometheus"]
    assert after["grafana"] == before["grafana"]


def test_stacks_without_mounts_keep_their_override(example: Inventory, tmp_path: Path) -> None:
    """A stack that mounts nothing of its folder gets no digest (no override at all without an image map)."""
    assert _stack(example, tmp_path, "exporters").override() is None
