"""Reachability probes on loopback: open and refused from here, and the remote script run by a local bash."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator

import pytest

from homelab.probes import Outcome, Probe, parse_remote, probe_here, remote_script


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@pytest.fixture
def refused() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_runner_probe_sees_open_and_closed(listener: int, refused: int) -> None:
    """A listening port is open, a port with nothing behind it is closed (refused)."""
    assert probe_here(Probe("127.0.0.1", listener), timeout=1) is Outcome.OPEN
    assert probe_here(Probe("127.0.0.1", refused), timeout=1) is Outcome.CLOSED


def test_remote_script_probes_all_at_once(listener: int, refused: int) -> None:
    """The script sent over SSH probes every target concurrently and reports each one."""
    probes = [Probe("127.0.0.1", listener), Probe("127.0.0.1", refused)]
    done = subprocess.run(["bash", "-c", remote_script(probes, 1)], capture_output=True, text=True, timeout=10,
                          check=True)
    assert parse_remote(done.stdout) == {probes[0]: Outcome.OPEN, probes[1]: Outcome.CLOSED}


def test_parse_ignores_noise() -> None:
    """Lines that are not probe results (a login banner, say) are ignored."""
    assert parse_remote("Welcome!\n198.18.10.10 9001 filtered\n") == {
        Probe("198.18.10.10", 9001): Outcome.FILTERED}
