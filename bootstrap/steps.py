"""The step runner every phase uses: announce, skip what is done, apply, and prove idempotence.

A step knows how to tell whether it is done (`check`) and how to do it (`apply`). A dry run only checks.
A second run of a phase changes nothing and says so; a failure names the step, the host and what to do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from homelab.redact import REDACTOR


class StepFailed(Exception):
    """A step could not be applied; the message says what to do."""


@dataclass(frozen=True)
class Step:
    name: str                    # what it does, as the operator reads it
    target: str                  # the host or service it acts on
    check: Callable[[], bool]    # True when already done
    apply: Callable[[], None]


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.changed:
            return f"nothing to do: all {len(self.unchanged)} steps already done"
        return f"{len(self.changed)} changed, {len(self.unchanged)} already done"


def run_steps(steps: list[Step], dry_run: bool, out: TextIO | None = None) -> Outcome:
    out = sys.stdout if out is None else out  # looked up now: bootstrap's masked stdout, not the one at import
    outcome = Outcome()
    for step in steps:
        label = f"{step.target}: {step.name}"
        try:
            done = step.check()
            if done:
                outcome.unchanged.append(label)
                print(REDACTOR(f"  ok       {label}"), file=out)
                continue
            if dry_run:
                outcome.changed.append(label)
                print(REDACTOR(f"  would    {label}"), file=out)
                continue
            print(REDACTOR(f"  applying {label}"), file=out, flush=True)
            step.apply()
            if not step.check():
                raise StepFailed("applied, but the check still fails")
            outcome.changed.append(label)
        except StepFailed as exc:
            raise StepFailed(REDACTOR(f"step '{step.name}' on {step.target} failed: {exc}")) from None
    return outcome
