"""Reachability probes on loopback: open, refused and dropped from here, and the remote script run by a local
shell, with python3 (one sweep process) and without (bash and `timeout` per probe)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.transport import sweep
from homelab.transport.probes import Outcome, Probe, parse_remote, probe_here, remote_script


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


@pytest.fixture
def dropped() -> Iterator[int]:
    """A port whose SYNs go unanswered, as behind a DROP rule: a listener whose accept queue is full."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        port = int(s.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2):  # fills the queue of one
            yield port


def test_runner_probe_sees_open_and_closed(listener: int, refused: int) -> None:
    """A listening port is open, a port with nothing behind it is closed (refused)."""
    assert probe_here(Probe("127.0.0.1", listener), timeout=1) is Outcome.OPEN
    assert probe_here(Probe("127.0.0.1", refused), timeout=1) is Outcome.CLOSED


def test_sweep_costs_one_timeout_for_hundreds(listener: int, refused: int, dropped: int) -> None:
    """Six hundred probes, one of them dropped, end after about one timeout, each with its outcome."""
    targets = [("127.0.0.1", listener), ("127.0.0.1", refused), ("127.0.0.1", dropped)]
    targets += [("127.0.0.1", p) for p in range(40000, 40600) if p not in (listener, refused, dropped)]
    started = time.monotonic()
    found = sweep.sweep(targets, timeout=0.5)
    assert time.monotonic() - started < 2.5
    assert len(found) == len(targets)
    assert (found[targets[0]], found[targets[1]], found[targets[2]]) == ("open", "closed", "filtered")


@pytest.mark.parametrize("python", [True, False], ids=["python3", "bash-only"])
def test_remote_script_probes_all_at_once(listener: int, refused: int, dropped: int, python: bool,
                                          tmp_path: Path) -> None:
    """The script sent over SSH probes every target concurrently and reports each one, through python3 where
    the far side has it, else through bash alone."""
    probes = [Probe("127.0.0.1", listener), Probe("127.0.0.1", refused), Probe("127.0.0.1", dropped)]
    env = dict(os.environ)
    if not python:  # a PATH with bash and coreutils but no python3
        for tool in ("bash", "timeout"):
            (tmp_path / tool).symlink_to(shutil.which(tool) or tool)
        env["PATH"] = str(tmp_path)
    started = time.monotonic()
    done = subprocess.run([shutil.which("bash") or "bash", "-c", remote_script(probes, 1)], capture_output=True,
                          text=True, timeout=10, check=True, env=env)
    assert parse_remote(done.stdout) == {probes[0]: Outcome.OPEN, probes[1]: Outcome.CLOSED,
                                         probes[2]: Outcome.FILTERED}
    assert time.monotonic() - started < 3, "the probes did not run at once"


def test_parse_ignores_noise() -> None:
    """Lines that are not probe results (a login banner, say) are ignored."""
    assert parse_remote("Welcome!\n198.18.10.10 9001 filtered\n") == {
        Probe("198.18.10.10", 9001): Outcome.FILTERED}
