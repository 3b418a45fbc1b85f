"""Helpers of the phase proofs: run bootstrap and the specs as an operator would, read JUnit, wait for health."""

from __future__ import annotations

import subprocess
import sys
import time
import xml.etree.ElementTree as ET  # parses the JUnit file our own pytest run just wrote
from dataclasses import dataclass
from pathlib import Path

import httpx

from homelab.checks.observability import parse_states
from homelab.clients import connect
from homelab.model import monitoring
from lab.docker import LabError, docker
from lab.faults import Fault, Lab
from lab.topology import REPO, machine

INVENTORY = ".lab/inventory.yaml"
STACK_CONTAINERS = ("portainer", "npm", "technitium", "uptime-kuma")
AGENT_HOSTS = ("unraid", "pve-docker-1", "pve-docker-2")
TIMINGS: dict[str, float] = {}
MONITORS_WAIT = 150.0  # Uptime Kuma notices a service back within its interval (and retry interval)


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    seconds: float


@dataclass(frozen=True)
class Result:
    outcome: str   # passed | failed | skipped
    message: str


def run(*args: str, timeout: float = 900) -> Run:
    started = time.monotonic()
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return Run(done.returncode, done.stdout + done.stderr, time.monotonic() - started)


def bootstrap(*extra: str, phase: int = 1) -> Run:
    return run("-m", "bootstrap", f"phase{phase}", "--inventory", INVENTORY, *extra)


def specs(junit: Path, *extra: str, marker: str = "phase1") -> tuple[Run, dict[str, Result]]:
    """`pytest -m MARKER` against the lab; results by test name (`test_portainer_https[wan]`)."""
    done = run("-m", "pytest", "-m", marker, "--inventory", INVENTORY, "--no-reports", "-p", "no:cacheprovider",
               "-q", f"--junitxml={junit}", *extra)
    results: dict[str, Result] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314 -- our own file
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            results[case.get("name", "")] = Result("failed", failure.get("message", "") + (failure.text or ""))
        elif skipped is not None:
            results[case.get("name", "")] = Result("skipped", skipped.get("message", ""))
        else:
            results[case.get("name", "")] = Result("passed", "")
    return done, results


def stack_states() -> dict[str, str]:
    """Each platform container's `docker ps` status line (missing ones absent)."""
    out = docker("exec", machine("platform").container, "docker", "ps", "-a", "--format", "{{.Names}}\t{{.Status}}")
    rows = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
    return {name: rows[name] for name in STACK_CONTAINERS if name in rows}


def settled(states: dict[str, str]) -> bool:
    return len(states) == len(STACK_CONTAINERS) and all(
        s.startswith("Up") and "starting" not in s and "unhealthy" not in s for s in states.values())


def wait_healthy(limit: float = 300) -> dict[str, str]:
    """Wait (bounded) until every platform container is up and no healthcheck is starting or failing."""
    deadline = time.monotonic() + limit
    while True:
        try:
            states = stack_states()
        except LabError:  # the engine is restarting
            states = {}
        if settled(states) or time.monotonic() > deadline:
            return states
        time.sleep(3)


def failed(results: dict[str, Result]) -> set[str]:
    return {name for name, r in results.items() if r.outcome == "failed"}


def agents_answer(hosts: tuple[str, ...] = AGENT_HOSTS) -> bool:
    """Every agent answers /ping on its own host (a recreated agent takes a moment)."""
    ping = "curl -sk -o /dev/null -w '%{http_code}' --max-time 2 https://127.0.0.1:9001/ping || true"
    return all(docker("exec", machine(h).container, "sh", "-c", ping, check=False).strip() == "204" for h in hosts)


def wait_agents(limit: float = 60) -> bool:
    deadline = time.monotonic() + limit
    while not agents_answer():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


def not_green(results: dict[str, Result]) -> dict[str, str]:
    """Every test that did not pass, with the first line of why."""
    return {n: r.message.splitlines()[0] if r.message else r.outcome for n, r in results.items()
            if r.outcome != "passed"}


def deploy(phases: tuple[int, ...], proof: str) -> None:
    """`lab up`, then bootstrap each of `phases` (timed); fail unless the platform settles and the agents answer."""
    import pytest

    from lab import up as lab_up

    try:
        lab_up.up(log=lambda _: None)
    except LabError as exc:
        pytest.fail(f"lab up failed: {exc}", pytrace=False)
    for phase in phases:
        done = bootstrap(phase=phase)
        TIMINGS[f"bootstrap phase{phase} (before the {proof} proof)"] = done.seconds
        assert done.returncode == 0, f"bootstrap phase{phase} failed:\n{done.output[-3000:]}"
    states = wait_healthy()
    assert settled(states), f"platform containers did not settle after bootstrap: {states}"
    if 2 in phases:
        assert wait_agents(), "agents do not answer /ping after bootstrap phase 2"


def expect_caught(fault: Fault, results: dict[str, Result]) -> None:
    """Exactly the fault's specs failed (its `also` may), each naming a fix; a normal state (`skips`) failed none
    and skipped its specs with the reason."""
    name, caught = fault.name, failed(results)
    missing = sorted(set(fault.catches) - caught)
    extra = sorted(caught - set(fault.catches) - set(fault.also))
    assert not missing, f"{name} ({fault.what}) was not caught by " + "; ".join(
        f"{n} ({results[n].outcome if n in results else 'not run'})" for n in missing)
    assert not extra, f"{name} also failed unrelated specs: " + "; ".join(
        f"{n}: {results[n].message.splitlines()[0][:300]}" for n in extra)
    unnamed = [n for n in fault.catches if "fix:" not in results[n].message]
    assert not unnamed, f"{name}: these failures name no fix: {unnamed}"
    if fault.skips:
        should = [n for n in results if any(s in n for s in fault.skips) and n not in fault.skip_exempt]
        assert should, f"{name}: no test matches {fault.skips}"
        wrong = {n: f"{results[n].outcome} {results[n].message[:120]}" for n in should
                 if results[n].outcome != "skipped" or fault.skip_reason not in results[n].message}
        assert not wrong, f"{name}: these should skip with '{fault.skip_reason}': {wrong}"


def monitors_down(lab: Lab) -> dict[str, str]:
    """Planned monitors which Uptime Kuma does not show up (name -> state)."""
    try:
        answer = httpx.get(f"{connect.url(lab.inventory, 'uptime-kuma')}/metrics", timeout=10,
                           auth=connect.credentials("uptime-kuma", lab.secrets))
    except httpx.HTTPError as exc:
        return {"/metrics": str(exc)}
    states = parse_states(answer.text)
    return {m.name: states.get(m.name, "no state") for m in monitoring.monitors(lab.inventory)
            if states.get(m.name) != "up"}


def wait_monitors_up(lab: Lab) -> dict[str, str]:
    """Wait (bounded) until every planned monitor is up again; what is still down."""
    deadline = time.monotonic() + MONITORS_WAIT
    while (down := monitors_down(lab)) and time.monotonic() < deadline:
        time.sleep(3)
    return down
