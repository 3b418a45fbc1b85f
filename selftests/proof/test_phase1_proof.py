"""The proof of phase 1 on the lab: bootstrap, all specs green, a second bootstrap has nothing to do; then each
named fault (lab/faults/phase1.py) is caught by exactly its specs, with a message naming the fix, and undone.

Needs the lab (`make lab`) and bootstrap phase 1; until bootstrap lands, these tests skip saying so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from proof import NOT_LANDED, TIMINGS, bootstrap, failed, settled, specs, wait_healthy

from lab import faults
from lab import up as lab_up
from lab.docker import LabError

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab() -> faults.Lab:
    try:
        lab_up.up(log=lambda _: None)
    except LabError as exc:
        pytest.fail(f"lab up failed: {exc}", pytrace=False)
    plan = bootstrap("--dry-run")
    if plan.returncode != 0 and NOT_LANDED in plan.output:
        pytest.skip(f"bootstrap phase 1 has not landed yet (`python -m bootstrap phase1` says: {NOT_LANDED})")
    return faults.Lab()


@pytest.fixture(scope="module")
def deployed(lab: faults.Lab) -> faults.Lab:
    """Bootstrap phase 1 applied to the lab, its containers settled."""
    done = bootstrap()
    TIMINGS["bootstrap phase1 (first run)"] = done.seconds
    assert done.returncode == 0, f"bootstrap phase1 failed:\n{done.output[-3000:]}"
    states = wait_healthy()
    assert settled(states), f"platform containers did not settle after bootstrap: {states}"
    return faults.Lab()


def test_specs_green_after_bootstrap(deployed: faults.Lab, tmp_path: Path) -> None:
    """After bootstrap, every phase-1 spec passes against the lab."""
    done, results = specs(tmp_path / "junit.xml")
    TIMINGS["pytest -m phase1"] = done.seconds
    bad = {n: r.message.splitlines()[0] for n, r in results.items() if r.outcome != "passed"}
    assert not bad, f"specs not green after bootstrap: {bad}"
    assert done.returncode == 0, done.output[-2000:]


def test_bootstrap_again_has_nothing_to_do(deployed: faults.Lab) -> None:
    """A second bootstrap run changes nothing and says so."""
    done = bootstrap()
    TIMINGS["bootstrap phase1 (re-run)"] = done.seconds
    assert done.returncode == 0, done.output[-3000:]
    assert "nothing to do" in done.output, done.output[-3000:]


@pytest.mark.parametrize("name", [f.name for f in faults.FAULTS.values() if f.phase == 1])
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
    caught = failed(results)
    missing = sorted(set(fault.catches) - caught)
    extra = sorted(caught - set(fault.catches) - set(fault.also))
    assert not missing, f"{name} ({fault.what}) was not caught by " + "; ".join(
        f"{n} ({results[n].outcome if n in results else 'not run'})" for n in missing)
    assert not extra, f"{name} also failed unrelated specs: " + "; ".join(
        f"{n}: {results[n].message.splitlines()[0][:300]}" for n in extra)
    unnamed = [n for n in fault.catches if "fix:" not in results[n].message]
    assert not unnamed, f"{name}: these failures name no fix: {unnamed}"


def test_specs_green_after_all_faults(deployed: faults.Lab, tmp_path: Path) -> None:
    """Once every fault is undone and bootstrap re-applied, the specs are all green again."""
    _, results = specs(tmp_path / "junit.xml")
    bad = {n: r.message.splitlines()[0] for n, r in results.items() if r.outcome != "passed"}
    assert not bad, f"left behind by the faults: {bad}"
