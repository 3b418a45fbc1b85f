"""The results of one compliance run: its checks, exit code, `results.json`, history and drift.

Every spec run writes `results.json` and a copy in `history/`; "since the last run" compares the run with the
newest earlier run of the same inventory there: new failures, fixed, still failing.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from homelab.model.redact import REDACTOR

SCHEMA = 1
RESULTS = ("passed", "failed", "waived", "skipped")
SEVERITIES = ("critical", "high", "medium", "low")
HISTORY_KEEP = 400  # runs kept in history/: more than a year of nightly runs


class Exit(IntEnum):
    """The exit codes of a spec run. pytest's own (2 interrupted, 3 internal error, 4 usage error such as a
    broken inventory or waivers file, 5 nothing collected) pass through unchanged."""

    PASSED = 0  # every selected check passed
    FAILED = 1  # a check failed (a failure that is neither waived nor an unreachable host)
    UNREACHABLE = 6  # no check failed, but an always-on host did not answer: its checks did not run
    EXCEPTIONS = 7  # no check failed, but some were waived or skipped (an on-demand host off, say)


MEANING: dict[int, str] = {
    Exit.PASSED: "all checks passed",
    Exit.FAILED: "checks failed",
    Exit.UNREACHABLE: "a host is unreachable",
    Exit.EXCEPTIONS: "passed, with waived or skipped checks",
    2: "interrupted", 3: "internal error", 4: "usage error", 5: "no checks collected",
}


@dataclass(frozen=True)
class Check:
    """One check: a spec against one target, and how it ended."""

    nodeid: str
    spec_id: str
    requirement: str
    target: str
    phase: str
    severity: str
    result: str  # one of RESULTS
    detail: str = ""  # the failure, the skip reason or the waiver
    remediation: str = ""
    duration_s: float = 0.0

    @property
    def key(self) -> str:
        """What identifies the check from run to run: the spec id and target (the node id without a spec)."""
        return f"{self.spec_id}[{self.target}]" if self.spec_id else self.nodeid


@dataclass
class Run:
    inventory: str
    inventory_file: str
    revision: str
    started: str  # ISO 8601, UTC
    selection: str  # the marker expression, or "all"
    duration_s: float = 0.0
    exit_code: int = 0
    checks: list[Check] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # always-on host -> the check that failed on it
    off: list[str] = field(default_factory=list)  # on-demand hosts found off
    waivers: list[dict[str, Any]] = field(default_factory=list)  # as in the file, with `status`
    # the exposure matrix's cells (homelab.checks.exposure_matrix.Cell as dicts); absent in runs recorded before it
    exposure: list[dict[str, Any]] = field(default_factory=list)
    risks: list[dict[str, Any]] = field(default_factory=list)  # homelab.report.risks.Risk as dicts: accepted, standing

    @property
    def meaning(self) -> str:
        return MEANING.get(self.exit_code, f"exit {self.exit_code}")

    def count(self, **match: str) -> Counter[str]:
        """Results counted over the checks whose fields equal `match` (say phase="phase1")."""
        return Counter(c.result for c in self.checks if all(getattr(c, k) == v for k, v in match.items()))

    def phases(self) -> list[str]:
        return sorted({c.phase for c in self.checks})

    def severities(self) -> list[str]:
        found = {c.severity for c in self.checks}
        return [s for s in SEVERITIES if s in found] + sorted(found - set(SEVERITIES))

    def skip_reasons(self) -> Counter[str]:
        return Counter(c.detail for c in self.checks if c.result == "skipped")

    def exit_for(self) -> Exit:
        """Failures first, then unreachable hosts, then exceptions (waived, skipped), else passed."""
        host_failures = set(self.unreachable.values())
        if any(c.result == "failed" and c.nodeid not in host_failures for c in self.checks):
            return Exit.FAILED
        if self.unreachable:
            return Exit.UNREACHABLE
        if any(c.result in ("waived", "skipped") for c in self.checks):
            return Exit.EXCEPTIONS
        return Exit.PASSED

    def to_json(self) -> str:
        return REDACTOR(json.dumps({"schema": SCHEMA, **asdict(self)}, indent=1, ensure_ascii=False)) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Run:
        data = json.loads(text)
        data.pop("schema", None)
        data["checks"] = [Check(**c) for c in data.get("checks", [])]
        return cls(**data)


@dataclass(frozen=True)
class Drift:
    """What changed since the previous run (None: there is no previous run in the history)."""

    previous: Run | None
    new_failures: list[Check]
    fixed: list[Check]
    still_failing: list[Check]


def drift(previous: Run | None, current: Run) -> Drift:
    if previous is None:
        return Drift(None, [], [], [])
    before = {c.key: c for c in previous.checks}
    was_failing = {k for k, c in before.items() if c.result == "failed"}
    return Drift(
        previous,
        new_failures=[c for c in current.checks if c.result == "failed" and c.key not in was_failing],
        fixed=[c for c in current.checks if c.result == "passed" and c.key in was_failing],
        still_failing=[c for c in current.checks if c.result == "failed" and c.key in was_failing],
    )


class History:
    """`DIR/history/<UTC time>.json`, one file per run, the newest last by name."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory / "history"

    def runs(self) -> list[Path]:
        return sorted(self.directory.glob("*.json"))

    def previous(self, inventory: str) -> Run | None:
        """The newest recorded run of `inventory`; unreadable files (a run cut short) are passed over."""
        for path in reversed(self.runs()):
            try:
                run = Run.from_json(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, TypeError):
                continue
            if run.inventory == inventory:
                return run
        return None

    def record(self, run: Run) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / datetime.datetime.fromisoformat(run.started).strftime("%Y%m%dT%H%M%S.%fZ.json")
        path.write_text(run.to_json(), encoding="utf-8")
        for old in self.runs()[:-HISTORY_KEEP]:
            old.unlink()
        return path
