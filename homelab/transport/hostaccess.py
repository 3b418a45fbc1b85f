"""Per-host access for specs: SSH, testinfra and Docker over one verified connection, and the host-down policy.

testinfra rides the run's SSH connection: `PoolBackend` sends each of its commands through `SSHPool.run_bytes`,
so it never opens a connection of its own (testinfra's paramiko backend would: on port 22, with the keys in
~/.ssh, trusting any host key with a warning, and again by itself after a drop). A dropped connection is
connected again by the pool alone, with the host key verified against the inventory; a changed key is a
`HostKeyMismatch`. Each command is bounded as a whole by `settings.command_timeout`.

A host that does not answer costs one connect timeout for the whole run. The first spec that needs an
always-on host that is down fails, naming it; every later spec of that host skips, pointing to that
failure. An on-demand host (a gaming PC) that is off is a normal state: its specs skip, saying so.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paramiko
import pytest
import testinfra.backend.base
import testinfra.host

from homelab.model.inventory import Inventory
from homelab.transport.dockerclient import INSPECT_ALL, EngineSnapshot, docker_over_ssh
from homelab.transport.ssh import HostUnreachable, Reachable, SSHPool

OFF_REASON = "on-demand host is off"


class PoolBackend(testinfra.backend.base.BaseBackend):  # type: ignore[misc]
    """A testinfra backend whose commands go through the run's `SSHPool`: no connection of its own, no
    reconnecting behind the pool's back, each command bounded as a whole by `timeout` seconds."""

    NAME = "homelab-ssh"

    def __init__(self, pool: SSHPool, target: Reachable, timeout: float, **kwargs: Any) -> None:
        self.pool = pool
        self.target = target
        self.timeout = timeout
        super().__init__(target.name, **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> testinfra.backend.base.CommandResult:
        cmd = self.encode(self.get_command(command, *args))
        status, stdout, stderr = self.pool.run_bytes(self.target, cmd, timeout=self.timeout)
        return self.result(status, cmd, stdout, stderr)


class HostAccess:
    def __init__(self, inventory: Inventory, plain: bool = False) -> None:
        self.inventory = inventory
        self.plain = plain  # the benchmark's baseline: nothing connected or read ahead, each host when asked
        self.ssh = SSHPool(inventory)
        self._first_failure: dict[str, str] = {}
        self._infra: dict[str, testinfra.host.Host] = {}
        self._docker: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._warmed = plain
        self._host_locks: dict[str, threading.Lock] = {}
        self.unreachable: dict[str, str] = {}  # always-on machine that did not answer -> the spec that failed on it
        self.off: set[str] = set()  # on-demand hosts found off

    def run_plainly(self) -> None:
        """The benchmark's baseline (scripts/bench_baseline.py): from now on nothing is connected or read ahead;
        each host is connected, and its containers asked one by one, when a spec first needs it."""
        self.plain = self._warmed = True

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

    def answering(self) -> set[str]:
        """The inventory hosts that answered SSH (connecting to all at once first, if not yet done)."""
        self._warm_all()
        return {name for name, host in self.inventory.hosts.items() if self.ssh.failure(host) is None}

    def infra(self, target: Reachable, nodeid: str) -> testinfra.host.Host:
        """A testinfra Host whose commands ride the pool's verified connection to `target` (`PoolBackend`)."""
        self.reach(target, nodeid)
        with self._lock:
            if target.name not in self._infra:
                backend = PoolBackend(self.ssh, target, self.inventory.settings.command_timeout)
                self._infra[target.name] = testinfra.host.Host(backend)
            return self._infra[target.name]

    def docker(self, target: Reachable, nodeid: str) -> Any:
        """The Docker SDK client of `target`, its containers read in one round trip (`EngineSnapshot`)."""
        return self._engine(target, self.reach(target, nodeid))

    def _engine(self, target: Reachable, client: paramiko.SSHClient) -> Any:
        with self._lock:
            lock = self._host_locks.setdefault(target.name, threading.Lock())
        with lock:  # one host at a time, hosts side by side
            if target.name not in self._docker:
                engine = docker_over_ssh(client, self.inventory.settings.command_timeout)
                inspected = None if self.plain else self.ssh.run(target, INSPECT_ALL)
                # No `docker` CLI for this user, say: the SDK asks the engine per container, as in the baseline.
                self._docker[target.name] = EngineSnapshot(engine, inspected.stdout) if inspected and inspected.ok \
                    else engine
            return self._docker[target.name]

    def prefetch_engines(self) -> None:
        """Read every answering host's containers at once (the plugin runs this in the background as the run
        starts). Best effort: a spec that needs what failed here asks again and reports."""
        hosts = [h for h in self.inventory.hosts.values() if h.name in self.answering()]
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(hosts)))) as pool:
            for host in hosts:
                pool.submit(self._engine_quietly, host)

    def prefetch_reads(self, reads: dict[str, tuple[Reachable, list[str]]]) -> None:
        """Make the specs' declared reads (host name -> the host and its commands, as sent) on every answering
        host at once, each host's in order (`SSHPool.read_ahead`); the plugin runs this in the background as the
        run starts. A host that does not answer is left to the host-down policy."""
        answering = self.answering()
        wanted = [(host, commands) for name, (host, commands) in reads.items() if name in answering]
        if not wanted:
            return
        with ThreadPoolExecutor(max_workers=min(16, len(wanted))) as pool:
            for host, commands in wanted:
                pool.submit(self.ssh.read_ahead, host, commands)

    def _engine_quietly(self, host: Reachable) -> None:
        with contextlib.suppress(Exception):
            self._engine(host, self.ssh.get(host))

    def close(self) -> None:
        for engine in self._docker.values():
            engine.close()
        self.ssh.close()
