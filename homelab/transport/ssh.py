"""SSH to inventory machines with paramiko: host keys verified, every wait bounded.

One connection per machine for a whole run (`SSHPool`), and every path to a machine goes through it:
bootstrap, the specs, testinfra (`homelab.transport.hostaccess`) and the Docker SDK (`homelab.transport.dockerclient`).
A host key is verified with paramiko's RejectPolicy against the machine's `ssh.host_key` and `settings.known_hosts`.
With `settings.trust_on_first_use: true`, an unknown key is accepted once and recorded (`recorded_keys_file`:
`settings.known_hosts`, else `known_hosts` beside the inventory, with a log line naming the file and the key's
fingerprint); later connections and later runs verify against that record. A connection that dropped is
connected again by the pool alone, verified the same way. A command is bounded as a whole: opening its channel,
its output and its exit status (`settings.command_timeout`). Failures become `SSHError` subclasses whose message
names the machine, what happened and what to do.

Longer than 300 lines because every path to a machine must pass the same host-key verification (the inventory's key,
known_hosts, keys trust_on_first_use recorded) and the same bounded command exchange, and each way a connect, a
command or a handshake fails is worded here, once, as the SSHError an operator reads.
"""

from __future__ import annotations

import base64
import logging
import selectors
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Protocol

import paramiko
import paramiko.hostkeys

from homelab.model.inventory import Inventory, Settings, SSHAccess

log = logging.getLogger(__name__)


def _drop_errors(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR


# paramiko's transport thread logs a failed handshake as ERROR records, "Exception (client): ..." and then its
# traceback line by line (some 30 lines a host, on stderr or in a spec's captured log); `connect` and the pool say
# what failed in one line, so those records are dropped. Its DEBUG and INFO records stay (--log-cli-level=DEBUG).
logging.getLogger("paramiko.transport").addFilter(_drop_errors)

# The comment that ends each line trust_on_first_use writes to a known_hosts file (OpenSSH and paramiko read
# the first three fields and ignore the rest), so a key recorded that way is told from one an operator wrote.
TOFU_MARK = "recorded-by-homelab-trust_on_first_use"


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


def as_root(user: str, script: str) -> str:
    """`script` run by `sh -c` as root: directly for root (Unraid has no sudo), else through `sudo -n`, which fails
    (exit 1, `sudo: a password is required`) rather than wait for a password."""
    return f"{'' if user == 'root' else 'sudo -n '}sh -c {shlex.quote(script)}"


def _known_key_name(target: Reachable) -> str:
    """The machine's name in a known_hosts file, as paramiko looks it up (`[ADDRESS]:PORT` off port 22)."""
    port = target.ssh.port
    return str(target.address) if port == 22 else f"[{target.address}]:{port}"


def _where(target: Reachable) -> str:
    return f"{target.name} ({target.ssh.user}@{target.address}:{target.ssh.port})"


def inventory_key(target: Reachable) -> paramiko.PKey | None:
    """The host key the inventory records for `target` (`ssh.host_key`), if any."""
    if not target.ssh.host_key:
        return None
    key_type, blob = target.ssh.host_key.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


def recorded_keys_file(inventory: Inventory) -> Path:
    """Where trust_on_first_use records the keys it accepts: `settings.known_hosts`, else `known_hosts` beside
    the inventory file."""
    return inventory.settings.known_hosts or inventory.base_dir / "known_hosts"


def tofu_recorded(path: Path | None, target: Reachable) -> list[paramiko.PKey]:
    """The keys of `target` that trust_on_first_use recorded in `path` (lines ending with TOFU_MARK)."""
    if path is None or not path.exists():
        return []
    name = _known_key_name(target)
    found = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3] == TOFU_MARK and name in fields[0].split(","):
            try:
                found.append(paramiko.PKey.from_type_string(fields[1], base64.b64decode(fields[2])))
            except (ValueError, paramiko.SSHException):
                continue
    return found


