"""Fixtures the phase specs share beyond the plugin's (homelab/pytest_plugin.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab.checks.portainer import PortainerView


@pytest.fixture(scope="session")
def portainer(inventory, secrets) -> Iterator[PortainerView]:
    """Portainer's environments, groups and tags, read once per run over the pinned, token-authenticated client."""
    view = PortainerView(inventory, secrets)
    yield view
    view.close()
