"""Exposure by port, as an attacker sees it: a broad sweep from the runner (LAN) and every vantage.

From the internet only the public address can be addressed, so the `wan` vantage sweeps that; every other
source sweeps every host address. Ports 1-1024, the usual container ports (2375-2377, 3000-3001, 5000,
8000-8100, 8443, 9000-9100, 9443, 10000, 11434) and every port the inventory knows. Each spec belongs to the
phase of the host it is about (the public address: phase 1). The sweep runs in the run's background sweep.
"""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.exposure import ROUTER_FORWARDS_COMMAND, allowed, parse_forwards, public_ports, what_answers
from homelab.checks.exposure_matrix import MATRIX, Cell
from homelab.checks.reach import expect_reach, firewall_fix
from homelab.model.policy import exposure_of

pytestmark = pytest.mark.exposure


def _fix(inventory, surface, port: int) -> str:
    if surface.host is None:
        return (f"the router forwards {port}/tcp of the public address: remove that port forward (only ports "
                "with exposure public may be forwarded; a host's firewall cannot fix what the router forwards)")
    host = surface.host
    if exposure_of(inventory, host, port) is None:
        return (f"nothing is planned on {port}: stop what listens there on {host.name} (a container: "
                f"`docker ps --filter publish={port}`), or plan it in the inventory with its exposure")
    return f"it is planned, but not for this network: {firewall_fix(inventory, host, port)}"


@pytest.mark.spec("EXP-SCAN-001", severity="critical",
                  fix="close every port the inventory does not plan for this network (the message names each)")
@pytest.mark.each("surface")
def test_nothing_unplanned_answers(surface, inventory, reachability, on):
    """From each source, no port of the host (from the internet: of the public address) answers unless the
    inventory's policy allows that source to open it."""
    try:
        outcomes = reachability.surface_outcomes(surface, on)
    except (pytest.skip.Exception, pytest.fail.Exception):
        raise
    except Exception as exc:
        pytest.fail(f"could not observe: the sweep of {surface.target} from {surface.source.name} failed: {exc}",
                    pytrace=False)
    open_ports = sorted(p for p, o in outcomes.items() if o.answers)
    unexpected = [p for p in open_ports if not allowed(inventory, surface, p)]
    if surface.host is None:
        planned = public_ports(inventory)
    else:
        planned = {p.port for s, h in inventory.instances() if h == surface.host for p in s.ports
                   if p.protocol == "tcp"} | {surface.host.ssh.port}
    for port in sorted(planned | set(open_ports)):
        expected = allowed(inventory, surface, port)
        found = outcomes[port].value if port in outcomes else "not observed"
        MATRIX.record(Cell(surface.target, f"{port}/tcp", surface.source.name, "open" if expected else "closed",
                           found, port not in unexpected))
    if not unexpected:
        return
    answers = reachability.identify(surface, unexpected)
    address = reachability.surface_address(surface)
    findings = [f"{address}:{p}/tcp answers ({what_answers(answers.get(p))}): {_fix(inventory, surface, p)}"
                for p in unexpected]
    pytest.fail(problem(expected="only the ports the policy allows from here", found=f"{len(unexpected)} more answer",
                        where=f"{surface.target} from {surface.source.name} "
                        f"({surface.source.address or 'this machine'}, {surface.source.kind} network)",
                        fix="; ".join(findings)), pytrace=False)


@pytest.mark.spec("EXP-SSH-001", severity="critical",
                  fix="SSH is management: admit 22/tcp from the LAN and VPN only (ufw; on Unraid HOMELAB-INPUT)")
@pytest.mark.each("host", role=("agent", "edge"))
@pytest.mark.each("source")
def test_ssh_lan_and_vpn_only(host, source, reachability, on):
    """SSH on every agent and worker answers from the LAN and the VPN only (the platform VM: P1-NET-009)."""
    expect_reach(reachability, on, source, host, host.ssh.port, "SSH")


ROUTER_FIX = ("remove the port forward on the router (only ports with exposure public may be forwarded), or mark "
              "the port public in the inventory if it is meant for the internet")


@pytest.mark.phase1
@pytest.mark.spec("EXP-ROUTER-001", severity="critical", fix=ROUTER_FIX)
def test_router_forwards_only_public_ports(inventory, on):
    """The router forwards (DNAT) from the internet only the ports the inventory marks public: a forward
    whose host firewall still drops the internet is invisible from outside until that firewall slips."""
    router = inventory.router
    if router is None:
        pytest.skip("no SSH access to the router in the inventory (`router:`): its forwards are judged by the "
                    "WAN sweep alone")
    result = on(router).run(ROUTER_FORWARDS_COMMAND)
    try:
        forwards = parse_forwards(result.stdout)
    except ValueError as exc:
        pytest.fail(f"could not observe the router's forwards on {router.address}: {exc} "
                    f"({result.stderr.strip()[:200]})", pytrace=False)
    public = {proto: public_ports(inventory, proto) for proto in ("tcp", "udp")}
    stray = [str(f) for f in forwards if f.port not in public.get(f.protocol, set())]
    listed = ", ".join(f"{p}/{proto}" for proto, ports in public.items() for p in sorted(ports)) or "none"
    assert not stray, problem(expected=f"forwards of the public ports only ({listed})", found=", ".join(stray),
                              where=f"the router {router.address} (`{ROUTER_FORWARDS_COMMAND}`)", fix=ROUTER_FIX)
