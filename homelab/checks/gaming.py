"""The gaming toggle's record on a GPU worker, and whether it holds: while /opt/homelab/gaming-mode exists, the
worker is someone's gaming PC first, and its GPU stack must be stopped (the GPU is free for games).

`python -m bootstrap.gaming on|off HOST` writes and removes the record; bootstrap phase 3 leaves the GPU stack
alone while it exists. The file holds when and by whom gaming mode was switched on, for the report.

`read` is the one place that reads it, for the specs, the phase 4 views and bootstrap alike: the record, and
which of the GPU stack's containers run. A GPU spec skips with "gaming mode" only when both agree (recorded,
and nothing of the stack runs); a record with the stack running is a failure of its own (P3-GAMING-001); a
read that fails is "could not observe", never a skip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from homelab.transport.ssh import CommandResult

MARKER = "/opt/homelab/gaming-mode"
STACK = "gpu-worker"
SKIP_REASON = "gaming mode"
PROJECT_LABEL = "com.docker.compose.project"
# The record, and (only while it exists) every running or paused container with its compose project.
COMMAND = (f"if [ -e {MARKER} ]; then echo '@@ marker'; cat {MARKER} || exit 3; echo '@@ running'; "
           f"docker ps --format '{{{{.Names}}}}\t{{{{.Label \"{PROJECT_LABEL}\"}}}}' || exit 4; "
           "else echo '@@ no marker'; fi")


class GamingUnknown(Exception):
    """The record, or the GPU stack's state, could not be read: the caller could not observe."""


@functools.cache
def stack_containers() -> frozenset[str]:
    """The container names of the GPU stack's services (stacks/gpu-worker/compose.yaml)."""
    from homelab.model.compose import load_stack

    services = load_stack(STACK).services.values()
    return frozenset(s.container_name or s.name for s in services)


@dataclass(frozen=True)
class GamingState:
    """`record`: the marker's text (None: not in gaming mode); `running`: the GPU stack's containers that run."""

    record: str | None
    running: tuple[str, ...] = ()

    @property
    def on(self) -> bool:
        return self.record is not None

    @property
    def note(self) -> str:
        return self.record or "no note"

    @property
    def skip_reason(self) -> str | None:
        """Why a GPU spec may skip: gaming mode recorded and the GPU stack verifiably stopped. None otherwise."""
        if not self.on or self.running:
            return None
        return (f"{SKIP_REASON} ({self.note}): the GPU stack is stopped on purpose; "
                "`python -m bootstrap.gaming off HOST`")

    @property
    def conflict(self) -> str | None:
        """The failure of a record that does not hold: gaming mode recorded, the GPU stack running."""
        if not self.on or not self.running:
            return None
        return f"gaming mode recorded, but {' and '.join(self.running)} {'is' if len(self.running) == 1 else 'are'} " \
               f"running ({MARKER}: {self.note})"

    def describe(self) -> str:
        """One line for `python -m bootstrap.gaming status` and bootstrap's plan."""
        if not self.on:
            return "not in gaming mode"
        return self.conflict or f"{SKIP_REASON} ({self.note}); the {STACK} stack is stopped"


def parse(result: CommandResult) -> GamingState:
    """What COMMAND printed; GamingUnknown when the read failed or printed something else."""
    if not result.ok:
        why = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise GamingUnknown(f"reading {MARKER} and the {STACK} containers exited {result.exit_status}: {why}")
    text = result.stdout
    if text.strip() == "@@ no marker":
        return GamingState(None)
    head, sep, ps = text.partition("@@ running\n")
    if not text.startswith("@@ marker\n") or not sep:
        raise GamingUnknown(f"unexpected output reading {MARKER}: {text.strip()[:120]!r}")
    record = head.removeprefix("@@ marker\n").strip()
    names = stack_containers()
    running = []
    for line in ps.splitlines():
        name, _, project = line.partition("\t")
        if name.strip() and (name.strip() in names or project.strip() == STACK):
            running.append(name.strip())
    return GamingState(record, tuple(sorted(running)))


def read(run: Callable[[str], CommandResult]) -> GamingState:
    """The worker's gaming state, through `run` (a shell command on the worker -> its result). Raises
    GamingUnknown when it cannot be read (and SSH errors as `run` raises them)."""
    return parse(run(COMMAND))
