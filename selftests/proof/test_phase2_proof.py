"""The proof of phase 2 on the lab: phases 1 and 2 applied, `pytest -m "phase1 or phase2"` green, a second
bootstrap has nothing to do; then each phase-2 fault (lab/faults/phase2.py) is caught by exactly its specs,
with a message naming the fix, and undone by `lab unbreak` plus bootstrap phase 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from proof import TIMINGS, bootstrap, deploy, expect_caught, not_green, specs, wait_agents

from lab import faults

pytestmark = pytest.mark.lab
MARKER = "phase1 or phase2"


@pytest.fixture(scope="module")
def deployed() -> faults.Lab:
    """Bootstrap phases 1 and 2 applied to the lab, its containers settled and its agents answering."""
    deploy((1, 2), "phase 2")
    return faults.Lab()


def test_specs_green_after_bootstrap(deployed: faults.Lab, tmp_path: Path) -> None:
    """After phases 1 and 2, every phase-1 and phase-2 spec passes against the lab."""
    done, results = specs(tmp_path / "junit.xml", marker=MARKER)
    TIMINGS["pytest -m 'phase1 or phase2'"] = done.seconds
    bad = not_green(results)
    assert not bad, f"specs not green after bootstrap: {bad}"
    assert sum(1 for n in results if "<-" in n or "agent" in n or "environment" in n) > 0, "no phase-2 spec ran"
    assert done.returncode == 0, done.output[-2000:]


def test_bootstrap_again_has_nothing_to_do(deployed: faults.Lab) -> None:
    """A second bootstrap phase 2 changes nothing and says so."""
    done = bootstrap(phase=2)
    TIMINGS["bootstrap phase2 (re-run)"] = done.seconds
    assert done.returncode == 0, done.output[-3000:]
    assert "nothing to do" in done.output, done.output[-3000:]


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.phase == 2 and not f.proof])
def test_fault_caught_by_its_specs(name: str, deployed: faults.Lab, tmp_path: Path) -> None:
    """Breaking one constraint fails exactly its specs, each naming a fix; undo and bootstrap restore it."""
    fault = faults.FAULTS[name]
    try:
        faults.break_(name, deployed)
        _, results = specs(tmp_path / "junit.xml", marker=MARKER)
    finally:
        faults.undo(name, deployed)
        restored = bootstrap(phase=2)
        wait_agents()
    assert restored.returncode == 0, f"bootstrap did not restore after {name}:\n{restored.output[-3000:]}"
    expect_caught(fault, results)


def test_specs_green_after_all_faults(deployed: faults.Lab, tmp_path: Path) -> None:
    """Once every fault is undone and bootstrap re-applied, the specs are all green again."""
    _, results = specs(tmp_path / "junit.xml", marker=MARKER)
    bad = not_green(results)
    assert not bad, f"left behind by the faults: {bad}"
