"""SSH to inventory machines with paramiko: host keys verified against the inventory, bounded waits.

One connection per machine for a whole run; see `SSHPool`. Failures become `SSHError` subclasses whose
message names the machine, what happened and what to do.
"""

from __future__ import annotations

import base64
import shlex
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Protocol

import paramiko

from homelab.inventory import Inventory, Settings, SSHAccess


class Reachable(Protocol):
    """Anything we SSH into: an inventory host or a vantage point."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> IPv4Address: ...
    @property
    def ssh(self) -> SSHAccess: ...


class SSHError(Exception):
    """SSH to a machine failed; the message is for the operator."""


class HostUnreachable(SSHError):
    """Nothing answered on the SSH port: the machine is off, or a firewall drops us."""


class HostKeyMismatch(SSHError):
    """The machine presented a key the inventory does not trust: never accepted silently."""


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def _known_key_name(target: Reachable) -> str:
    port = target.ssh.port
    return str(target.address) if port == 22 else f"[{target.address}]:{port}"


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)


def connect(target: Reachable, settings: Settings) -> paramiko.SSHClient:
    """Open a verified SSH connection to `target`, or raise SSHError saying what to fix."""
    client = paramiko.SSHClient()
    if settings.known_hosts and settings.known_hosts.exists():
        client.load_host_keys(str(settings.known_hosts))
    if target.ssh.host_key:
        key_type, blob = target.ssh.host_key.split()[:2]
        known = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
        client.get_host_keys().add(_known_key_name(target), key_type, known)
    client.set_missing_host_key_policy(_TrustOnFirstUse() if settings.trust_on_first_use else paramiko.RejectPolicy())
    where = f"{target.name} ({target.ssh.user}@{target.address}:{target.ssh.port})"
    key = str(target.ssh.key) if target.ssh.key else None
    if key and not target.ssh.key.exists():  # type: ignore[union-attr]
        raise SSHError(f"{where}: SSH key {key} does not exist; create it or fix `ssh.key` in the inventory")
    try:
        client.connect(str(target.address), port=target.ssh.port, username=target.ssh.user, key_filename=key,
                       timeout=settings.connect_timeout, banner_timeout=settings.connect_timeout,
                       auth_timeout=settings.connect_timeout, allow_agent=key is None, look_for_keys=key is None)
    except paramiko.BadHostKeyException as exc:
        raise HostKeyMismatch(
            f"{where}: host key CHANGED: the inventory expects {exc.expected_key.get_name()} "
            f"{exc.expected_key.fingerprint}, the host presented {exc.key.fingerprint}. If the host was "
            "reinstalled, update `ssh.host_key` (ssh-keyscan); otherwise do not connect: it may not be your host"
        ) from None
    except paramiko.AuthenticationException:
        raise SSHError(f"{where}: authentication failed with key {key or '(agent)'}; install its public key in "
                       f"~{target.ssh.user}/.ssh/authorized_keys on the host") from None
    except paramiko.SSHException as exc:
        if "not found in known_hosts" in str(exc):
            raise HostKeyMismatch(
                f"{where}: unknown host key and `trust_on_first_use` is off: add the host's key to the inventory "
                f"as `ssh.host_key` (ssh-keyscan -t ed25519 -p {target.ssh.port} {target.address})") from None
        raise HostUnreachable(f"{where}: SSH failed: {exc}") from None
    except TimeoutError:
        raise HostUnreachable(f"{where}: no answer within {settings.connect_timeout:g} s "
                              "(powered off, wrong address, or a firewall drops SSH)") from None
    except (OSError, paramiko.ssh_exception.NoValidConnectionsError) as exc:
        raise HostUnreachable(f"{where}: cannot connect: {exc.strerror or exc}") from None
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(15)
    return client


def run(client: paramiko.SSHClient, command: str, timeout: float) -> CommandResult:
    """Run `command` through the shell on the far side, with a bound on the whole exchange."""
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode("utf-8", "replace")
    err = stderr.read().decode("utf-8", "replace")
    return CommandResult(stdout.channel.recv_exit_status(), out, err)


def _alive(client: paramiko.SSHClient) -> bool:
    transport = client.get_transport()
    return transport is not None and transport.is_active()


def quote(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


class SSHPool:
    """One connection per machine for the whole run; a failed connect is remembered, not retried."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._clients: dict[str, paramiko.SSHClient | SSHError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def get(self, target: Reachable) -> paramiko.SSHClient:
        with self._lock(target.name):
            found = self._clients.get(target.name)
            if isinstance(found, paramiko.SSHClient) and not _alive(found):
                found.close()  # the host restarted (a worker switched off and on): connect again
                found = None
            if found is None:
                try:
                    found = connect(target, self.inventory.settings)
                except SSHError as exc:
                    found = exc
                self._clients[target.name] = found
        if isinstance(found, SSHError):
            raise found
        return found

    def failure(self, target: Reachable) -> SSHError | None:
        """The connect error for `target`, connecting first if needed; None when it is up."""
        try:
            self.get(target)
        except SSHError as exc:
            return exc
        return None

    def warm(self, targets: list[Reachable]) -> None:
        """Connect to all `targets` at once: several dead hosts cost one connect timeout, not one each."""
        if targets:
            with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
                list(pool.map(self.failure, targets))

    def run(self, target: Reachable, command: str, timeout: float | None = None) -> CommandResult:
        limit = timeout or self.inventory.settings.command_timeout
        try:
            return run(self.get(target), command, limit)
        except TimeoutError:
            raise SSHError(f"{target.name} ({target.address}): a command gave no answer within {limit:g} s") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:  # the connection dropped mid-command
            raise SSHError(f"{target.name} ({target.address}): the SSH connection broke during a command "
                           f"({exc or type(exc).__name__}); is the host restarting? Run again") from None

    def close(self) -> None:
        for client in self._clients.values():
            if isinstance(client, paramiko.SSHClient):
                client.close()
        self._clients.clear()
