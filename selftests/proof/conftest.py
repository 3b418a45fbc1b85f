"""The phase-1 proof: bootstrap the lab, show the specs pass, then break each constraint and show it caught."""

from __future__ import annotations

import pytest
from proof import TIMINGS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        terminalreporter.section("phase proofs: measured")
        for what, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{what:<40} {seconds:6.1f} s")
