"""`homelab.transport.ssh.offered_auth` (HARD-SSH-001's observation) against a real SSH server on 127.0.0.1: paramiko's
server side, an Ed25519 host key, no lab.

The server is asked the `none` method only after its host key is verified against what the inventory knows; the
methods come back sorted; a server that lets the user in without authentication answers []; an impostor's key, no
known key, a closed port and a port that never speaks are SSHErrors, each within the connect timeout.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sshd_on_localhost import LocalSSHServer

from homelab.model.inventory import Settings, SSHAccess
from homelab.transport.ssh import TOFU_MARK, HostKeyMismatch, HostUnreachable, SSHError, offered_auth

TIMEOUT = 2.0


def ed25519_key() -> paramiko.PKey:
    """A new Ed25519 key as paramiko holds one (paramiko cannot generate Ed25519 keys itself)."""
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()}"


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: AuthServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return self.server.allowed

    def check_auth_none(self, username: str) -> int:
        self.server.asked.append(username)
        if self.server.stall:
            self.server.released.wait(30)  # an sshd that never answers (the transport thread blocks here)
        return paramiko.AUTH_SUCCESSFUL if self.server.none_lets_in else paramiko.AUTH_FAILED


class AuthServer(LocalSSHServer):
    """An SSH server on 127.0.0.1 with `host_key` that answers the `none` method: `allowed` (comma-separated, as
    sshd lists them) or, with `none_lets_in`, success. `asked` holds the users it was asked about."""

    def __init__(self, host_key: paramiko.PKey, allowed: str = "publickey", none_lets_in: bool = False) -> None:
        self.allowed = allowed
        self.none_lets_in = none_lets_in
        self.stall = False
        self.released = threading.Event()
        self.asked: list[str] = []
        super().__init__(host_key)

    def interface(self) -> paramiko.ServerInterface:
        return _Interface(self)

    def settled(self) -> None:
        """Every connection the server took has ended (the client hung up, and nothing more can arrive)."""
        end = time.monotonic() + 5
        while time.monotonic() < end and any(t.is_active() for t in self.transports):
            time.sleep(0.02)
        assert not any(t.is_active() for t in self.transports)

    def stop(self) -> None:
        self.released.set()
        super().stop()


@pytest.fixture(scope="module")
def host_key() -> paramiko.PKey:
    return ed25519_key()


@pytest.fixture
def start(host_key: paramiko.PKey) -> Iterator[type[AuthServer]]:
    started: list[AuthServer] = []

    class Started(AuthServer):
        def __init__(self, key: paramiko.PKey = host_key, allowed: str = "publickey",
                     none_lets_in: bool = False) -> None:
            super().__init__(key, allowed, none_lets_in)
            started.append(self)

    yield Started
    for server in started:
        server.stop()


def target(port: int, host_key: str | None, user: str = "admin") -> SimpleNamespace:
    """What `Reachable` asks of a target: a name, an address and SSH access (no client key: none is used)."""
    return SimpleNamespace(name="platform", address=IPv4Address("127.0.0.1"),
                           ssh=SSHAccess(user=user, key=None, port=port, host_key=host_key))


def settings(**options: object) -> Settings:
    return Settings(**{"connect_timeout": TIMEOUT, "command_timeout": 5.0, "known_hosts": None,
                       "trust_on_first_use": False, **options})  # type: ignore[arg-type]


def test_the_offered_methods_come_back_sorted(start: type[AuthServer], host_key: paramiko.PKey) -> None:
    server = start(allowed="publickey,password,keyboard-interactive")
    methods = offered_auth(target(server.port, public_line(host_key)), settings())
    assert methods == ["keyboard-interactive", "password", "publickey"]
    assert server.asked == ["admin"]  # the inventory's SSH user, by the `none` method


def test_publickey_only(start: type[AuthServer], host_key: paramiko.PKey) -> None:
    server = start(allowed="publickey")
    assert offered_auth(target(server.port, public_line(host_key), user="root"), settings()) == ["publickey"]
    assert server.asked == ["root"]


def test_a_server_that_lets_the_user_in_without_authentication_answers_nothing(
        start: type[AuthServer], host_key: paramiko.PKey) -> None:
    server = start(allowed="publickey,password", none_lets_in=True)
    assert offered_auth(target(server.port, public_line(host_key)), settings()) == []
    assert server.asked == ["admin"]


def test_an_impostors_key_is_refused_before_anything_is_asked(start: type[AuthServer]) -> None:
    impostor_key = ed25519_key()
    server = start(key=impostor_key, allowed="publickey,password")
    expected = ed25519_key()  # what the inventory records
    with pytest.raises(HostKeyMismatch) as caught:
        offered_auth(target(server.port, public_line(expected)), settings())
    message = str(caught.value)
    assert message.startswith(f"platform (admin@127.0.0.1:{server.port}): the host presented ssh-ed25519 "
                              f"{impostor_key.fingerprint}")
    assert "not asking it anything" in message
    server.settled()
    assert server.connections == 1
    assert server.asked == []


def test_an_impostor_of_another_key_type_is_refused_too(start: type[AuthServer], host_key: paramiko.PKey) -> None:
    server = start(key=paramiko.ECDSAKey.generate(), allowed="publickey,password")
    with pytest.raises(HostKeyMismatch):
        offered_auth(target(server.port, public_line(host_key)), settings())
    server.settled()
    assert server.asked == []


def test_no_known_key_is_an_error_before_any_connection(start: type[AuthServer]) -> None:
    server = start(allowed="password")
    with pytest.raises(SSHError) as caught:
        offered_auth(target(server.port, None), settings(trust_on_first_use=True))  # never first use here
    assert type(caught.value) is SSHError
    assert "no host key is known" in str(caught.value)
    time.sleep(0.3)
    assert server.connections == 0
    assert server.asked == []


def test_the_known_hosts_file_and_trust_on_first_use_records_count(
        start: type[AuthServer], host_key: paramiko.PKey, tmp_path: Path) -> None:
    """No `ssh.host_key`: the key in `settings.known_hosts` ([ADDRESS]:PORT off port 22), or one that
    trust_on_first_use recorded, verifies the server; a record for another port does not."""
    server = start(allowed="publickey,password")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {public_line(host_key)}\n")
    assert offered_auth(target(server.port, None), settings(known_hosts=known_hosts)) == ["password", "publickey"]

    recorded = tmp_path / "recorded"
    recorded.write_text(f"[127.0.0.1]:{server.port} {public_line(host_key)} {TOFU_MARK}\n")
    assert offered_auth(target(server.port, None), settings(), recorded) == ["password", "publickey"]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(f"[127.0.0.1]:{server.port + 1} {public_line(host_key)}\n")
    with pytest.raises(SSHError, match="no host key is known"):
        offered_auth(target(server.port, None), settings(known_hosts=elsewhere))


def test_a_closed_port_is_unreachable_at_once(host_key: paramiko.PKey) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
        started = time.monotonic()
        with pytest.raises(HostUnreachable, match="cannot connect"):
            offered_auth(target(port, public_line(host_key)), settings())
    assert time.monotonic() - started < TIMEOUT


def test_a_port_that_never_speaks_ends_within_the_connect_timeout(host_key: paramiko.PKey) -> None:
    """A TCP listener that accepts and says nothing (a hung sshd, a tarpit): HostUnreachable, no hang."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        with pytest.raises(HostUnreachable, match="handshake failed"):
            offered_auth(target(silent.getsockname()[1], public_line(host_key)), settings(connect_timeout=1.0))
        assert time.monotonic() - started < 1.0 + 1.5


def test_a_port_that_is_not_ssh_is_unreachable(host_key: paramiko.PKey) -> None:
    with socket.socket() as http:
        http.bind(("127.0.0.1", 0))
        http.listen(1)

        def answer() -> None:
            conn, _ = http.accept()
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        started = time.monotonic()
        with pytest.raises(HostUnreachable, match="handshake failed"):
            offered_auth(target(http.getsockname()[1], public_line(host_key)), settings())
        assert time.monotonic() - started < TIMEOUT + 1.5
        thread.join(timeout=5)


def test_a_server_that_never_answers_the_question_ends_within_the_connect_timeout(
        start: type[AuthServer], host_key: paramiko.PKey) -> None:
    """The handshake completes and the key is right, but the answer to `none` never comes: HostUnreachable within
    the connect timeout (paramiko's own auth timeout is 30 s)."""
    server = start(allowed="publickey")
    server.stall = True
    started = time.monotonic()
    with pytest.raises(HostUnreachable, match="handshake failed"):
        offered_auth(target(server.port, public_line(host_key)), settings(connect_timeout=1.0))
    assert time.monotonic() - started < 1.0 + 1.5
    assert server.asked == ["admin"]
