"""The proof of phase 4 on the lab: phases 1 to 4 applied (3 where it has landed), every spec of those phases
green, a second bootstrap phase 4 has nothing to do; then each phase-4 fault (lab/faults/phase4.py) is caught by
exactly its specs (`pytest -m phase4`), with a message naming the fix, and undone by `lab unbreak` plus
bootstrap phase 4.

Uptime Kuma checks every settings.monitor_interval (the lab's: 20 s): after each restore the proof waits (bounded)
until every monitor is up again, so that a fault's aftermath is never taken for the next fault's catch.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from proof import MONITORS_WAIT, TIMINGS, bootstrap, deploy, expect_caught, not_green, specs, wait_monitors_up

from bootstrap.__main__ import PHASES
from lab import faults

pytestmark = pytest.mark.lab
APPLIED = [p for p in (1, 2, 3, 4) if f"phase{p}" in PHASES]
MARKER = " or ".join(f"phase{p}" for p in APPLIED)
FAULT_MARKER = "phase4"  # a fault is judged by the phase-4 specs alone (other phases' faults may be active)


@pytest.fixture(scope="module")
def deployed() -> faults.Lab:
    """Bootstrap phases 1 to 4 applied to the lab, its containers settled and every monitor up."""
    if "phase4" not in PHASES:
        pytest.skip("bootstrap phase 4 has not landed (`python -m bootstrap phase4` has no steps)")
    deploy(tuple(APPLIED), "phase 4")
    lab = faults.Lab()
    down = wait_monitors_up(lab)
    assert not down, f"Uptime Kuma monitors not up {MONITORS_WAIT:.0f} s after bootstrap: {down}"
    return lab


def test_specs_green_after_bootstrap(deployed: faults.Lab, tmp_path: Path) -> None:
    """After phases 1 to 4, every spec of those phases passes against the lab."""
    done, results = specs(tmp_path / "junit.xml", marker=MARKER)
    TIMINGS[f"pytest -m '{MARKER}'"] = done.seconds
    bad = not_green(results)
    assert not bad, f"specs not green after bootstrap: {bad}"
    assert any("monitor" in n for n in results), "no phase-4 spec ran"
    assert done.returncode == 0, done.output[-2000:]
    done, _ = specs(tmp_path / "junit4.xml", marker="phase4")
    TIMINGS["pytest -m phase4"] = done.seconds


def test_bootstrap_again_has_nothing_to_do(deployed: faults.Lab) -> None:
    """A second bootstrap phase 4 changes nothing and says so."""
    done = bootstrap(phase=4)
    TIMINGS["bootstrap phase4 (re-run)"] = done.seconds
    assert done.returncode == 0, done.output[-3000:]
    assert "nothing to do" in done.output, done.output[-3000:]


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.phase == 4 and not f.proof])
def test_fault_caught_by_its_specs(name: str, deployed: faults.Lab, tmp_path: Path) -> None:
    """Breaking one constraint fails exactly its specs, each naming a fix; undo and bootstrap restore it."""
    fault = faults.FAULTS[name]
    started = time.monotonic()
    try:
        faults.break_(name, deployed)
        _, results = specs(tmp_path / "junit.xml", marker=FAULT_MARKER)
    finally:
        faults.undo(name, deployed)
        restored = bootstrap(phase=4)
        down = wait_monitors_up(deployed)
        TIMINGS[f"fault {name} (break, specs, restore)"] = time.monotonic() - started
    assert restored.returncode == 0, f"bootstrap did not restore after {name}:\n{restored.output[-3000:]}"
    assert not down, f"after {name}, Uptime Kuma monitors not up again: {down}"
    expect_caught(fault, results)


def test_specs_green_after_all_faults(deployed: faults.Lab, tmp_path: Path) -> None:
    """Once every fault is undone and bootstrap re-applied, the specs are all green again."""
    _, results = specs(tmp_path / "junit.xml", marker=MARKER)
    bad = not_green(results)
    assert not bad, f"left behind by the faults: {bad}"
