"""Bootstrap's first step refuses a Docker Engine older than 25, or a Docker Compose older than 2.20.2, in one line
saying what to upgrade: the stacks' healthchecks use `start_interval` and the GPU workers CDI, which older engines
refuse or ignore. Where Docker is missing on Debian or Ubuntu, it installs Docker's own packages from Docker's apt
repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from bootstrap import engine
from bootstrap.steps import StepFailed, run_steps
from homelab.transport.ssh import CommandResult


@pytest.mark.parametrize(("version", "old"), [("24.0.7", True), ("20.10.24+dfsg1", True), ("25.0.0", False),
                                              ("26.1.5+dfsg1", False), ("27.3.1", False)])
def test_too_old(version: str, old: bool) -> None:
    assert engine.too_old(version) is old


@pytest.mark.parametrize(("version", "old"), [
    ("2.26.1", False), ("v2.20.2", False), ("2.20.2", False), ("v2.29.2\n", False), ("2.21", False),
    ("2.24.6+ds1-0ubuntu1~22.04.1", False), ("3.0.0", False), ("v2.20.1", True), ("2.20", True), ("2.19.9", True),
    ("v2.17.2", True), ("1.29.2", True), ("", False), ("dev", False)])
def test_compose_too_old(version: str, old: bool) -> None:
    """`docker compose version --short`, with or without its `v` or a distribution's suffix, against 2.20.2; a
    version that does not read as numbers is not judged (the deploy then says what compose refuses)."""
    assert engine.compose_too_old(version) is old


def remote(version: str, platform: str = "proxmox-vm", os: str = "slackware", compose: str = "2.29.2",
           name: str = "unraid") -> SimpleNamespace:
    answer = CommandResult(0, f"{version}\n{compose}\n", "")
    return SimpleNamespace(host=SimpleNamespace(name=name, platform=platform, os=os),
                           try_run=lambda command: answer)


def refused(host: SimpleNamespace) -> str:
    with pytest.raises(StepFailed) as failed:
        run_steps(engine.steps(host), dry_run=True)  # type: ignore[arg-type]
    message = str(failed.value)
    assert "\n" not in message
    return message


def test_an_old_engine_stops_bootstrap_in_one_line() -> None:
    message = refused(remote("24.0.9", "unraid"))
    assert "Docker Engine 24.0.9 on unraid is older than 25" in message
    assert "upgrade to Unraid 7 or later" in message


def test_an_old_debian_engine_says_how_to_get_docker_s_own() -> None:
    """Debian 12's docker.io: remove it, and bootstrap installs docker-ce from Docker's repository."""
    message = refused(remote("20.10.24+dfsg1", os="debian", name="docker-vm1"))
    assert "Docker Engine 20.10.24+dfsg1 on docker-vm1 is older than 25" in message
    assert "`apt-get remove docker.io`" in message
    assert "download.docker.com" in message


@pytest.mark.parametrize(("os", "package"), [("debian", "docker-compose"), ("ubuntu", "docker-compose-v2")])
def test_an_old_compose_stops_bootstrap_in_one_line(os: str, package: str) -> None:
    """A current engine with compose 2.19: one line naming the version, the host, the floor and the package to
    remove (each distribution's own name, since apt refuses one it does not know)."""
    message = refused(remote("26.1.5+dfsg1", os=os, compose="v2.19.1", name="docker-vm1"))
    assert ("Docker Compose v2.19.1 on docker-vm1 is older than 2.20.2, which the stacks need "
            "(healthcheck start_interval): remove the distribution's package") in message
    assert f"`apt-get remove {package}`" in message
    assert "docker-compose-plugin" in message


def test_an_old_compose_on_unraid_names_the_plugin() -> None:
    message = refused(remote("27.3.1", "unraid", compose="2.17.3"))
    assert "Docker Compose 2.17.3 on unraid is older than 2.20.2" in message
    assert "update the Compose Manager plugin" in message


def test_a_current_engine_passes() -> None:
    assert run_steps(engine.steps(remote("27.3.1")), dry_run=True).unchanged  # type: ignore[arg-type]


def test_a_current_compose_passes() -> None:
    host = remote("25.0.3", os="ubuntu", compose="2.24.6+ds1-0ubuntu1~22.04.1")
    assert run_steps(engine.steps(host), dry_run=True).unchanged  # type: ignore[arg-type]


# -- the install command -----------------------------------------------------------------------------------------
def fake_host(tmp_path: Path, dockerd: bool) -> tuple[dict[str, str], Path]:
    """A PATH of recording stand-ins for apt-get, curl, dpkg and systemctl, and /etc under tmp_path (Debian 12)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    (tmp_path / "etc" / "apt" / "sources.list.d").mkdir(parents=True)
    (tmp_path / "etc" / "os-release").write_text("ID=debian\nVERSION_CODENAME=bookworm\n")
    bin_dir.mkdir()
    record = f'echo "$(basename "$0") $*" >> {log}\n'
    stand_ins = {"apt-get": record, "systemctl": record, "dpkg": "echo amd64\n",
                 "curl": record + 'while [ $# -gt 1 ]; do [ "$1" = -o ] && echo KEY > "$2"; shift; done\n'}
    if dockerd:
        stand_ins["dockerd"] = ""
    for name, body in stand_ins.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}")
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}, log


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX sh")
@pytest.mark.parametrize(("dockerd", "packages"), [
    (False, "docker-ce docker-ce-cli containerd.io docker-compose-plugin"), (True, "docker-compose-plugin")])
def test_install_uses_docker_s_repository(tmp_path: Path, dockerd: bool, packages: str) -> None:
    """INSTALL, run by sh with /etc under tmp_path: Docker's key under /etc/apt/keyrings, a signed-by source for the
    codename in /etc/os-release, then Docker's packages (only compose where an engine is installed: docker-ce
    would replace docker.io under its containers)."""
    env, log = fake_host(tmp_path, dockerd)
    command = engine.INSTALL.replace("/etc/", f"{tmp_path}/etc/")
    subprocess.run(["sh", "-c", command], env=env, check=True, timeout=30)
    keyring = f"{tmp_path}/etc/apt/keyrings/docker.asc"
    assert (tmp_path / "etc/apt/sources.list.d/docker.list").read_text() == (
        f"deb [arch=amd64 signed-by={keyring}] https://download.docker.com/linux/debian bookworm stable\n")
    calls = log.read_text().splitlines()
    assert f"curl -fsSL https://download.docker.com/linux/debian/gpg -o {keyring}" in calls
    assert calls[-2:] == [f"apt-get install -y -q {packages}", "systemctl enable --now docker"]
