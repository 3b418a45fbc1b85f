"""The proof of exposure by every path, on the lab: phases 1 to 4 applied and the whole suite green; then each
exposure fault (lab/faults/exposure.py) opens one way in and is caught by exactly its specs, naming the path
and the fix; undone, and bootstrap repairs what it owns. Last, a homelab with one public name: that name
answers from the internet, and a private name sent under the public name's SNI does not, until its access
list is detached.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from proof import (
    INVENTORY,
    TIMINGS,
    bootstrap,
    deploy,
    expect_caught,
    failed,
    not_green,
    run,
    specs,
    wait_healthy,
    wait_monitors_up,
)

from bootstrap.__main__ import PHASES
from lab import faults
from lab.faults.exposure import PORTAINER
from lab.topology import LAB_DIR, REPO

pytestmark = pytest.mark.lab
APPLIED = tuple(p for p in (1, 2, 3, 4) if f"phase{p}" in PHASES)
PUBLIC_NAME = "status.home.example.com"  # Uptime Kuma's name, made public for the last test
PUBLIC_INVENTORY = LAB_DIR / "inventory-public.yaml"


@pytest.fixture(scope="module")
def deployed() -> faults.Lab:
    deploy(APPLIED, "exposure")
    return faults.Lab()


def test_green_from_every_path(deployed: faults.Lab, tmp_path: Path) -> None:
    """With every phase applied, the whole suite is green, the exposure specs among it."""
    done, results = specs(tmp_path / "junit.xml", marker="not static")
    TIMINGS["pytest, every phase and path"] = done.seconds
    assert not not_green(results), f"not green: {not_green(results)}"
    assert sum(1 for n in results if "<-" in n and "unplanned_answers" in n) >= 5, "no attacker's sweep ran"


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.proof == "exposure"])
def test_fault_caught_by_its_specs(name: str, deployed: faults.Lab, tmp_path: Path) -> None:
    """Each way in is caught by exactly its specs, each naming a fix; undo and bootstrap restore it."""
    fault = faults.FAULTS[name]
    try:
        faults.break_(name, deployed)
        if fault.restarts:
            wait_healthy()
        done, results = specs(tmp_path / "junit.xml", marker="not static")
        TIMINGS[f"pytest with {name}"] = done.seconds
    finally:
        faults.undo(name, deployed)
        restored = bootstrap(phase=fault.phase)
        if fault.restarts:
            wait_healthy()
        down = wait_monitors_up(deployed)  # a recreated service is back in Uptime Kuma before the next run
    assert restored.returncode == 0, f"bootstrap did not restore after {name}:\n{restored.output[-3000:]}"
    assert not down, f"after {name}, Uptime Kuma monitors not up again: {down}"
    expect_caught(fault, results)


def _public_inventory() -> Path:
    """The lab's inventory with Uptime Kuma's name public (its port 3001 stays LAN/VPN) and NPM's 80/443 public."""
    data = yaml.safe_load((REPO / INVENTORY).read_text())
    kuma = data["services"]["uptime-kuma"]
    kuma["exposure"], kuma["ports"] = "public", [{"port": 3001, "exposure": "vpn"}]
    data["services"]["npm"]["ports"] = [{"port": 80, "exposure": "public"}, {"port": 443, "exposure": "public"},
                                        {"port": 81}]
    PUBLIC_INVENTORY.write_text(yaml.safe_dump(data, sort_keys=False))
    return PUBLIC_INVENTORY


def _forward(lab: faults.Lab, action: str) -> None:
    public, platform = lab.inventory.public_address, lab.inventory.platform_host.address
    for port in (80, 443):
        for rule in (f"-t nat {action} PREROUTING -d {public} -p tcp --dport {port} -j DNAT "
                     f"--to-destination {platform}:{port}",
                     f"{action} FORWARD -d {platform} -p tcp --dport {port} -m conntrack --ctstate DNAT -j ACCEPT"):
            command = f"iptables {rule}"
            lab.sh("router", command if action == "-I" else f"while {command} 2>/dev/null; do :; done; true")


def test_private_name_not_reached_through_a_public_one(deployed: faults.Lab, tmp_path: Path) -> None:
    """With one public name forwarded to NPM, that name answers from the internet and the others do not, even
    as the Host under the public name's SNI; detaching a private name's access list is caught from the
    internet and the guest network alike."""
    inventory = _public_inventory()
    as_public = (f"--inventory={inventory}", "-m", "exposure")
    try:
        _forward(deployed, "-I")
        applied = run("-m", "bootstrap", "phase1", "--inventory", str(inventory))
        assert applied.returncode == 0, applied.output[-3000:]
        _, results = specs(tmp_path / "green.xml", *as_public, marker="exposure")
        wan = f"test_name_reached_only_where_allowed[{PUBLIC_NAME}<-wan]"
        assert results[wan].outcome == "passed", results[wan].message
        assert not failed(results), {n: results[n].message[:300] for n in failed(results)}
        with deployed.npm() as npm:
            host = npm.proxy_host_for(PORTAINER)
            assert host is not None
            npm.update_proxy_host(host.id, {"access_list_id": 0})
        _, results = specs(tmp_path / "open.xml", *as_public, marker="exposure")
    finally:
        _forward(deployed, "-D")
        restored = bootstrap(phase=1)
        PUBLIC_INVENTORY.unlink(missing_ok=True)
    assert restored.returncode == 0, restored.output[-3000:]
    caught = failed(results)
    expected = {f"test_name_reached_only_where_allowed[{PORTAINER}<-wan]",
                f"test_name_reached_only_where_allowed[{PORTAINER}<-guest]", f"test_name_has_access_list[{PORTAINER}]"}
    assert caught == expected, f"caught {sorted(caught)}; expected {sorted(expected)}"
    message = results[f"test_name_reached_only_where_allowed[{PORTAINER}<-wan]"].message
    assert "under SNI status.home.example.com" in message, message
    assert "the router forwards" in message, message


def test_green_again(deployed: faults.Lab, tmp_path: Path) -> None:
    """Every fault undone and bootstrap re-applied: the whole suite is green again."""
    _, results = specs(tmp_path / "junit.xml", marker="not static")
    assert not not_green(results), f"left behind by the faults: {not_green(results)}"
