"""The fixture `on` (homelab/specs/onhost.py), the one way a spec acts on a host: `read` fails as could-not-observe
on a failed or empty read and never hands a spec an empty answer; root runs go through `sudo -n`; the gaming
policy skips only a worker whose GPU stack is verifiably stopped. And ufw's status: no status is not "inactive"."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fake_access import GamingSsh, fake_on

from homelab.checks.ufw import UfwUnreadable, read_status
from homelab.transport.ssh import CommandResult

ADMIN = SimpleNamespace(name="pve-docker-1", ssh=SimpleNamespace(user="admin"), on_demand=False)
ROOT = SimpleNamespace(name="unraid", ssh=SimpleNamespace(user="root"), on_demand=False)


class Answering:
    """`ssh.run` that records each command and answers `result`."""

    def __init__(self, result: CommandResult) -> None:
        self.result = result
        self.commands: list[str] = []

    def run(self, target: Any, command: str, timeout: float | None = None) -> CommandResult:
        self.commands.append(command)
        return self.result


def test_read_returns_what_was_printed_and_runs_as_root_through_sudo() -> None:
    ssh = Answering(CommandResult(0, "-A DOCKER-USER -j HOMELAB-DOCKER\n", ""))
    assert fake_on(ssh=ssh)(ADMIN).read("iptables -S DOCKER-USER", root=True, what="DOCKER-USER").startswith("-A")
    fake_on(ssh=ssh)(ROOT).run("cat /boot/config/go", root=True)
    assert ssh.commands == ["sudo -n sh -c 'iptables -S DOCKER-USER'", "sh -c 'cat /boot/config/go'"]


@pytest.mark.parametrize("result", [CommandResult(1, "", "sudo: a password is required"), CommandResult(0, "  \n", "")])
def test_read_that_cannot_observe_fails_saying_so(result: CommandResult) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        fake_on(ssh=Answering(result))(ADMIN).read("iptables -S DOCKER-USER", root=True, what="DOCKER-USER")
    message = str(failed.value)
    assert message.startswith(f"could not observe: exit status {result.exit_status}: ")
    assert "(on pve-docker-1 from DOCKER-USER as root over SSH as admin)" in message


def test_gaming_policy_skips_only_a_stopped_gpu_stack() -> None:
    worker = SimpleNamespace(name="gaming-pc-1", ssh=SimpleNamespace(user="admin"), on_demand=True)
    with pytest.raises(pytest.skip.Exception, match="gaming mode"):
        fake_on(ssh=GamingSsh("on since now by alice"))(worker, gpu_stack=True)
    assert fake_on(ssh=GamingSsh("on since now", ("ollama",)))(worker, gpu_stack=True).target is worker
    assert fake_on(ssh=GamingSsh(None))(worker, gpu_stack=True).target is worker


def test_ufw_without_a_status_is_unreadable_not_inactive() -> None:
    assert not read_status(0, "Status: inactive\n", "").active
    with pytest.raises(UfwUnreadable, match=r"printed no status \(exit status 1: sudo: a password is required"):
        read_status(1, "", "sudo: a password is required")
