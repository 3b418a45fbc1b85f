"""Fixtures the phase specs share beyond the plugin's (homelab/specs/pytest_plugin.py, which also holds the fixture
`on`: the one way a spec acts on a host, homelab/specs/onhost.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab.checks.portainer import PortainerView
from homelab.clients import connect
from homelab.clients.npm import Npm, NpmError


@pytest.fixture(scope="session")
def portainer(inventory, secrets) -> Iterator[PortainerView]:
    """Portainer's environments, groups and tags, read once per run over the pinned, token-authenticated client."""
    view = PortainerView(inventory, secrets)
    yield view
    view.close()


@pytest.fixture(scope="session")
def npm(inventory, secrets) -> Iterator[Npm]:
    """NPM's admin API on its host (the service's own port), logged in with the inventory's admin secrets."""
    client = open_npm(inventory, secrets)
    yield client
    client.close()


def open_npm(inventory, secrets) -> Npm:
    """A logged-in NPM client; a login that fails or an API that does not answer fails the spec, in one line."""
    try:
        return connect.npm(inventory, secrets)
    except NpmError as exc:
        pytest.fail(f"could not observe: NPM's admin API refused the login or did not answer: {exc}", pytrace=False)
