"""The proof of phase 3 on the lab: phases 1 to 3 applied, `pytest -m "phase1 or phase2 or phase3"` green, a second
bootstrap phase 3 has nothing to do; each phase-3 fault (lab/faults/phase3.py) is caught by exactly its specs;
the two normal states of a GPU worker (switched off, gaming mode) skip its specs with the reason, never fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from proof import TIMINGS, bootstrap, failed, settled, specs, wait_agents, wait_healthy

from lab import faults
from lab import up as lab_up
from lab.docker import LabError

pytestmark = pytest.mark.lab
MARKER = "phase1 or phase2 or phase3"


@pytest.fixture(scope="module")
def deployed() -> faults.Lab:
    """Bootstrap phases 1 to 3 applied to the lab, its containers settled and its agents answering."""
    try:
        lab_up.up(log=lambda _: None)
    except LabError as exc:
        pytest.fail(f"lab up failed: {exc}", pytrace=False)
    for phase in (1, 2, 3):
        done = bootstrap(phase=phase)
        TIMINGS[f"bootstrap phase{phase} (before the phase 3 proof)"] = done.seconds
        assert done.returncode == 0, f"bootstrap phase{phase} failed:\n{done.output[-3000:]}"
    assert settled(wait_healthy()), "platform containers did not settle"
    assert wait_agents(), "agents do not answer /ping"
    return faults.Lab()


def test_specs_green_after_bootstrap(deployed: faults.Lab, tmp_path: Path) -> None:
    """After phases 1 to 3, every spec of those phases passes against the lab."""
    done, results = specs(tmp_path / "junit.xml", marker=MARKER)
    TIMINGS["pytest -m 'phase1 or phase2 or phase3'"] = done.seconds
    bad = {n: r.message.splitlines()[0] for n, r in results.items() if r.outcome != "passed"}
    assert not bad, f"specs not green after bootstrap: {bad}"


def test_bootstrap_again_has_nothing_to_do(deployed: faults.Lab) -> None:
    """A second bootstrap phase 3 changes nothing and says so."""
    done = bootstrap(phase=3)
    TIMINGS["bootstrap phase3 (re-run)"] = done.seconds
    assert done.returncode == 0, done.output[-3000:]
    assert "nothing to do" in done.output, done.output[-3000:]


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.phase == 3])
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
    caught = failed(results)
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


def test_specs_green_after_all_faults(deployed: faults.Lab, tmp_path: Path) -> None:
    """Once every fault is undone and bootstrap re-applied, the specs are all green again."""
    _, results = specs(tmp_path / "junit.xml", marker=MARKER)
    bad = {n: r.message.splitlines()[0] for n, r in results.items() if r.outcome != "passed"}
    assert not bad, f"left behind by the faults: {bad}"
