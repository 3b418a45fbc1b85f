"""The proof of phase 1 on the lab: bootstrap, all specs green, a second bootstrap has nothing to do; then each
named fault (lab/faults/phase1.py) is caught by exactly its specs, with a message naming the fix, and undone.

Needs the lab (`make lab`) and bootstrap phase 1; until bootstrap lands, these tests skip saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from proof import TIMINGS, bootstrap, deploy, expect_caught, not_green, specs, wait_healthy

from lab import faults

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def deployed() -> faults.Lab:
    """Bootstrap phase 1 applied to the lab, its containers settled."""
    deploy((1,), "phase 1")
    return faults.Lab()


def test_specs_green_after_bootstrap(deployed: faults.Lab, tmp_path: Path) -> None:
    """After bootstrap, every phase-1 spec passes against the lab."""
    done, results = specs(tmp_path / "junit.xml")
    TIMINGS["pytest -m phase1"] = done.seconds
    bad = not_green(results)
    assert not bad, f"specs not green after bootstrap: {bad}"
    assert done.returncode == 0, done.output[-2000:]


def test_bootstrap_again_has_nothing_to_do(deployed: faults.Lab) -> None:
    """A second bootstrap run changes nothing and says so."""
    done = bootstrap()
    TIMINGS["bootstrap phase1 (re-run)"] = done.seconds
    assert done.returncode == 0, done.output[-3000:]
    assert "nothing to do" in done.output, done.output[-3000:]


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.phase == 1 and not f.proof])
def test_fault_caught_by_its_specs(name: str, deployed: faults.Lab, tmp_path: Path) -> None:
    """Breaking one constraint fails exactly its specs, each naming a fix; undo and bootstrap restore it."""
    fault = faults.FAULTS[name]
    try:
        faults.break_(name, deployed)
        if fault.restarts:
            wait_healthy()
        _, results = specs(tmp_path / "junit.xml")
    finally:
        faults.undo(name, deployed)
        restored = bootstrap()
        wait_healthy()
    assert restored.returncode == 0, f"bootstrap did not restore after {name}:\n{restored.output[-3000:]}"
    expect_caught(fault, results)


def test_specs_green_after_all_faults(deployed: faults.Lab, tmp_path: Path) -> None:
    """Once every fault is undone and bootstrap re-applied, the specs are all green again."""
    _, results = specs(tmp_path / "junit.xml")
    bad = not_green(results)
    assert not bad, f"left behind by the faults: {bad}"
