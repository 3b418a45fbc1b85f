"""Helpers for the lab's own tests: run a command over SSH, start and stop a listener."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from homelab.model.inventory import Host, Inventory, Vantage
from homelab.transport.ssh import SSHPool

TINY = "lab/tiny:1"  # the lab's own tiny image (busybox on scratch), pushed by the `tiny_image` fixture
TINY_DIR = Path(__file__).parent / "tiny"


def machine(inventory: Inventory, name: str) -> Host | Vantage:
    return inventory.hosts.get(name) or inventory.vantages[name]


def sh(pool: SSHPool, target: Host | Vantage, command: str, timeout: float = 60) -> str:
    """Run `command` on `target`; fail the test with its output when it exits non-zero."""
    __tracebackhide__ = True
    result = pool.run(target, command, timeout=timeout)
    if not result.ok:
        pytest.fail(f"{target.name}: `{command}` exited {result.exit_status}: {result.stderr.strip()}", pytrace=False)
    return result.stdout


def start_listener(pool: SSHPool, target: Host, port: int) -> str:
    """A TCP listener (python's http.server, as root) on `target`; returns its PID for `stop_listener`."""
    command = f"python3 -m http.server {port} --bind 0.0.0.0 >{listener_log(port)} 2>&1 </dev/null & echo $!"
    pid = sh(pool, target, f"sudo -n sh -c {shlex.quote(command)}").strip()
    sh(pool, target, f"for i in $(seq 50); do ss -ltn | grep -q ':{port} ' && exit 0; sleep 0.1; done; exit 1")
    return pid


def listener_log(port: int) -> str:
    """Where the listener on `port` logs its requests (client addresses first)."""
    return f"/tmp/lab-listener-{port}.log"


def stop_listener(pool: SSHPool, target: Host, pid: str) -> None:
    pool.run(target, f"sudo -n kill {int(pid)}", timeout=10)

