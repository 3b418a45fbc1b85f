"""Per-host access for specs: SSH, testinfra and Docker over one connection, and the host-down policy.

A host that does not answer costs one connect timeout for the whole run. The first spec that needs an
always-on host that is down fails, naming it; every later spec of that host skips, pointing to that
failure. An on-demand host (a gaming PC) that is off is a normal state: its specs skip, saying so.
"""

from __future__ import annotations

import threading
from typing import Any

import paramiko
import pytest
import testinfra.backend.paramiko
import testinfra.host

from homelab.dockerclient import docker_over_ssh
from homelab.inventory import Inventory
from homelab.ssh import HostUnreachable, Reachable, SSHPool

OFF_REASON = "on-demand host is off"


class HostAccess:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.ssh = SSHPool(inventory)
        self._first_failure: dict[str, str] = {}
        self._infra: dict[str, testinfra.host.Host] = {}
        self._docker: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._warmed = False
        self.unreachable: dict[str, str] = {}  # always-on machine that did not answer -> the spec that failed on it
        self.off: set[str] = set()  # on-demand hosts found off

    def _warm_all(self) -> None:
        """On first use, connect to every host at once, so dead hosts cost one timeout in total."""
        with self._lock:
            if self._warmed:
                return
            self._warmed = True
        self.ssh.warm(list(self.inventory.hosts.values()))

    def reach(self, target: Reachable, nodeid: str) -> paramiko.SSHClient:
        """The verified SSH client of `target`, or skip/fail this spec by the host-down policy."""
        self._warm_all()
        error = self.ssh.failure(target)
        if error is None:
            return self.ssh.get(target)
        if isinstance(error, HostUnreachable) and getattr(target, "on_demand", False):
            self.off.add(target.name)
            pytest.skip(f"{OFF_REASON}: {target.name} ({error})")
        with self._lock:
            first = self._first_failure.setdefault(target.name, nodeid)
            if isinstance(error, HostUnreachable):
                self.unreachable.setdefault(target.name, first)
        if first == nodeid:
            pytest.fail(str(error), pytrace=False)
        pytest.skip(f"{target.name} is unreachable: see the failure of {first}")

    def infra(self, target: Reachable, nodeid: str) -> testinfra.host.Host:
        client = self.reach(target, nodeid)
        with self._lock:
            if target.name not in self._infra:
                backend = testinfra.backend.paramiko.ParamikoBackend(
                    f"{target.ssh.user}@{target.address}", timeout=int(self.inventory.settings.command_timeout))
                backend.client = client  # share the verified connection: no second login, no unchecked key
                self._infra[target.name] = testinfra.host.Host(backend)
            return self._infra[target.name]

    def docker(self, target: Reachable, nodeid: str) -> Any:
        client = self.reach(target, nodeid)
        with self._lock:
            if target.name not in self._docker:
                self._docker[target.name] = docker_over_ssh(client, self.inventory.settings.command_timeout)
            return self._docker[target.name]

    def close(self) -> None:
        for engine in self._docker.values():
            engine.close()
        self.ssh.close()
