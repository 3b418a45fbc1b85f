"""Phase 3: each GPU worker runs Ollama and Open WebUI, Ollama sees the GPU in its own container (CDI:
`nvidia.com/gpu=all`), both answer LAN and VPN only, and the Docker API is not on TCP (the WSL2 pitfall:
Docker Desktop's "expose daemon on tcp://localhost:2375").

A worker that is off skips (on-demand). One in gaming mode skips its GPU stack specs with "gaming mode" only while
the stack is verifiably stopped; a gaming-mode record with the stack running fails P3-GAMING-001. The exposure
specs of Ollama and Open WebUI always probe: in gaming mode only "answers from LAN and VPN" may skip.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from homelab.checks import problem
from homelab.checks.engine import (
    DAEMON_JSON,
    DAEMON_SCRIPT,
    RESTART_OK,
    expect_container,
    expect_dockerd_unix_only,
    health,
    pinned_image,
    restart_policy,
    runs_image,
)
from homelab.checks.gaming import MARKER, STACK
from homelab.checks.gpu import gpu_finding, listed_gpus, running_models
from homelab.checks.nvidia_smi import LIST_COMMAND
from homelab.checks.reach import expect_reach

pytestmark = pytest.mark.phase3

DEPLOY = "deploy the GPU stack: `python -m bootstrap phase3` (or `python -m bootstrap.gaming off HOST`)"
CDI = "nvidia.com/gpu=all"
GPU_FIX = (f"request the GPU in stacks/gpu-worker (deploy.resources.reservations.devices: driver cdi, device_ids "
           f"[{CDI}]) and redeploy; in WSL2 the NVIDIA toolkit's CDI spec must list {CDI}")
NO_TCP = ("turn off Docker Desktop's \"Expose daemon on tcp://localhost:2375 without TLS\" and remove tcp:// hosts "
          f"from dockerd ({DAEMON_JSON}); Portainer reaches the worker through its Edge agent")


@pytest.mark.spec("P3-STACK-001", severity="high", fix=DEPLOY)
@pytest.mark.each("instance", stack="gpu-worker")
def test_gpu_stack_running(instance, on):
    """Ollama and Open WebUI run, healthy, on each GPU worker (unless it is in gaming mode)."""
    _, container = expect_container(instance, on(instance.host, gpu_stack=True).docker, DEPLOY)
    found = health(container) if container.status == "running" else container.status
    assert found == "healthy", problem(expected="running and healthy", found=found,
                                       where=f"container {container.name} on {instance.host.name}",
                                       fix=f"`docker logs {container.name}`; {DEPLOY}")


@pytest.mark.spec("P3-STACK-002", severity="high", fix="redeploy so each container runs the image pinned in stacks/")
@pytest.mark.each("instance", stack="gpu-worker")
def test_gpu_stack_pinned(instance, on, inventory):
    """Ollama and Open WebUI run the images pinned in stacks/gpu-worker, and restart by themselves."""
    svc, container = expect_container(instance, on(instance.host).docker, DEPLOY)
    wanted, found = pinned_image(inventory, svc), container.attrs["Config"]["Image"]
    policy = restart_policy(container)
    ok = runs_image(on(instance.host).docker, container, wanted) and policy in RESTART_OK  # by digest: an Edge stack
    assert ok, problem(expected=f"image {wanted}, restart unless-stopped", found=f"image {found}, restart {policy}",
                       where=f"container {container.name} on {instance.host.name}",
                       fix=f"{DEPLOY}; never re-tag on the host")


@pytest.mark.spec("P3-GPU-001", severity="high", fix=GPU_FIX)
@pytest.mark.each("instance", service="ollama")
def test_gpu_requested(instance, on):
    """The Ollama container requests the GPU through CDI (`nvidia.com/gpu=all`), as the stack says."""
    _, container = expect_container(instance, on(instance.host, gpu_stack=True).docker, DEPLOY)
    requests = container.attrs.get("HostConfig", {}).get("DeviceRequests") or []
    devices = sorted(d for r in requests for d in r.get("DeviceIDs") or [])
    assert CDI in devices, problem(expected=f"a device request for {CDI}",
                                   found=", ".join(devices) or "no device request",
                                   where=f"container {container.name} on {instance.host.name}", fix=GPU_FIX)


@pytest.mark.spec("P3-GPU-002", severity="high", fix=GPU_FIX)
@pytest.mark.each("instance", service="ollama")
def test_gpu_visible_in_ollama(instance, on, inventory):
    """Inside the Ollama container `nvidia-smi -L` lists at least one GPU, or Ollama reports VRAM in use.

    An idle Ollama (no model loaded) with no working nvidia-smi could not be observed: that fails as such."""
    _, container = expect_container(instance, on(instance.host, gpu_stack=True).docker, DEPLOY)
    code, output = container.exec_run(list(LIST_COMMAND), demux=False)
    text = (output or b"").decode(errors="replace")
    models: list[dict[str, Any]] | Exception = []
    if not listed_gpus(code, text)[0]:  # an idle Ollama lists no model: gpu_finding says "could not observe"
        try:
            models = running_models(f"http://{instance.host.address}:{instance.service.ports[0].port}",
                                    inventory.settings.connect_timeout)
        except (httpx.HTTPError, ValueError) as exc:
            models = exc
    finding = gpu_finding(code, text, models, f"container {container.name}", instance.host.name, GPU_FIX)
    assert finding is None, finding


def expect_gpu_reach(reachability, on, source, host, port: int, what: str) -> None:
    """expect_reach for a port of the GPU stack, which runs whatever the gaming state: the probe is always made,
    and "must not answer" is always judged. Only "must answer" may skip, and only when gaming mode is recorded and
    the stack verifiably stopped (then nothing can answer, by design)."""
    __tracebackhide__ = True
    outcome = reachability.outcome(source, host, port, on)
    message = reachability.verdict(source, host, port, outcome, None, what)
    if message and not outcome.answers:
        reason = on(host).gaming.skip_reason
        if reason:
            pytest.skip(f"{reason}; so {what} answers no one, {source.name} included (where it must not answer, "
                        "that is still checked)")
    if message:
        pytest.fail(message, pytrace=False)


@pytest.mark.spec("P3-NET-001", severity="critical", fix="Ollama is for LAN and VPN only: re-run bootstrap phase 3")
@pytest.mark.each("host", stack="gpu-worker")
@pytest.mark.each("source")
def test_ollama_lan_vpn_only(host, source, inventory, reachability, on):
    """Ollama's API (11434) answers from the LAN and the VPN, and not from guest or WAN (in gaming mode too)."""
    expect_gpu_reach(reachability, on, source, host, inventory.services["ollama"].ports[0].port,
                     "Ollama")


