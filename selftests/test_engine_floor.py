"""Bootstrap's first step refuses a Docker Engine older than 25 in one line, saying what to upgrade: the stacks'
healthchecks use `start_interval` and the GPU workers CDI, which older engines refuse or ignore."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bootstrap import engine
from bootstrap.steps import StepFailed, run_steps
from homelab.transport.ssh import CommandResult


@pytest.mark.parametrize(("version", "old"), [("24.0.7", True), ("20.10.24+dfsg1", True), ("25.0.0", False),
                                              ("26.1.5+dfsg1", False), ("27.3.1", False)])
def test_too_old(version: str, old: bool) -> None:
    assert engine.too_old(version) is old


def remote(version: str, platform: str = "proxmox-vm") -> SimpleNamespace:
    answer = CommandResult(0, f"{version}\n2.29.2\n", "")
    return SimpleNamespace(host=SimpleNamespace(name="unraid", platform=platform, os="slackware"),
                           try_run=lambda command: answer)


def test_an_old_engine_stops_bootstrap_in_one_line() -> None:
    with pytest.raises(StepFailed) as failed:
        run_steps(engine.steps(remote("24.0.9", "unraid")), dry_run=True)  # type: ignore[arg-type]
    message = str(failed.value)
    assert "Docker Engine 24.0.9 on unraid is older than 25" in message
    assert "upgrade to Unraid 7 or later" in message
    assert "\n" not in message


def test_a_current_engine_passes() -> None:
    assert run_steps(engine.steps(remote("27.3.1")), dry_run=True).unchanged  # type: ignore[arg-type]
