"""The Portainer stand-in driven by `pyportainer` (PyPI; the client of Home Assistant's Portainer integration),
written against the real Portainer API, with an access token (X-API-Key) as an operator's tooling signs in.

Each test is one operation through the client's public API, no mocks: a drift of the stand-in from
Portainer CE 2.23's paths or shapes fails the client, not code written here. What the client offers that the
stand-in leaves out is listed in lab/standins/portainer/README.md ("Out of scope"), with reasons.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pyportainer import Portainer as Client
from pyportainer.exceptions import PortainerAuthenticationError
from standin_helpers import FakeDocker
from test_portainer import DOCKER, PASSWORD, Portainer, login


@dataclass
class Lab:
    base: str
    key: str
    endpoint_id: int


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A stand-in with an admin, an access token, and one Docker environment over a fake engine's socket."""
    engine = FakeDocker(os.path.join(tempfile.mkdtemp(prefix="fd-"), "docker.sock"), DOCKER)
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    portainer = Portainer(tmp_path_factory.mktemp("portainer-conformance"))
    try:
        with portainer.client() as client:
            client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD})
        with portainer.client(login(portainer)) as api:
            key = api.post("/api/users/1/tokens", json={"password": PASSWORD, "description": "conformance"})
            made = api.post("/api/endpoints", data={"Name": "local", "EndpointCreationType": "1",
                                                    "URL": f"unix://{engine.server_address}"})
        yield Lab(portainer.base, key.json()["rawAPIKey"], made.json()["Id"])
    finally:
        portainer.stop()
        engine.shutdown()
        engine.server_close()


def call(lab: Lab, operation: str, *args: Any, key: str = "") -> Any:
    """Run one pyportainer coroutine against the stand-in (its certificate is self-signed, as Portainer's)."""
    async def run() -> Any:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            client = Client(lab.base, key or lab.key, session=session, max_retries=0)
            return await getattr(client, operation)(*args)
    return asyncio.run(run())


def test_system_status_and_version(lab: Lab) -> None:
    """`portainer_system_status` and `portainer_system_version` parse 2.23's answers."""
    assert call(lab, "portainer_system_status").version == "2.23.0"
    assert call(lab, "portainer_system_version").server_version == "2.23.0"


def test_endpoints(lab: Lab) -> None:
    """`get_endpoints` parses the environment list with its snapshot."""
    (endpoint,) = call(lab, "get_endpoints")
    assert (endpoint.id, endpoint.name, endpoint.type) == (lab.endpoint_id, "local", 1)


def test_docker_through_the_proxy(lab: Lab) -> None:
    """`docker_version`, `docker_info` and `get_containers` go through /api/endpoints/{id}/docker."""
    assert call(lab, "docker_version", lab.endpoint_id).version == "27.3.1"
    assert call(lab, "docker_info", lab.endpoint_id).ncpu == 8
    assert [c.id for c in call(lab, "get_containers", lab.endpoint_id)] == ["a", "b"]


def test_stacks(lab: Lab) -> None:
    """`get_stacks` lists none on a fresh instance."""
    assert call(lab, "get_stacks") == []


def test_wrong_key_is_refused(lab: Lab) -> None:
    """A key Portainer does not know raises the client's authentication error (401), as against Portainer."""
    with pytest.raises(PortainerAuthenticationError):
        call(lab, "get_endpoints", key="ptr_" + "A" * 43 + "=")