@pytest.mark.spec("P3-NET-002", severity="critical",
                  fix="Open WebUI is for LAN and VPN only: re-run bootstrap phase 3")
@pytest.mark.each("host", stack="gpu-worker")
@pytest.mark.each("source")
def test_open_webui_lan_vpn_only(host, source, inventory, reachability, on):
    """Open WebUI (3000) answers from the LAN and the VPN, and not from guest or WAN (in gaming mode too)."""
    expect_gpu_reach(reachability, on, source, host,
                     inventory.services["open-webui"].ports[0].port, "Open WebUI")


@pytest.mark.spec("P3-GAMING-001", severity="high",
                  fix="stop the GPU stack (`python -m bootstrap.gaming on HOST` again stops it), or end gaming mode "
                      "(`python -m bootstrap.gaming off HOST`)")
@pytest.mark.each("host", stack="gpu-worker")
def test_gaming_mode_holds(host, on):
    """While gaming mode is recorded on a GPU worker, its GPU stack (Ollama, Open WebUI) is stopped.

    The GPU is then free for games, and the GPU specs skip only what is really stopped."""
    state = on(host).gaming
    assert state.conflict is None, problem(
        expected=f"the {STACK} stack stopped while {MARKER} exists", found=state.conflict, where=host.name,
        fix="`python -m bootstrap.gaming on HOST` (stops the stack) or `python -m bootstrap.gaming off HOST`")


@pytest.mark.spec("P3-DOCKER-001", severity="critical", fix=NO_TCP)
@pytest.mark.each("host", stack="edge-agent")
@pytest.mark.reads(DAEMON_SCRIPT, root=True)
def test_worker_dockerd_not_on_tcp(host, on):
    """dockerd in the worker's WSL2 is not told to listen on TCP (flags, daemon.json) and holds no TCP listener."""
    expect_dockerd_unix_only(on(host), NO_TCP)


@pytest.mark.spec("P3-DOCKER-002", severity="critical", fix=NO_TCP)
@pytest.mark.each("host", stack="edge-agent")
@pytest.mark.each("source")
@pytest.mark.parametrize("port", [2375, 2376])
def test_worker_docker_api_closed(host, source, port, reachability, on):
    """The Docker API (2375, 2376) of each GPU worker answers from nowhere."""
    expect_reach(reachability, on, source, host, port, "Docker API", allowed=False)
