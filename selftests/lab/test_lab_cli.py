"""The `lab` command: one clear line when there is no engine; exec and inventory on a running lab."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from homelab.model.inventory import Inventory

LAB = str(Path(sys.executable).parent / "lab")


def lab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAB, *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize(("env", "says"), [
    ({"PATH": "/nonexistent"}, "the docker CLI is not installed"),
    ({"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, "the Docker engine is not running"),
], ids=["no-docker-cli", "engine-not-running"])
def test_no_engine_is_one_clear_line(env: dict[str, str], says: str) -> None:
    """Without a usable engine, `lab status` exits 1 with one line saying what is wrong and how to fix it."""
    result = lab("status", env=env)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert says in result.stderr
    assert "ensure-docker.sh" in result.stderr


@pytest.mark.lab
def test_exec_runs_in_host(lab_inventory: Inventory) -> None:
    """`lab exec HOST -- CMD` runs CMD in that lab machine."""
    result = lab("exec", "pve-docker-2", "--", "hostname")
    assert (result.returncode, result.stdout.strip()) == (0, "pve-docker-2")


@pytest.mark.lab
def test_inventory_prints_path(lab_inventory: Inventory) -> None:
    """`lab inventory` prints the path of the lab inventory that `lab up` wrote."""
    assert lab("inventory").stdout.strip() == str(lab_inventory.path)
