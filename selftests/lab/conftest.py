"""The lab's own tests: a session brings the lab up once (idempotent) and never tears it down.

Tests marked `lab_destructive` (reset, down) run last, whatever their file, since they change host keys.
Tests marked `lab_bootstrap` (they apply a bootstrap phase: stack, firewall) run after the plain lab tests,
which expect fresh hosts, and before the destructive ones, which leave fresh hosts behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_helpers import TINY, TINY_DIR

from homelab.model.inventory import Inventory
from homelab.transport.ssh import SSHPool
from lab import up as lab_up
from lab.docker import LabError, docker
from lab.registry import build_and_push
from lab.topology import HOSTS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab_destructive: changes the whole lab (reset, down); runs last")
    config.addinivalue_line("markers", "lab_bootstrap: applies a bootstrap phase to the lab; runs after the plain "
                                       "lab tests, before lab_destructive")


def _order(item: pytest.Item) -> int:
    if item.get_closest_marker("lab_destructive"):
        return 2
    return 1 if item.get_closest_marker("lab_bootstrap") else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_order)


# Anything a bootstrap or a fault leaves on a host: containers in its engine, an active ufw.
DIRTY = "docker ps -aq | head -n 1; ufw status 2>/dev/null | grep -q 'Status: active' && echo ufw; true"


def _dirty_hosts() -> list[str]:
    return [m.name for m in HOSTS
            if docker("exec", m.container, "sh", "-c", DIRTY, timeout=30, check=False).strip()]


@pytest.fixture(scope="session")
def lab_inventory() -> Inventory:
    """The running lab's inventory, every host fresh: a run cut short before its reset tests left some dirty."""
    try:
        inventory = lab_up.up(log=lambda _: None)
        for name in _dirty_hosts():
            inventory = lab_up.reset(name, log=lambda _: None)
        return inventory
    except LabError as exc:
        pytest.fail(f"lab up failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def pool(lab_inventory: Inventory) -> Iterator[SSHPool]:
    ssh = SSHPool(lab_inventory)
    yield ssh
    ssh.close()


@pytest.fixture(scope="session")
def tiny_image(lab_inventory: Inventory) -> Inventory:
    """Push the tiny image to the lab registry; return the rewritten inventory (its image_map lists it)."""
    build_and_push(TINY_DIR, TINY)
    return lab_up.write_inventory()
