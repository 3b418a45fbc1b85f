"""The one way a spec acts on a host: `on(host)` (a fixture of the plugin) applies the host-down policy, then
gives the host's commands (as the SSH user or as root), its testinfra Host, its Docker engine and its gaming
state, all over the run's one verified SSH connection (`homelab.transport.hostaccess`).

    def test_x(host, on):
        shell = on(host)                     # an on-demand host that is off skips; a down one fails once
        text = shell.read("cat /etc/x", root=True, what="/etc/x")   # fails as could-not-observe when it cannot
        containers = shell.docker.containers.list()

`on(host, gpu_stack=True)` also applies the gaming policy: a GPU worker in gaming mode, with its GPU stack
verifiably stopped, skips; a gaming state that cannot be read fails as could-not-observe. `on.service(instance)`
applies to a service's host whichever of the two its stack calls for (a spec that asks a service by name).
"""

from __future__ import annotations

import threading
from types import ModuleType
from typing import Any

import pytest

from homelab.checks import could_not_observe, gaming
from homelab.transport.hostaccess import HostAccess
from homelab.transport.probes import run_module
from homelab.transport.ssh import CommandResult, HostUnreachable, Reachable, as_root


class Hosts:
    """The run's hosts as specs act on them: the access, and each GPU worker's gaming state read once."""

    def __init__(self, access: HostAccess) -> None:
        self.access = access
        self._gaming: dict[str, gaming.GamingState | gaming.GamingUnknown] = {}
        self._lock = threading.Lock()

    def on(self, target: Reachable, nodeid: str, gpu_stack: bool = False) -> OnHost:
        __tracebackhide__ = True
        self.access.reach(target, nodeid)
        host = OnHost(self, target, nodeid)
        if gpu_stack and (reason := host.gaming.skip_reason):
            pytest.skip(reason)
        return host

    def _read_gaming(self, target: Reachable) -> gaming.GamingState | gaming.GamingUnknown:
        """The worker's gaming state, read once per run (homelab.checks.gaming.read, the one reader)."""
        with self._lock:
            if target.name not in self._gaming:
                try:
                    self._gaming[target.name] = gaming.read(lambda command: self.access.ssh.run(target, command))
                except gaming.GamingUnknown as exc:
                    self._gaming[target.name] = exc
            return self._gaming[target.name]

    def gaming(self, target: Reachable) -> gaming.GamingState:
        __tracebackhide__ = True
        found = self._read_gaming(target)
        if isinstance(found, gaming.GamingUnknown):
            pytest.fail(could_not_observe(str(found), target.name, f"{gaming.MARKER} and `docker ps` over SSH"),
                        pytrace=False)
        return found

    def off_by_design(self, target: Any, stack: str) -> str | None:
        if not target.on_demand:
            return None
        error = self.access.ssh.failure(target)
        if isinstance(error, HostUnreachable):
            self.access.off.add(target.name)
            return f"down because the on-demand host {target.name} is off ({error})"
        if stack == gaming.STACK and error is None:
            found = self._read_gaming(target)
            return found.skip_reason if isinstance(found, gaming.GamingState) else None
        return None


class On:
    """The `on` fixture: `on(host)`, `on(host, gpu_stack=True)`, `on.service(instance)`, for one spec."""

    def __init__(self, hosts: Hosts, nodeid: str) -> None:
        self._hosts = hosts
        self._nodeid = nodeid

    def __call__(self, target: Reachable, gpu_stack: bool = False) -> OnHost:
        __tracebackhide__ = True
        return self._hosts.on(target, self._nodeid, gpu_stack)

    def service(self, instance: Any) -> OnHost:
        """The host of a service instance, skipped when the service is off by design: its host is an on-demand
        host that is off, or it is the GPU stack of a worker in gaming mode."""
        __tracebackhide__ = True
        return self(instance.host, gpu_stack=instance.service.stack == gaming.STACK)

    def off_by_design(self, instance: Any) -> str | None:
        """Why a service instance may be down on purpose, for a spec that judges it from elsewhere (a Prometheus
        target, a Kuma monitor) and must neither skip nor fail for its host: the on-demand host is off (recorded
        for the report, as the host-down policy does), or the GPU stack of a worker in gaming mode, verifiably
        stopped. None when neither holds, or when the gaming state cannot be read (the finding then stands)."""
        return self._hosts.off_by_design(instance.host, instance.service.stack)


class OnHost:
    """One host that answered (the host-down policy applied), as one spec acts on it."""

    def __init__(self, hosts: Hosts, target: Reachable, nodeid: str) -> None:
        self._hosts = hosts
        self._access = hosts.access
        self.target = target
        self._nodeid = nodeid

    def run(self, command: str, *, root: bool = False, timeout: float | None = None) -> CommandResult:
        """`command` through the host's shell (as root: `sudo -n` unless the SSH user is root), whatever it
        returns, bounded by `timeout` (default: the inventory's settings.command_timeout)."""
        if root:
            command = as_root(self.target.ssh.user, command)
        return self._access.ssh.run(self.target, command, timeout=timeout)

    def run_module(self, module: ModuleType, args: list[str], timeout: float) -> list[dict[str, Any]]:
        """A stdlib-only module of ours run on the host as `python3 -c` (`homelab.transport.probes.run_module`):
        its JSON lines; RuntimeError when the host has no python3 or it printed nothing."""
        return run_module(self._access.ssh, self.target, module, args, timeout)

    def read(self, command: str, *, root: bool = False, what: str) -> str:
        """What `command` printed; the spec fails as could-not-observe when it exits non-zero or prints nothing
        (sudo refused, a tool missing, a file that cannot be read). `what` names what was read, for that line."""
        __tracebackhide__ = True
        result = self.run(command, root=root)
        if result.ok and result.stdout.strip():
            return result.stdout
        said = result.stderr.strip()[:200] or "no output"
        how = f"{what} as root" if root else what
        pytest.fail(could_not_observe(f"exit status {result.exit_status}: {said}", self.target.name,
                                      f"{how} over SSH as {self.target.ssh.user}"), pytrace=False)

    @property
    def ssh(self) -> Any:
        """The verified paramiko client of the host (the run's one connection to it)."""
        return self._access.ssh.get(self.target)

    @property
    def infra(self) -> Any:
        """A testinfra Host whose commands ride the run's connection."""
        return self._access.infra(self.target, self._nodeid)

    @property
    def docker(self) -> Any:
        """The Docker SDK client of the host's engine, its containers read in one round trip."""
        return self._access.docker(self.target, self._nodeid)

    @property
    def gaming(self) -> gaming.GamingState:
        """The GPU worker's gaming state (read once per run); fails as could-not-observe when it cannot be read."""
        __tracebackhide__ = True
        return self._hosts.gaming(self.target)
