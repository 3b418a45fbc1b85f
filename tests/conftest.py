"""Fixtures the phase specs share beyond the plugin's (homelab/specs/pytest_plugin.py, which also holds the fixture
`on`: the one way a spec acts on a host, homelab/specs/onhost.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from homelab.checks.portainer import PortainerView
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
    from homelab.checks.reach import service_host

    service = inventory.services["npm"]
    admin = next(p.port for p in service.ports if service.upstream and p.port == service.upstream.port)
    address = service_host(inventory, "npm").address
    client = Npm(f"http://{address}:{admin}", timeout=inventory.settings.connect_timeout * 3)
    try:
        client.login(secrets.get("NPM_ADMIN_EMAIL"), secrets.get("NPM_ADMIN_PASSWORD"))
    except NpmError as exc:
        client.close()
        pytest.fail(f"could not observe: NPM's admin API refused the login or did not answer: {exc}", pytrace=False)
    return client
