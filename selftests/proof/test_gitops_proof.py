"""The proof of Git as the source of truth, on the lab: a commit that changes a stack, pushed to the lab's Git
server, makes the drift specs fail (GIT-STACK-002 for the Git stacks, GIT-EDGE-002 for the Edge stack on the
gaming PC); Portainer's GitOps polling then redeploys the Git stacks without bootstrap, the change running, while
the Edge stack stays behind (Portainer CE never polls an Edge stack: expected, and an accepted risk) until
bootstrap phase 4 recreates it from the reference and its agent deploys it. A repository Portainer cannot clone
gives bootstrap's one-line error. (Stacks edited in Portainer are faults of the exposure proof:
lab/faults/gitops.py.)
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import yaml
from proof import INVENTORY, TIMINGS, bootstrap, deploy, failed, run, specs

from lab import gitserver
from lab.docker import docker
from lab.topology import LAB_DIR, REPO, machine

pytestmark = pytest.mark.lab
LABEL = "homelab.gitops-proof"
HOST = "pve-docker-1"
EDGE_HOST = "gaming-pc-1"
DRIFT = "test_stack_runs_the_reference"
EDGE_DRIFT = "test_edge_stack_runs_the_reference"
REDEPLOY_LIMIT = 180.0


@pytest.fixture(scope="module")
def lab() -> None:
    deploy((1, 2, 3, 4), "gitops")


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60).stdout


def _commit_a_change(folder: Path, value: str) -> str:
    """A clone of this checkout with one more commit: node-exporter gets a label (exporters stack)."""
    _git("clone", "--quiet", "--no-local", str(REPO), str(folder), cwd=REPO)
    compose = folder / "stacks/exporters/compose.yaml"
    data = yaml.safe_load(compose.read_text())
    labels = data["services"]["node-exporter"].setdefault("labels", {})
    labels[LABEL] = value
    compose.write_text(yaml.safe_dump(data, sort_keys=False))
    _git("-c", "user.name=proof", "-c", "user.email=proof@lab.invalid", "commit", "--quiet", "-am",
         "proof: a stack changes in Git", cwd=folder)
    return _git("rev-parse", "HEAD", cwd=folder).strip()


def _label(host: str) -> str:
    return docker("exec", machine(host).container, "docker", "inspect", "--format",
                  f'{{{{index .Config.Labels "{LABEL}"}}}}', "node-exporter").strip()


def test_a_pushed_change_is_drift_until_gitops_redeploys_it(lab: None, tmp_path: Path) -> None:
    value = f"{time.time():.0f}"
    commit = _commit_a_change(tmp_path / "clone", value)
    try:
        pushed = time.monotonic()
        assert gitserver.push("HEAD", source=tmp_path / "clone") == commit
        _, results = specs(tmp_path / "drift.xml", marker="gitops")
        caught = failed(results)
        assert caught, "a commit behind what Portainer runs failed no spec"
        assert all(n.startswith((f"{DRIFT}[", f"{EDGE_DRIFT}[")) for n in caught), \
            f"not only the drift specs failed: {sorted(caught)}"
        assert f"{EDGE_DRIFT}[exporters@{EDGE_HOST}]" in caught, "the Edge stack's drift was not caught"
        message = results[sorted(n for n in caught if n.startswith(DRIFT))[0]].message
        assert f"main is at {commit[:7]}" in message, message
        assert "fix: " in message, message
        deadline = pushed + REDEPLOY_LIMIT
        while True:  # no bootstrap: Portainer polls the reference and redeploys the Git stacks
            _, results = specs(tmp_path / "polled.xml", marker="gitops")
            left = failed(results)
            if not [n for n in left if not n.startswith(EDGE_DRIFT)] or time.monotonic() > deadline:
                break
            time.sleep(5)
        TIMINGS["push to redeployed by GitOps (all Git stacks green)"] = time.monotonic() - pushed
        assert not [n for n in left if not n.startswith(EDGE_DRIFT)], \
            f"GitOps did not redeploy within {REDEPLOY_LIMIT:.0f} s: {sorted(left)}"
        assert _label(HOST) == value, "the stack was not redeployed with the pushed change"
        # Portainer CE does not poll Edge stacks: the drift stays until bootstrap recreates the stack
        assert f"{EDGE_DRIFT}[exporters@{EDGE_HOST}]" in left, "the Edge stack's drift went away without bootstrap"
        assert _label(EDGE_HOST) == "", "the Edge stack changed without bootstrap"
        edge_started = time.monotonic()
        redeployed = bootstrap(phase=4)
        assert redeployed.returncode == 0, redeployed.output[-3000:]
        assert "recreating the exporters Edge stack" in redeployed.output, redeployed.output[-3000:]
        _, results = specs(tmp_path / "edge.xml", marker="gitops")
        TIMINGS["Edge stack: bootstrap phase 4 to the change running (GIT-EDGE green)"] = \
            time.monotonic() - edge_started
        assert not failed(results), f"bootstrap did not bring the Edge stack to the push: {sorted(failed(results))}"
        assert _label(EDGE_HOST) == value, "the Edge stack was not redeployed with the pushed change"
    finally:
        gitserver.push()  # the checkout's HEAD again
        restored = bootstrap(phase=4)
    assert restored.returncode == 0, restored.output[-3000:]
    _, results = specs(tmp_path / "restored.xml", marker="gitops")
    assert not failed(results), f"bootstrap did not bring the stacks back to HEAD: {sorted(failed(results))}"
    assert _label(HOST) == "", "the change pushed by the proof still runs"
    assert _label(EDGE_HOST) == "", "the change pushed by the proof still runs on the Edge host"


def test_unreachable_repository_is_one_clear_line(lab: None, tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / INVENTORY).read_text())
    missing = data["git"]["repository"].replace(".git", "-missing.git")
    data["git"]["repository"] = missing
    inventory = LAB_DIR / "inventory-missing-git.yaml"
    inventory.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        done = run("-m", "bootstrap", "phase4", "--inventory", str(inventory))
    finally:
        inventory.unlink(missing_ok=True)
    assert done.returncode != 0, done.output[-2000:]
    assert "Traceback" not in done.output, done.output[-3000:]
    last = done.output.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    assert missing in last, last
    assert "fix: " in last, last