_record_lock = threading.Lock()


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host key once, and record it in `path` so that it is verified from now on."""

    def __init__(self, path: Path, where: str) -> None:
        self.path = path
        self.where = where

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        line = f"{hostname} {key.get_name()} {key.get_base64()} {TOFU_MARK}\n"
        try:
            with _record_lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(line)
        except OSError as exc:
            raise SSHError(
                f"{self.where}: trust_on_first_use cannot record the host key {key.get_name()} {key.fingerprint} "
                f"in {self.path} ({exc.strerror or exc}); not connecting with a key no later run could verify: "
                "make the file writable, or record the key as `ssh.host_key` (ssh-keyscan)") from None
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning("%s: trust_on_first_use accepted the unknown host key %s %s and recorded it in %s; later runs "
                    "verify against it. Copy it into the inventory as this machine's `ssh.host_key`",
                    self.where, key.get_name(), key.fingerprint, self.path)


def connect(target: Reachable, settings: Settings, recorded: Path | None = None) -> paramiko.SSHClient:
    """Open a verified SSH connection to `target`, or raise SSHError saying what to fix.

    The host key must be the inventory's `ssh.host_key` or be in `settings.known_hosts` (RejectPolicy). With
    `trust_on_first_use`, the keys recorded in `recorded` (default `settings.known_hosts`) count too, and an
    unknown key is accepted and recorded there."""
    where = _where(target)
    recorded = recorded or settings.known_hosts
    keys_file = settings.known_hosts or (recorded if settings.trust_on_first_use else None)
    client = paramiko.SSHClient()
    if keys_file and keys_file.exists():
        try:
            client.load_host_keys(str(keys_file))
        except (OSError, ValueError, paramiko.SSHException, paramiko.hostkeys.InvalidHostKey) as exc:
            raise SSHError(f"{where}: cannot read the known_hosts file {keys_file}: {exc}; fix or remove it") from None
    known = inventory_key(target)
    if known is not None:
        client.get_host_keys().add(_known_key_name(target), known.get_name(), known)
    if not settings.trust_on_first_use:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    elif recorded is None:
        raise SSHError(f"{where}: `trust_on_first_use` is on, but there is no file to record host keys in; "
                       "set `settings.known_hosts`")
    else:
        client.set_missing_host_key_policy(_TrustOnFirstUse(recorded, where))
    key = str(target.ssh.key) if target.ssh.key else None
    if key and not target.ssh.key.exists():  # type: ignore[union-attr]
        raise SSHError(f"{where}: SSH key {key} does not exist; create it or fix `ssh.key` in the inventory")
    try:
        _connect(client, target, settings, key, known, keys_file)
    except BaseException:
        client.close()  # a refused or failed connection leaves no transport thread behind
        raise
    transport = client.get_transport()
    if transport is not None:
        transport.set_keepalive(15)
    return client


def _connect(client: paramiko.SSHClient, target: Reachable, settings: Settings, key: str | None,
             known: paramiko.PKey | None, keys_file: Path | None) -> None:
    where = _where(target)
    try:
        client.connect(str(target.address), port=target.ssh.port, username=target.ssh.user, key_filename=key,
                       timeout=settings.connect_timeout, banner_timeout=settings.connect_timeout,
                       auth_timeout=settings.connect_timeout, channel_timeout=settings.command_timeout,
                       allow_agent=key is None, look_for_keys=key is None)
    except paramiko.BadHostKeyException as exc:
        expected = exc.expected_key
        if known is not None and expected == known:
            source, fix = "the inventory expects", "update `ssh.host_key` (ssh-keyscan)"
        else:
            source, fix = f"{keys_file} records", f"remove its line for {_known_key_name(target)} from {keys_file}"
        raise HostKeyMismatch(
            f"{where}: host key CHANGED: {source} {expected.get_name()} {expected.fingerprint}, the host presented "
            f"{exc.key.get_name()} {exc.key.fingerprint}. If the host was reinstalled, {fix}; otherwise do not "
            "connect: it may not be your host") from None
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
    except EOFError:  # paramiko's handshake met a closed connection: its traceback says no more than this
        raise HostUnreachable(f"{where}: the connection closed during the SSH handshake (is this port an SSH "
                              "server? is sshd refusing connections, e.g. MaxStartups?)") from None


def _drain(chan: paramiko.Channel, out: bytearray, err: bytearray) -> None:
    while chan.recv_ready():
        out += chan.recv(65536)
    while chan.recv_stderr_ready():
        err += chan.recv_stderr(65536)


def exchange(chan: paramiko.Channel, command: str | bytes, deadline: float) -> tuple[int, bytes, bytes]:
    """Run `command` on the new session channel `chan`: its exit status, stdout and stderr.

    The whole exchange ends by `deadline` (time.monotonic()): the exec request, all output and the exit status;
    past it the channel is closed and TimeoutError raised, whatever the far side does. A connection that dies
    before the exit status arrives raises paramiko.SSHException."""
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        chan.close()  # wakes every wait on the channel (paramiko sets its events when a channel closes)

    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
    watchdog.daemon = True
    watchdog.start()
    out, err = bytearray(), bytearray()
    try:
        chan.exec_command(command)
        # A poll-based selector, not select.select: the run's background sweep may hold thousands of sockets,
        # so this channel's pipe can get a descriptor above select()'s 1024.
        with selectors.DefaultSelector() as waiter:
            waiter.register(chan, selectors.EVENT_READ)
            while not (chan.eof_received or chan.closed):
                _drain(chan, out, err)
                waiter.select(max(0.0, min(1.0, deadline - time.monotonic())))
        _drain(chan, out, err)
        answered = chan.status_event.wait(max(0.0, deadline - time.monotonic()))  # before close() sets it
    except (paramiko.SSHException, OSError, EOFError):
        if expired.is_set():
            raise TimeoutError from None
        raise
    finally:
        watchdog.cancel()
        chan.close()
    if expired.is_set() or not answered:
        raise TimeoutError
    transport = chan.get_transport()
    if chan.exit_status == -1 and not (transport is not None and transport.is_active()):
        raise paramiko.SSHException("the connection closed before the command's exit status came")
    return chan.exit_status, bytes(out), bytes(err)


def run(client: paramiko.SSHClient, command: str, timeout: float) -> CommandResult:
    """Run `command` through the shell on the far side, the whole exchange bounded by `timeout` seconds."""
    deadline = time.monotonic() + timeout
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise paramiko.SSHException("SSH session not active")
    status, out, err = exchange(transport.open_session(timeout=timeout), command, deadline)
    return CommandResult(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _alive(client: paramiko.SSHClient) -> bool:
    transport = client.get_transport()
    return transport is not None and transport.is_active()


def quote(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)


class SSHPool:
    """One connection per machine for the whole run; a failed connect is remembered, not retried.

    A connection found dropped (the host restarted, a worker switched off and on) is connected again here, and
    only here, with the same host key verification: nothing that rides the pool opens its own connection."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.recorded = recorded_keys_file(inventory)  # where trust_on_first_use records the keys it accepts
        self._clients: dict[str, paramiko.SSHClient | SSHError] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._ahead: dict[tuple[str, str], Future[CommandResult]] = {}  # `read_ahead`: (machine, command) -> answer

    def read_ahead(self, target: Reachable, commands: Sequence[str]) -> None:
        """Run these read-only commands on `target` now, one after another (the caller runs each machine's in a
        thread of its own); `run` of one of them, with the default timeout, takes this answer, or its error,
        instead of asking again. The specs' declared reads (`@pytest.mark.reads`), made as the run starts."""
        futures: list[tuple[str, Future[CommandResult]]] = []
        with self._guard:
            for command in commands:
                if (target.name, command) not in self._ahead:
                    future: Future[CommandResult] = Future()
                    self._ahead[target.name, command] = future
                    futures.append((command, future))
        for command, future in futures:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(self._run(target, command, None))
            except BaseException as exc:
                future.set_exception(exc)

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
                    found = connect(target, self.inventory.settings, self.recorded)
                except SSHError as exc:
                    found = exc
                self._clients[target.name] = found
        if isinstance(found, SSHError):
            raise found
        return found

    def _forget(self, target: Reachable, client: paramiko.SSHClient) -> None:
        """Close `client`, found broken, so that the next `get` connects (and verifies) again."""
        with self._lock(target.name):
            if self._clients.get(target.name) is client:
                del self._clients[target.name]
        client.close()

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

    def _session(self, target: Reachable, timeout: float) -> paramiko.Channel:
        """A new session channel on the pool's connection to `target`. A connection that cannot open one (it
        dropped; the command was not sent) is connected again through `get`, once."""
        for attempt in (1, 2):
            client = self.get(target)  # an SSHError (a changed host key, say) goes to the caller as it is
            transport = client.get_transport()
            try:
                if transport is None:
                    raise paramiko.SSHException("SSH session not active")
                return transport.open_session(timeout=timeout)
            except paramiko.ChannelException:
                raise  # the host refused a channel on a live connection: not a drop
            except (paramiko.SSHException, OSError, EOFError):
                if attempt == 2:
                    raise
                self._forget(target, client)
        raise AssertionError("unreachable")

    def run_bytes(self, target: Reachable, command: str | bytes, timeout: float | None = None) -> tuple[
            int, bytes, bytes]:
        """Run `command` on `target`: exit status, stdout and stderr as bytes. The whole command is bounded by
        `timeout` (default `settings.command_timeout`); a hang or a dropped connection is one SSHError."""
        limit = timeout or self.inventory.settings.command_timeout
        deadline = time.monotonic() + limit
        try:
            return exchange(self._session(target, limit), command, deadline)
        except TimeoutError:
            raise SSHError(f"{target.name} ({target.address}): a command gave no answer within {limit:g} s") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:  # the connection dropped mid-command
            raise SSHError(f"{target.name} ({target.address}): the SSH connection broke during a command "
                           f"({exc or type(exc).__name__}); is the host restarting? Run again") from None

    def run(self, target: Reachable, command: str, timeout: float | None = None) -> CommandResult:
        if timeout is None and (ahead := self._ahead.get((target.name, command))) is not None:
            return ahead.result()  # bounded: the read itself is bounded by the default timeout
        return self._run(target, command, timeout)

    def _run(self, target: Reachable, command: str, timeout: float | None) -> CommandResult:
        status, out, err = self.run_bytes(target, command, timeout)
        return CommandResult(status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def host_key_problem(self, target: Reachable, field: str) -> str | None:
        """Why the key `target` presented on the pool's connection is not one the inventory records (P1-SSH-001);
        None when it is the inventory's `ssh.host_key`, or a key an operator wrote in `settings.known_hosts`.
        `field` is the target's place in the inventory, like `hosts.platform`."""
        transport = self.get(target).get_transport()
        assert transport is not None
        presented = transport.get_remote_server_key()
        known = inventory_key(target)
        if known is not None and presented == known:
            return None
        if presented in tofu_recorded(self.recorded, target):
            if known is not None:
                return (f"the inventory records {known.get_name()} {known.fingerprint}, but the connection was "
                        f"verified with {presented.get_name()} {presented.fingerprint}, recorded by "
                        f"trust_on_first_use in {self.recorded}: check which key is the host's, and keep it in "
                        f"{field}.ssh.host_key")
            return (f"the inventory records no host key; found {presented.fingerprint} ({presented.get_name()}) "
                    f"recorded by trust_on_first_use in {self.recorded}: copy it into {field}.ssh.host_key: "
                    f"{presented.get_name()} {presented.get_base64()}")
        return None  # in settings.known_hosts, written by the operator: the inventory's own record

    def close(self) -> None:
        for client in self._clients.values():
            if isinstance(client, paramiko.SSHClient):
                client.close()
        self._clients.clear()


def offered_auth(target: Reachable, settings: Settings, recorded: Path | None = None) -> list[str]:
    """The authentication methods sshd offers a fresh connection for `target`'s SSH user: its answer to the
    `none` method (RFC 4252 5.2), asked after the host key is verified against every key the inventory knows for
    it (its `ssh.host_key`, `settings.known_hosts`, and keys trust_on_first_use recorded in `recorded`). An empty
    list means the server let the user in without any authentication. SSHError when it could not ask."""
    where = _where(target)
    known = [key for key in [inventory_key(target)] if key is not None] + tofu_recorded(recorded, target)
    if settings.known_hosts and settings.known_hosts.exists():
        found: dict[str, paramiko.PKey] = dict(paramiko.HostKeys(str(settings.known_hosts)).lookup(
            _known_key_name(target)) or {})
        known += list(found.values())
    if not known:
        raise SSHError(f"{where}: no host key is known to verify the server with; record `ssh.host_key`")
    try:
        sock = socket.create_connection((str(target.address), target.ssh.port), timeout=settings.connect_timeout)
    except OSError as exc:
        raise HostUnreachable(f"{where}: cannot connect: {exc.strerror or exc}") from None
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = settings.connect_timeout
    try:
        transport.start_client(timeout=settings.connect_timeout)
        presented = transport.get_remote_server_key()
        if presented not in known:
            raise HostKeyMismatch(f"{where}: the host presented {presented.get_name()} {presented.fingerprint}, "
                                  "not a key the inventory knows: not asking it anything")
        transport.auth_none(target.ssh.user)
        return []  # in without authentication
    except paramiko.BadAuthenticationType as exc:
        return sorted(method for method in exc.allowed_types if method) or ["(no method listed)"]
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise HostUnreachable(f"{where}: the SSH handshake failed: {exc or type(exc).__name__}") from None
    finally:
        transport.close()
