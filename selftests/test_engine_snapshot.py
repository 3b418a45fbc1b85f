"""`EngineSnapshot`: a host's containers read in one `docker inspect`, served as the Docker SDK serves them."""

from __future__ import annotations

import json
from typing import Any

import docker
import docker.errors
import pytest

from homelab.transport.dockerclient import EngineSnapshot

INSPECTED = [
    {"Id": "a1", "Name": "/portainer-agent", "State": {"Status": "running"},
     "Config": {"Labels": {"com.docker.compose.project": "agent", "com.docker.compose.service": "agent"}}},
    {"Id": "b2", "Name": "/exporters-node-exporter-1", "State": {"Status": "exited"},
     "Config": {"Labels": {"com.docker.compose.project": "exporters", "com.docker.compose.service": "node-exporter"}}},
]


@pytest.fixture
def engine() -> EngineSnapshot:
    client = docker.DockerClient(base_url="tcp://127.0.0.1:1", version="1.41")  # never asked: all is in the snapshot
    return EngineSnapshot(client, json.dumps(INSPECTED))


def test_get_by_name_or_id(engine: Any) -> None:
    assert engine.containers.get("portainer-agent").id == "a1"
    assert engine.containers.get("b2").name == "exporters-node-exporter-1"
    assert engine.containers.get("b2").status == "exited"
    with pytest.raises(docker.errors.NotFound):
        engine.containers.get("nope")


def test_list_by_compose_labels(engine: Any) -> None:
    wanted = ["com.docker.compose.service=node-exporter", "com.docker.compose.project=exporters"]
    assert [c.id for c in engine.containers.list(all=True, filters={"label": wanted})] == ["b2"]
    assert engine.containers.list(filters={"label": wanted}) == [], "a stopped container is listed only with all"
    assert [c.id for c in engine.containers.list(all=True, filters={"label": ["com.docker.compose.project"]})] == [
        "a1", "b2"]
    assert engine.containers.list(all=True, filters={"label": ["com.docker.compose.project=other"]}) == []
