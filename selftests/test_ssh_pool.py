"""One verified path to every host, shown against a real SSH server on 127.0.0.1 (paramiko's server side), no lab.

testinfra's commands ride the pool's connection; a dropped connection is connected again by the pool alone, and an
impostor on the same port is refused (HostKeyMismatch), never warned about; a command that hangs ends at
`command_timeout` as one SSHError naming the host; trust_on_first_use records the key it accepts and later runs
verify against it; P1-SSH-001 fails while the inventory itself records no key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
from fake_access import fake_on
from sshd_on_localhost import LocalSSHServer

from homelab.model.inventory import Host, Inventory, SSHAccess
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.transport.hostaccess import HostAccess, PoolBackend
from homelab.transport.ssh import TOFU_MARK, HostKeyMismatch, SSHError, SSHPool

ROOT = REPO


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: FakeSSHServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.server.logins += 1
        return paramiko.AUTH_SUCCESSFUL

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.server.commands.append(command.decode())
        self.server.channels.append(channel)  # held: a channel paramiko collects is closed, which would answer
        run = threading.Thread(target=self.server.execute, args=(channel, command.decode()), daemon=True)
        transport = channel.get_transport()
        assert isinstance(transport, _ServerTransport)
        transport.after_reply.append(run.start)  # as sshd: the exec request is answered before any output
        return True


class _ServerTransport(paramiko.Transport):
    """paramiko's server transport, starting each command once the reply to its exec request is sent (paramiko
    sends it after `check_channel_exec_request` returns; a CLOSE sent first would fail the client's request)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.after_reply: list[Callable[[], None]] = []

    def _send_user_message(self, data: Any) -> None:
        super()._send_user_message(data)
        if threading.current_thread() is self:  # the transport thread, answering a request
            while self.after_reply:
                self.after_reply.pop(0)()


class FakeSSHServer(LocalSSHServer):
    """An SSH server on 127.0.0.1 with `host_key`: any client key logs in; a command runs in a local shell, except
    `hang` (never answers), `trickle` (a byte every 0.3 s, never done) and `eof` (output and EOF, no exit status)."""

    transport_class = _ServerTransport

    def __init__(self, host_key: paramiko.PKey, port: int = 0) -> None:
        self.logins = 0
        self.commands: list[str] = []
        self.channels: list[paramiko.Channel] = []
        super().__init__(host_key, port)

    def interface(self) -> paramiko.ServerInterface:
        return _Interface(self)

    def execute(self, channel: paramiko.Channel, command: str) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            if command == "hang":
                return
            if command == "trickle":
                while not channel.closed:
                    channel.sendall(b".")
                    time.sleep(0.3)
                return
            if command == "eof":
                channel.sendall(b"partial\n")
                channel.shutdown_write()
                return
            done = subprocess.run(["sh", "-c", command], capture_output=True, timeout=10, check=False)
            channel.sendall(done.stdout)
            channel.sendall_stderr(done.stderr)
            channel.send_exit_status(done.returncode)
            channel.close()



def _wait_until_down(pool: SSHPool, target: Host) -> None:
    """The client has noticed the drop (its transport thread saw the socket close), within a second."""
    client = pool._clients[target.name]
    assert isinstance(client, paramiko.SSHClient)
    end = time.monotonic() + 1
    while time.monotonic() < end and (transport := client.get_transport()) is not None and transport.is_active():
        time.sleep(0.01)


@pytest.fixture
def host_key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


@pytest.fixture
def server(host_key: paramiko.PKey) -> Iterator[FakeSSHServer]:
    running = FakeSSHServer(host_key)
    yield running
    running.stop()


@pytest.fixture
def client_key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ecdsa"
    paramiko.ECDSAKey.generate().write_private_key_file(str(path))
    return path


def _setup(tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey | None,
           **settings: Any) -> tuple[Inventory, Host]:
    """The shipped inventory moved to `tmp_path`, its platform host at the fake server."""
    inventory = load_inventory(ROOT / "inventory.yaml")
    recorded = f"{host_key.get_name()} {host_key.get_base64()}" if host_key else None
    target = dataclasses.replace(
        inventory.hosts["platform"], address=IPv4Address("127.0.0.1"),
        ssh=SSHAccess(user="admin", key=client_key, port=server.port, host_key=recorded))
    options = {"connect_timeout": 3.0, "command_timeout": 5.0, "known_hosts": None, "trust_on_first_use": False}
    options.update(settings)
    inventory = dataclasses.replace(inventory, path=tmp_path / "inventory.yaml",
                                    settings=dataclasses.replace(inventory.settings, **options),
                                    hosts={**inventory.hosts, "platform": target})
    return inventory, target


def _host_key_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "host key" in str(w.message).lower()]


