"""The Docker SDK over the run's verified SSH connection to a host (no second, unverified SSH login).

docker-py's own ssh:// transport opens a fresh paramiko client that trusts only ~/.ssh/known_hosts; we
hand it ours instead, so host keys are checked against the inventory and one connection serves both
testinfra and Docker.
"""

from __future__ import annotations

import docker
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
