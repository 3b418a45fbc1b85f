"""The phase 3 faults: each breaks one constraint of a GPU worker (the GPU in Ollama's container, the Edge
agent's heartbeat, Ollama's exposure, an Edge job made in Portainer for it), and two normal states that must skip,
never fail: the worker switched off, and gaming mode."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

from homelab.clients.portainer_edge import EdgeApi
from lab.docker import LabError, docker
from lab.faults.base import Fault, Lab
from lab.topology import LAB_DIR, REPO, machine

WORKER = "gaming-pc-1"
OVERRIDE = "/tmp/homelab-fault-gpu.yml"  # noqa: S108 -- a file inside the lab host, removed by undo
# `!reset` (compose 2.24+) drops the stack's GPU request, as a hand edit of the compose file would.
NO_GPU = "services:\n  ollama:\n    deploy:\n      resources:\n        reservations:\n          devices: !reset []\n"
GPU_SPECS = ("test_gpu_stack_running[", "test_gpu_requested[", "test_gpu_visible_in_ollama[",
             "test_ollama_lan_vpn_only[", "test_open_webui_lan_vpn_only[")  # what gaming mode skips
# The gpu-worker Edge stack's specs: in gaming mode the worker is out of its Edge group on purpose
GPU_EDGE_SPECS = (f"test_edge_stack_deployed_from_git[gpu-worker@{WORKER}]",
                  f"test_edge_stack_runs_the_reference[gpu-worker@{WORKER}]")
# The worker's names, as NPM on the platform serves them: their DNS and TLS do not depend on the worker being on
NAMES = (f"ollama-{WORKER}.home.example.com", f"chat-{WORKER}.home.example.com")
NPM_SIDE = tuple(f"{spec}[{name}{suffix}]" for name in NAMES for spec, suffixes in (
    ("test_service_fqdn_resolves_to_npm", ("",)), ("test_certificate_verifies", ("",)),
    ("test_certificate_not_expiring", ("",)), ("test_legacy_tls_refused", ("-TLSv1", "-TLSv1_1")),
    ("test_http_redirects_to_https", ("",)), ("test_name_has_access_list", ("",)))
    for suffix in suffixes)
# What asks the GPU stack through its names: skipped with it in gaming mode
GPU_NAME_SPECS = (*(f"{spec}[{name}" for name in NAMES for spec in ("test_name_proxied_to_service", "test_hsts_sent")),
                  f"test_api_refuses_anonymous[chat-{WORKER}")
EDGE_JOB = "homelab-fault-edge-job"  # an Edge job as someone with Portainer's admin would make one
# Harmless, and never due: once, at midnight on 1 January (the lab's agent stand-in runs no job anyway)
EDGE_JOB_SCRIPT, EDGE_JOB_CRON = "#!/bin/sh\necho 'lab fault edge-job-created'\n", "0 0 1 1 *"
STALE_WAIT = 90.0  # at most: Portainer's Edge heartbeat goes stale 2 x the check-in interval (5 s) + 20 s after


def _ollama(lab: Lab, without_gpu: bool) -> None:
    """Ollama recreated by hand with (or without) the override, from the files its compose project was made with
    (in the Edge agent's container for the gpu-worker Edge stack: lab.sh_project)."""
    write = f"printf %s {shlex.quote(NO_GPU)} > {OVERRIDE} && " if without_gpu else f"rm -f {OVERRIDE}; "
    compose = lab.compose("ollama", *((OVERRIDE,) if without_gpu else ()), host=WORKER, drop=(OVERRIDE,))
    lab.sh_project(WORKER, "ollama", f"{write}{compose} up -d --no-deps ollama 2>&1", timeout=180)
    lab.wait_healthy("ollama", WORKER)


def _checkin_age(lab: Lab) -> tuple[int, int] | None:
    """(seconds since the worker's last Edge check-in, Portainer's allowance) as Portainer answers them, the
    reading P3-EDGE-002 judges; None before any check-in."""
    with lab.portainer() as portainer:
        found = next(e for e in portainer.endpoints() if e["Name"] == WORKER)
    last, now = int(found.get("LastCheckInDate") or 0), int(found.get("QueryDate") or 0)
    return (now - last, 2 * int(found.get("EdgeCheckinInterval") or 5) + 20) if last else None


def _edge_agent_stopped(lab: Lab) -> None:
    """The agent stopped, until Portainer's heartbeat for it has gone stale (asked, not slept on)."""
    lab.sh(WORKER, "docker stop portainer-edge-agent >/dev/null")
    deadline = time.monotonic() + STALE_WAIT
    while (age := _checkin_age(lab)) is not None and age[0] <= age[1]:
        if time.monotonic() > deadline:
            raise LabError(f"Portainer still counts {WORKER}'s Edge agent as checked in {STALE_WAIT:.0f} s after "
                           f"it stopped (last check-in {age[0]} s ago)")
        time.sleep(1)


def _edge_job(lab: Lab, create: bool) -> None:
    """An Edge job aimed at the worker's Edge environment (POST /api/edge_jobs/create/string, as Portainer's editor
    makes one), or every job of that name deleted (so undo is safe to repeat)."""
    with lab.portainer() as portainer:
        edge = EdgeApi(portainer)
        if create:
            endpoint = next(int(e["Id"]) for e in portainer.endpoints() if e["Name"] == WORKER)
            edge.create_job_from_string(EDGE_JOB, EDGE_JOB_CRON, EDGE_JOB_SCRIPT, endpoints=[endpoint])
            return
        for job in edge.jobs():
            if job.get("Name") == EDGE_JOB:
                edge.delete_job(int(job["Id"]))


def _ollama_public(lab: Lab, verb: str) -> None:
    rule = "-p tcp -m conntrack --ctorigdstport 11434 --ctdir ORIGINAL -j RETURN"
    lab.sh(WORKER, f"iptables -I HOMELAB-DOCKER 1 {rule}" if verb == "insert" else f"iptables -D HOMELAB-DOCKER {rule}")


def _power(on: bool) -> None:
    container = machine(WORKER).container
    if not on:
        docker("stop", "-t", "5", container, timeout=60)
        return
    docker("start", container, timeout=60)
    deadline = time.monotonic() + 90
    while docker("exec", container, "sh", "-c", "docker info >/dev/null 2>&1 && pgrep -x sshd >/dev/null && echo up",
                 check=False).strip() != "up":
        if time.monotonic() > deadline:
            raise LabError(f"{WORKER} did not come back within 90 s of `docker start`")
        time.sleep(2)


def _gaming(action: str) -> None:
    done = subprocess.run([sys.executable, "-m", "bootstrap.gaming", action, WORKER, "--inventory",
                           str(LAB_DIR / "inventory.yaml")], cwd=REPO, capture_output=True, text=True,
                          timeout=180, check=False)
    if done.returncode != 0:
        raise LabError(f"gaming {action} failed: {done.stdout}{done.stderr}")


FAULTS = (
    Fault("gpu-request-removed", "Ollama on gaming-pc-1 recreated without its GPU request (`devices: !reset []`)",
          (f"test_gpu_requested[ollama@{WORKER}]", f"test_gpu_visible_in_ollama[ollama@{WORKER}]",
           f"test_edge_stack_runs_the_reference[gpu-worker@{WORKER}]"),
          lambda lab: _ollama(lab, without_gpu=True), lambda lab: _ollama(lab, without_gpu=False), phase=3),
    Fault("edge-agent-stopped", "the Edge agent on gaming-pc-1 stopped, until its heartbeat is stale",
          (f"test_edge_agent_running[portainer-edge-agent@{WORKER}]", f"test_edge_checkin_recent[{WORKER}]"),
          _edge_agent_stopped, lambda lab: lab.sh(WORKER, "docker start portainer-edge-agent >/dev/null"), phase=3),
    Fault("ollama-public", "Ollama's 11434 on gaming-pc-1 opened to every network (a RETURN rule in HOMELAB-DOCKER)",
          (f"test_ollama_lan_vpn_only[{WORKER}<-guest]", f"test_nothing_unplanned_answers[{WORKER}<-guest]"),
          lambda lab: _ollama_public(lab, "insert"), lambda lab: _ollama_public(lab, "delete"), phase=3),
    Fault("edge-job-created", f"an Edge job made in Portainer for {WORKER}'s Edge environment (a script its agent "
          "would run as root on the host)",
          ("test_no_edge_jobs[portainer@platform]",), lambda lab: _edge_job(lab, create=True),
          lambda lab: _edge_job(lab, create=False), phase=3),
    Fault("worker-off", "gaming-pc-1 switched off (an on-demand worker: its specs skip, none fails)", (),
          lambda lab: _power(False), lambda lab: _power(True), phase=3, skips=(WORKER,),
          skip_reason="on-demand host is off", skip_exempt=(f"test_host_name_resolves[{WORKER}]", *NPM_SIDE,
                                                            f"test_no_stack_outside_git[{WORKER}]",
                                                            f"test_no_other_edge_stack[{WORKER}]",
                                                            f"test_edge_stack_deployed_from_git[exporters@{WORKER}]",
                                                            f"test_edge_stack_deployed_from_git[gpu-worker@{WORKER}]"),
          why="its DNS records, its names' certificates, TLS and access lists are asked of the platform (Technitium, "
              "NPM), not of the worker; so are the stacks and Edge stacks Portainer holds for it (GIT-STACK-003, "
              "GIT-EDGE-001, GIT-EDGE-003)"),
    Fault("gaming-mode", "gaming-pc-1 switched to gaming mode (`python -m bootstrap.gaming on`)", (),
          lambda lab: _gaming("on"), lambda lab: _gaming("off"), phase=3,
          skips=GPU_SPECS + GPU_NAME_SPECS + GPU_EDGE_SPECS,
          skip_reason="gaming mode", skip_exempt=tuple(f"{spec}{WORKER}<-{source}]" for spec in GPU_SPECS[3:]
                                                       for source in ("guest", "wan")),
          why="exposure is judged in gaming mode too: from guest and WAN the stopped stack must not answer"),
)