def test_testinfra_rides_the_pool_and_reconnects_only_through_it(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey) -> None:
    """After a drop, testinfra's next command reconnects through the pool (verified); an impostor with another
    host key on the same port is refused with HostKeyMismatch, not warned about, and runs nothing."""
    inventory, target = _setup(tmp_path, server, client_key, host_key)
    access = HostAccess(inventory, plain=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        infra = access.infra(target, "spec::one")
        assert isinstance(infra.backend, PoolBackend)
        assert infra.check_output("echo one") == "one"
        assert infra.run("printf '\\377'").stdout_bytes == b"\xff"  # bytes travel as bytes
        assert server.logins == 1  # testinfra logged in no second time

        server.drop()
        assert infra.check_output("echo two") == "two"  # found dropped, connected again by the pool
        assert server.logins == 2

        server.drop()
        _wait_until_down(access.ssh, target)
        server.stop()
        impostor = FakeSSHServer(paramiko.ECDSAKey.generate(), port=server.port)
        try:
            with pytest.raises(HostKeyMismatch, match="host key CHANGED: the inventory expects") as refused:
                infra.run("echo three")
            assert str(refused.value).startswith(f"platform (admin@127.0.0.1:{server.port}): ")
            assert impostor.logins == 0
            assert impostor.commands == []
            with pytest.raises(HostKeyMismatch):  # remembered: every later spec meets the same refusal
                infra.run("echo four")
        finally:
            impostor.stop()
            access.close()
    assert _host_key_warnings(caught) == []


def test_a_drop_the_client_has_not_noticed_yet_is_connected_again(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey) -> None:
    """A connection that cannot open a channel (dropped; the command was not sent) is connected again once."""
    inventory, target = _setup(tmp_path, server, client_key, host_key)
    pool = SSHPool(inventory)
    try:
        assert pool.run(target, "echo one").stdout == "one\n"
        stale = pool.get(target)
        transport = stale.get_transport()
        assert transport is not None
        transport.open_session = _refuse  # type: ignore[method-assign]
        assert pool.run(target, "echo two").stdout == "two\n"
        assert pool.get(target) is not stale
        assert server.logins == 2
    finally:
        pool.close()


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise EOFError


@pytest.mark.parametrize("command", ["hang", "trickle", "eof"])
def test_a_hung_command_ends_at_command_timeout(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey, command: str) -> None:
    """No exit status (nothing at all, output that never ends, or EOF alone): with command_timeout 2, testinfra's
    command ends within 3 s as one SSHError naming the host, and the connection serves the next command."""
    inventory, target = _setup(tmp_path, server, client_key, host_key, command_timeout=2.0)
    access = HostAccess(inventory, plain=True)
    try:
        infra = access.infra(target, "spec::hang")
        started = time.monotonic()
        with pytest.raises(SSHError) as caught:
            infra.run(command)
        assert time.monotonic() - started < 3
        assert str(caught.value) == "platform (127.0.0.1): a command gave no answer within 2 s"
        assert infra.check_output("echo after") == "after"
        assert server.logins == 1
    finally:
        access.close()


@pytest.mark.parametrize("configured", [False, True], ids=["beside-the-inventory", "settings-known-hosts"])
def test_trust_on_first_use_records_the_key_and_later_runs_verify_it(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey,
        caplog: pytest.LogCaptureFixture, configured: bool) -> None:
    """The key accepted on first use is written to settings.known_hosts (else known_hosts beside the inventory),
    said in a log line with the file and the fingerprint; a later run with another key on that port is refused."""
    file = tmp_path / "keys" / "recorded" if configured else tmp_path / "known_hosts"
    inventory, target = _setup(tmp_path, server, client_key, None, trust_on_first_use=True,
                               known_hosts=file if configured else None)
    first = SSHPool(inventory)
    with caplog.at_level(logging.WARNING, logger="homelab.transport.ssh"):
        assert first.run(target, "echo hi").stdout == "hi\n"
    first.close()
    line = f"[127.0.0.1]:{server.port} {host_key.get_name()} {host_key.get_base64()} {TOFU_MARK}\n"
    assert file.read_text() == line
    said = [r.getMessage() for r in caplog.records if r.name == "homelab.transport.ssh"]
    assert len(said) == 1
    assert str(file) in said[0]
    assert host_key.fingerprint in said[0]

    later = SSHPool(inventory)  # a later run: verified against the record, nothing recorded again
    assert later.run(target, "echo again").stdout == "again\n"
    later.close()
    assert file.read_text() == line

    server.stop()
    impostor = FakeSSHServer(paramiko.ECDSAKey.generate(), port=server.port)
    try:
        third = SSHPool(inventory)
        with pytest.raises(HostKeyMismatch, match=f"host key CHANGED: {file} records") as refused:
            third.get(target)
        assert host_key.fingerprint in str(refused.value)
        assert impostor.logins == 0
        third.close()
    finally:
        impostor.stop()
    assert file.read_text() == line


def test_without_trust_on_first_use_an_unknown_key_is_refused(
        tmp_path: Path, server: FakeSSHServer, client_key: Path) -> None:
    inventory, target = _setup(tmp_path, server, client_key, None)
    pool = SSHPool(inventory)
    with pytest.raises(HostKeyMismatch, match="unknown host key and `trust_on_first_use` is off"):
        pool.get(target)
    assert server.logins == 0
    assert not (tmp_path / "known_hosts").exists()


def _spec() -> Any:
    """tests/phase1/test_platform_host.py, the home of P1-SSH-001."""
    spec = importlib.util.spec_from_file_location("p1_platform_host", ROOT / "tests/phase1/test_platform_host.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_p1_ssh_001_fails_when_only_trust_on_first_use_recorded_the_key(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey) -> None:
    """The connection is verified (against the recorded key), but the inventory records none: P1-SSH-001 fails,
    this run (the key just recorded) and every later run, saying what to copy where."""
    inventory, target = _setup(tmp_path, server, client_key, None, trust_on_first_use=True)
    check = _spec().test_ssh_with_verified_host_key
    file = tmp_path / "known_hosts"
    says = (f"platform (127.0.0.1): the inventory records no host key; found {host_key.fingerprint} "
            f"({host_key.get_name()}) recorded by trust_on_first_use in {file}: copy it into "
            f"hosts.platform.ssh.host_key: {host_key.get_name()} {host_key.get_base64()}")
    for _run in ("first", "later"):
        pool = SSHPool(inventory)
        try:
            with pytest.raises(AssertionError) as failed:
                check(target, fake_on(ssh=pool), SimpleNamespace(ssh=pool))
            assert str(failed.value).splitlines()[0] == says
        finally:
            pool.close()

    # Copied into the inventory: verified with the inventory's own key, and P1-SSH-001 passes.
    inventory, target = _setup(tmp_path, server, client_key, host_key, trust_on_first_use=True)
    pool = SSHPool(inventory)
    try:
        assert pool.host_key_problem(target, "hosts.platform") is None
        check(target, fake_on(ssh=pool), SimpleNamespace(ssh=pool))
    finally:
        pool.close()


def test_p1_ssh_001_passes_with_the_inventory_key(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey) -> None:
    inventory, target = _setup(tmp_path, server, client_key, host_key)
    pool = SSHPool(inventory)
    try:
        _spec().test_ssh_with_verified_host_key(target, fake_on(ssh=pool), SimpleNamespace(ssh=pool))
    finally:
        pool.close()


def test_a_read_made_ahead_is_answered_once_with_its_result_or_its_error(
        tmp_path: Path, server: FakeSSHServer, client_key: Path, host_key: paramiko.PKey) -> None:
    """`read_ahead` runs the commands once; `run` of one of them (default timeout) takes that answer, or raises
    the error it met (a hung read ends at command_timeout, as when asked); any other command, or one asked with
    a timeout of its own, is sent as usual."""
    inventory, target = _setup(tmp_path, server, client_key, host_key, command_timeout=2.0)
    pool = SSHPool(inventory)
    try:
        pool.read_ahead(target, ["echo ahead; exit 3", "hang"])
        assert server.commands == ["echo ahead; exit 3", "hang"]
        first, again = pool.run(target, "echo ahead; exit 3"), pool.run(target, "echo ahead; exit 3")
        assert (first.exit_status, first.stdout) == (again.exit_status, again.stdout) == (3, "ahead\n")
        with pytest.raises(SSHError, match="a command gave no answer within 2 s"):
            pool.run(target, "hang")
        assert server.commands == ["echo ahead; exit 3", "hang"], "a read made ahead was sent again"
        assert pool.run(target, "echo ahead; exit 3", timeout=5).stdout == "ahead\n"
        assert pool.run(target, "echo other").stdout == "other\n"
        assert server.commands[2:] == ["echo ahead; exit 3", "echo other"]
    finally:
        pool.close()


def test_the_plugin_reads_ahead_what_the_selected_specs_declare() -> None:
    """`@pytest.mark.reads` on a spec parametrized by `host`: its commands per host, in the specs' order, once,
    through sudo when root (the SSH user is not root); specs without the marker or a host add nothing."""
    from homelab.specs.pytest_plugin import declared_reads

    host = SimpleNamespace(name="platform", ssh=SimpleNamespace(user="admin"))
    other = SimpleNamespace(name="unraid", ssh=SimpleNamespace(user="root"))

    def item(marker: Any, params: dict[str, Any] | None) -> Any:
        return SimpleNamespace(get_closest_marker=lambda name: marker,
                               callspec=SimpleNamespace(params=params) if params is not None else None)

    reads = declared_reads([
        item(pytest.mark.reads("cat /proc/net/tcp", "whoami").mark, {"host": host}),
        item(pytest.mark.reads("ufw status verbose", root=True).mark, {"host": host}),
        item(pytest.mark.reads("whoami").mark, {"host": host}),
        item(pytest.mark.reads("ufw status verbose", root=True).mark, {"host": other}),
        item(None, {"host": host}),
        item(pytest.mark.reads("date").mark, None),
    ])
    assert reads == {"platform": (host, ["cat /proc/net/tcp", "whoami", "sudo -n sh -c 'ufw status verbose'"]),
                     "unraid": (other, ["sh -c 'ufw status verbose'"])}
