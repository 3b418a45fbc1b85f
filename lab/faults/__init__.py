"""Named, reversible faults that break one constraint in the lab: `break_(name)`, `undo(name)` (`lab break`).

Each phase's faults live in their own module; `Fault.catches` names the specs that must catch one, and
`Fault.phase` the bootstrap phase whose re-run restores what `undo` leaves.
"""

from __future__ import annotations

from lab.docker import LabError
from lab.faults import exposure, gitops, hardening, phase1, phase2, phase3, phase4
from lab.faults.base import Fault, Lab

FAULTS = {f.name: f for f in (*phase1.FAULTS, *phase2.FAULTS, *phase3.FAULTS, *phase4.FAULTS,
                                *exposure.FAULTS, *hardening.FAULTS, *gitops.FAULTS)}

__all__ = ["FAULTS", "Fault", "Lab", "break_", "fault", "undo"]


def fault(name: str) -> Fault:
    if name not in FAULTS:
        raise LabError(f"unknown fault {name!r}; expected one of {', '.join(FAULTS)}")
    return FAULTS[name]


def break_(name: str, lab: Lab | None = None) -> Fault:
    """Break the lab as fault `name` says; returns the fault (what must catch it)."""
    found = fault(name)
    found.apply(lab or Lab())
    return found


def undo(name: str, lab: Lab | None = None) -> Fault:
    """Undo what `break_(name)` did, as far as it can alone; re-apply bootstrap (`Fault.phase`) for the rest."""
    found = fault(name)
    found.revert(lab or Lab())
    return found
