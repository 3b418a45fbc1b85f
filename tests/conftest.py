"""Fixtures the phase specs share beyond the plugin's (homelab/pytest_plugin.py).

A GPU worker's gaming state (homelab.gaming.read) is read once per worker and run. A spec of the GPU stack skips
with "gaming mode" only when gaming mode is recorded and the GPU stack is verifiably stopped; a record with the
stack running is P3-GAMING-001's failure (the GPU specs then run as usual); a state that cannot be read fails the
spec as "could not observe", never skips it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from homelab import gaming
from homelab.checks import could_not_observe
from homelab.checks.portainer import PortainerView
from homelab.npm import Npm, NpmError


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


# -- a GPU worker's gaming state: read once per worker and run (homelab.gaming.read) --------------------------
@pytest.fixture(scope="session")
def _gaming_states() -> tuple[dict[str, gaming.GamingState | gaming.GamingUnknown], threading.Lock]:
    return {}, threading.Lock()


@pytest.fixture
def gaming_state(access, reach, _gaming_states) -> Callable[[Any], gaming.GamingState]:
    """`gaming_state(host)`: the worker's gaming state (the host-down policy first: a worker that is off skips)."""
    states, lock = _gaming_states

    def read(host) -> gaming.GamingState:
        __tracebackhide__ = True
        reach(host)
        with lock:
            if host.name not in states:
                try:
                    states[host.name] = gaming.read(lambda command: access.ssh.run(host, command))
                except gaming.GamingUnknown as exc:
                    states[host.name] = exc
        found = states[host.name]
        if isinstance(found, gaming.GamingUnknown):
            pytest.fail(could_not_observe(str(found), host.name, f"{gaming.MARKER} and `docker ps` over SSH"),
                        pytrace=False)
        return found
    return read


@pytest.fixture
def not_gaming(gaming_state) -> Callable[[Any], None]:
    """`not_gaming(host)`: skip the spec when the worker is off (host-down policy), or in gaming mode with its GPU
    stack verifiably stopped."""
    def check(host) -> None:
        __tracebackhide__ = True
        reason = gaming_state(host).skip_reason
        if reason:
            pytest.skip(reason)
    return check


@pytest.fixture
def service_up(reach, not_gaming) -> Callable[[Any], None]:
    """`service_up(instance)`: skip a spec that asks a service through its name when the service is off by design:
    its host is an on-demand host that is off (the host-down policy), or the GPU stack of a worker in gaming mode."""
    def check(instance) -> None:
        __tracebackhide__ = True
        if instance.service.stack == "gpu-worker":
            not_gaming(instance.host)
        else:
            reach(instance.host)
    return check
