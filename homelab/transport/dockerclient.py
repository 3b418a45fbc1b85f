"""The Docker SDK over the run's verified SSH connection to a host (no second, unverified SSH login).

docker-py's own ssh:// transport opens a fresh paramiko client that trusts only ~/.ssh/known_hosts; we
hand it ours instead, so host keys are checked against the inventory and one connection serves both
testinfra and Docker.
"""

from __future__ import annotations

import json
from typing import Any

import docker
import docker.errors
import paramiko
from docker.transport import SSHHTTPAdapter

API_VERSION = "1.41"  # Docker 20.10+: every engine the homelab runs speaks it


class _SharedSSHAdapter(SSHHTTPAdapter):  # type: ignore[misc]
    """docker-py's SSH adapter, riding an SSH client that is already connected and verified."""

    def __init__(self, client: paramiko.SSHClient, timeout: float) -> None:
        self._shared = client
        super().__init__("ssh://homelab", timeout=int(max(timeout, 1)))

    def _create_paramiko_client(self, base_url: str) -> None:
        self.ssh_client = self._shared
        self.ssh_params: dict[str, object] = {}

    def _connect(self) -> None:
        """Never reconnect behind the pool's back: a dropped connection is an error for the caller."""


def docker_over_ssh(client: paramiko.SSHClient, timeout: float = 30.0) -> docker.DockerClient:
    """A DockerClient that talks to the remote engine via `docker system dial-stdio` over `client`."""
    engine = docker.DockerClient(base_url="tcp://127.0.0.1:2375", version=API_VERSION, timeout=int(timeout))
    adapter = _SharedSSHAdapter(client, timeout)
    api = engine.api
    api.mount("http+docker://ssh", adapter)
    api._custom_adapter = adapter
    api.base_url = "http+docker://ssh"
    return engine


INSPECT_ALL = "docker ps -aq --no-trunc | xargs -r docker inspect"


class _Containers:
    """`engine.containers.get` and `.list` served from one `docker inspect` of every container on the host."""

    def __init__(self, client: docker.DockerClient, attrs: list[dict[str, Any]]) -> None:
        self._client = client
        self._attrs = attrs

    def _model(self, attrs: dict[str, Any]) -> Any:
        return self._client.containers.prepare_model(attrs)

    def get(self, name: str) -> Any:
        for attrs in self._attrs:
            if name in (attrs.get("Name", "").lstrip("/"), attrs.get("Id")):
                return self._model(attrs)
        raise docker.errors.NotFound(f"No such container: {name}")

    def list(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[Any]:
        labels = (filters or {}).get("label", [])
        unknown = set(filters or {}) - {"label"}
        if unknown:
            return list(self._client.containers.list(all=all, filters=filters))
        found = []
        for attrs in self._attrs:
            have = (attrs.get("Config") or {}).get("Labels") or {}
            running = (attrs.get("State") or {}).get("Status") == "running"
            if (all or running) and all_labels_match(have, [labels] if isinstance(labels, str) else labels):
                found.append(self._model(attrs))
        return found


def all_labels_match(have: dict[str, str], wanted: list[str]) -> bool:
    """Docker's `label` filter: each `KEY` present, each `KEY=VALUE` equal."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in have or (sep and have[key] != value):
            return False
    return True


class EngineSnapshot:
    """A host's Docker SDK client whose containers were read at once (`INSPECT_ALL`, one round trip) and are
    kept for the run; everything else (exec, images) goes to the engine itself."""

    def __init__(self, client: docker.DockerClient, inspected: str) -> None:
        self.client = client
        self.containers = _Containers(client, json.loads(inspected or "[]"))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def close(self) -> None:
        self.client.close()
