"""What the phase 4 specs share: Prometheus, Grafana and Uptime Kuma, each asked once per run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab.checks.observability import GrafanaView, KumaView, PrometheusView
from homelab.model import monitoring
from homelab.specs.pytest_plugin import INVENTORY
from homelab.specs.targets import Instance


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`monitored`: every service instance that has an Uptime Kuma monitor (ids `SERVICE@HOST`); a service that
    publishes nothing (the Edge agent dials out) has none, and no spec of its own here."""
    if "monitored" not in metafunc.fixturenames:
        return
    inventory = metafunc.config.stash[INVENTORY]
    found = [Instance(s, h) for s, h in inventory.instances() if monitoring.monitor_spec(s, h) is not None]
    metafunc.parametrize("monitored", found, ids=[i.id for i in found])


@pytest.fixture(scope="session")
def prometheus(inventory) -> Iterator[PrometheusView]:
    view = PrometheusView(inventory)
    yield view
    view.close()


@pytest.fixture(scope="session")
def grafana(inventory, secrets) -> Iterator[GrafanaView]:
    view = GrafanaView(inventory, secrets)
    yield view
    view.close()


@pytest.fixture(scope="session")
def kuma(inventory, secrets) -> KumaView:
    return KumaView(inventory, secrets)
