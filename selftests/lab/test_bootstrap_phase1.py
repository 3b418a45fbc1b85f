"""Bootstrap phase 1 end to end on the lab: a dry run changes nothing, a run converges, a second run is a no-op,
the platform stack is healthy, the Portainer token works and Portainer's certificate is pinned.

Marked `lab_bootstrap`: it runs after the plain lab tests (which expect fresh hosts) and before the lifecycle
tests, which undo it. Bootstrap is idempotent, so the module just runs it, whatever state the platform is in.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from lab_helpers import sh

from homelab.clients.portainer import FINGERPRINT_VAR, TOKEN_VAR, FingerprintMismatch, Portainer
from homelab.model.inventory import Inventory
from homelab.model.paths import REPO
from homelab.model.secrets import read_env_file
from homelab.transport.ssh import SSHPool

pytestmark = [pytest.mark.lab, pytest.mark.lab_bootstrap]
ROOT = REPO
TIMEOUT = 900


def bootstrap(inventory: Inventory, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootstrap", "phase1", "--inventory", str(inventory.path), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def stack_state(pool: SSHPool, inventory: Inventory) -> str:
    """What bootstrap changes on the platform host: containers, stack files, firewall (no uptimes)."""
    return sh(pool, inventory.platform_host,
              "docker ps -a --format '{{.Names}} {{.Image}} {{.State}} {{.ID}}' | sort; "
              "sudo -n sh -c 'cat /opt/homelab/stacks/platform/* 2>/dev/null; ufw status; "
              "iptables -S HOMELAB-DOCKER 2>/dev/null' | sha256sum")


def containers(pool: SSHPool, inventory: Inventory) -> dict[str, str]:
    out = sh(pool, inventory.platform_host, "docker ps -a --format '{{.Names}} {{.Status}}'")
    return {line.split()[0]: line for line in out.splitlines()}


@pytest.fixture(scope="module")
def runs(lab_inventory: Inventory, pool: SSHPool) -> dict[str, subprocess.CompletedProcess[str]]:
    """A dry run (and the state around it), then a run, then a second run."""
    before = stack_state(pool, lab_inventory)
    dry = bootstrap(lab_inventory, "--dry-run")
    after_dry = stack_state(pool, lab_inventory)
    first = bootstrap(lab_inventory)
    second = bootstrap(lab_inventory)
    return {"dry": dry, "first": first, "second": second,
            "dry_unchanged": subprocess.CompletedProcess([], int(before != after_dry), before, after_dry)}


def test_dry_run_changes_nothing(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """`--dry-run` prints the plan and leaves the platform host as it was."""
    assert runs["dry"].returncode == 0, runs["dry"].stderr
    assert "(dry run)" in runs["dry"].stdout
    assert runs["dry_unchanged"].returncode == 0, f"{runs['dry_unchanged'].stdout} -> {runs['dry_unchanged'].stderr}"


def test_run_converges_and_second_run_does_nothing(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """The phase applies without error; run again, it changes nothing and says so."""
    assert runs["first"].returncode == 0, runs["first"].stdout + runs["first"].stderr
    assert runs["second"].returncode == 0, runs["second"].stdout + runs["second"].stderr
    assert "nothing to do" in runs["second"].stdout, runs["second"].stdout
    assert "Traceback" not in runs["first"].stderr + runs["second"].stderr


def test_stack_healthy_and_firewall_active(runs: dict[str, object], lab_inventory: Inventory, pool: SSHPool) -> None:
    """Every platform container runs (healthy where it has a healthcheck) and ufw is active."""
    assert sh(pool, lab_inventory.platform_host, "sudo -n ufw status | head -1").strip() == "Status: active"
    names = containers(pool, lab_inventory)
    assert set(names) >= {"portainer", "npm", "technitium", "uptime-kuma"}
    for name in ("npm", "technitium", "uptime-kuma"):
        assert "(healthy)" in names[name], names[name]
    assert names["portainer"].split()[1] == "Up"


def test_portainer_token_works_over_pinned_tls(runs: dict[str, object], lab_inventory: Inventory) -> None:
    """The token bootstrap stored authenticates; the recorded fingerprint pins Portainer's certificate."""
    env = read_env_file(lab_inventory.settings.env_file)
    address = str(lab_inventory.platform_host.address)
    with Portainer.pinned(address, env[FINGERPRINT_VAR], api_key=env[TOKEN_VAR]) as portainer:
        assert portainer.me()["Username"] == "admin"
        assert portainer.status().version == "2.23.0"
    wrong = "00" + env[FINGERPRINT_VAR][2:]
    with Portainer.pinned(address, wrong) as portainer, pytest.raises(FingerprintMismatch, match="refusing"):
        portainer.status()


def test_secrets_never_printed(runs: dict[str, subprocess.CompletedProcess[str]], lab_inventory: Inventory) -> None:
    """No secret value from the env file appears in bootstrap's output."""
    env = read_env_file(lab_inventory.settings.env_file)
    output = "".join(runs[k].stdout + runs[k].stderr for k in ("dry", "first", "second"))
    leaked = [name for name, value in env.items() if len(value) >= 8 and "@" not in value and value in output
              and name != FINGERPRINT_VAR]
    assert leaked == []
