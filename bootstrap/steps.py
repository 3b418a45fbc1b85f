"""The step runner every phase uses: announce, skip what is done, apply, and prove idempotence.

A step knows how to tell whether it is done (`check`) and how to do it (`apply`). A dry run only checks.
A second run of a phase changes nothing and says so; a failure names the step, the host and what to do.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TextIO

from homelab.model.redact import REDACTOR

SLOW = 2.0  # seconds: a step that took longer says how long when it is done (where a run spends its time)


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


@dataclass(frozen=True)
class Parallel:
    """Independent hosts at once: each group (one host's steps) runs in order in its own thread, the groups
    together. Each group's lines are printed together, in the groups' order, so the output reads per host."""

    groups: tuple[tuple[Step, ...], ...]


Plan = list[Step | Parallel]  # what a phase returns


def run_parallel(parallel: Parallel, dry_run: bool, out: TextIO) -> Outcome:
    groups = [list(group) for group in parallel.groups if group]
    buffers = [io.StringIO() for _ in groups]
    outcome = Outcome()
    if not groups:
        return outcome
    with ThreadPoolExecutor(max_workers=min(8, len(groups))) as pool:
        futures = [pool.submit(run_steps, group, dry_run, buffer)
                   for group, buffer in zip(groups, buffers, strict=True)]
        wait(futures)
    failure: StepFailed | None = None
    for future, buffer in zip(futures, buffers, strict=True):
        print(buffer.getvalue(), end="", file=out, flush=True)
        error = future.exception()
        if error is None:
            done = future.result()
            outcome.changed += done.changed
            outcome.unchanged += done.unchanged
        elif isinstance(error, StepFailed):
            failure = failure or error
        else:
            raise error
    if failure is not None:
        raise failure
    return outcome


def run_steps(steps: Sequence[Step | Parallel], dry_run: bool, out: TextIO | None = None) -> Outcome:
    out = sys.stdout if out is None else out  # looked up now: bootstrap's masked stdout, not the one at import
    outcome = Outcome()
    for step in steps:
        if isinstance(step, Parallel):
            together = run_parallel(step, dry_run, out)
            outcome.changed += together.changed
            outcome.unchanged += together.unchanged
            continue
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
            started = time.monotonic()
            step.apply()
            if not step.check():
                raise StepFailed("applied, but the check still fails")
            outcome.changed.append(label)
            if (took := time.monotonic() - started) >= SLOW:
                print(REDACTOR(f"  done     {label} in {took:.0f} s"), file=out, flush=True)
        except StepFailed as exc:
            raise StepFailed(REDACTOR(f"step '{step.name}' on {step.target} failed: {exc}")) from None
    return outcome
