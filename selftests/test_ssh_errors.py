"""A connection that breaks, or a command that hangs, is one SSHError naming the host, never a paramiko traceback."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import paramiko
import pytest

from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.transport.ssh import SSHError, SSHPool

ROOT = REPO


class _BrokenClient(paramiko.SSHClient):
    """Connected as far as the pool can tell; its commands fail as `failure` says once sent."""

    def __init__(self, failure: BaseException) -> None:
        super().__init__()
        self.failure = failure

    def get_transport(self) -> Any:
        return SimpleNamespace(is_active=lambda: True, open_session=lambda timeout=None: _BrokenChannel(self.failure))

    def close(self) -> None:
        pass


class _BrokenChannel:
    def __init__(self, failure: BaseException) -> None:
        self.failure = failure

    def exec_command(self, *args: Any, **kwargs: Any) -> Any:
        raise self.failure

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("failure", "says"), [
    (paramiko.SSHException("SSH session not active"), "the SSH connection broke during a command"),
    (EOFError(), "the SSH connection broke during a command"),
    (TimeoutError(), "gave no answer within 7 s"),
], ids=["dropped", "eof", "hung"])
def test_command_failure_is_one_clear_error(failure: BaseException, says: str) -> None:
    inventory = load_inventory(ROOT / "inventory.yaml")
    host = inventory.hosts["unraid"]
    pool = SSHPool(inventory)
    pool._clients[host.name] = _BrokenClient(failure)
    with pytest.raises(SSHError, match=says) as caught:
        pool.run(host, "true", timeout=7)
    assert str(caught.value).startswith(f"unraid ({host.address}): ")
