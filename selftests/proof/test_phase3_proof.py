"""The proof of phase 3 on the lab: phases 1 to 3 applied, `pytest -m "phase1 or phase2 or phase3"` green, a second
bootstrap phase 3 has nothing to do; each phase-3 fault (lab/faults/phase3.py) is caught by exactly its specs;
the two normal states of a GPU worker (switched off, gaming mode) skip its specs with the reason, never fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from proof import TIMINGS, bootstrap, deploy, expect_caught, not_green, specs

from lab import faults

pytestmark = pytest.mark.lab
MARKER = "phase1 or phase2 or phase3"


@pytest.fixture(scope="module")
def deployed() -> faults.Lab:
    """Bootstrap phases 1 to 3 applied to the lab, its containers settled and its agents answering."""
    deploy((1, 2, 3), "phase 3")
    return faults.Lab()


def test_specs_green_after_bootstrap(deployed: faults.Lab, tmp_path: Path) -> None:
    """After phases 1 to 3, every spec of those phases passes against the lab."""
    done, results = specs(tmp_path / "junit.xml", marker=MARKER)
    TIMINGS["pytest -m 'phase1 or phase2 or phase3'"] = done.seconds
    bad = not_green(results)
    assert not bad, f"specs not green after bootstrap: {bad}"


def test_bootstrap_again_has_nothing_to_do(deployed: faults.Lab) -> None:
    """A second bootstrap phase 3 changes nothing and says so."""
    done = bootstrap(phase=3)
    TIMINGS["bootstrap phase3 (re-run)"] = done.seconds
    assert done.returncode == 0, done.output[-3000:]
    assert "nothing to do" in done.output, done.output[-3000:]


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.phase == 3 and not f.proof])
def test_fault_caught_by_its_specs(name: str, deployed: faults.Lab, tmp_path: Path) -> None:
    """A fault fails exactly its specs, each naming a fix; a normal state (off, gaming) fails none and skips its
    specs with the reason. Undo and bootstrap restore it."""
    fault = faults.FAULTS[name]
    try:
        faults.break_(name, deployed)
        _, results = specs(tmp_path / "junit.xml", marker=MARKER)
    finally:
        faults.undo(name, deployed)
        restored = bootstrap(phase=3)
    assert restored.returncode == 0, f"bootstrap did not restore after {name}:\n{restored.output[-3000:]}"
    expect_caught(fault, results)


def test_specs_green_after_all_faults(deployed: faults.Lab, tmp_path: Path) -> None:
    """Once every fault is undone and bootstrap re-applied, the specs are all green again."""
    _, results = specs(tmp_path / "junit.xml", marker=MARKER)
    bad = not_green(results)
    assert not bad, f"left behind by the faults: {bad}"
