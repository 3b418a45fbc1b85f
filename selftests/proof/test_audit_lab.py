"""The audit trail on the lab (issue #8): a run with one injected fault and a waiver for another gives the right
exit code, summary, rows, history entry, "since the last run" section and metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from proof import INVENTORY, bootstrap, deploy, run, wait_agents

from lab import faults

pytestmark = pytest.mark.lab
MARKER = "phase1 or phase2"
WAIVED = ("P2-AGENT-005", "portainer-agent@pve-docker-2")
FAILING = ("P2-PT-002", "unraid")
# The second port is also an unplanned published port and listener on its host (the exposure specs): waived too.
ALSO_WAIVED = (("EXP-CTR-002", "pve-docker-2"), ("EXP-LISTEN-001", "pve-docker-2"))
WAIVERS = "waivers:\n" + "".join(f"""  - spec: {spec}
    host: {host}
    justification: the old Portainer reaches this agent on 9002 until it is retired
    expires: 2099-01-31
    approved_by: the lab's selftest
""" for spec, host in (WAIVED, *ALSO_WAIVED))


def compliance_run(reports: Path, waivers: Path) -> int:
    return run("-m", "pytest", "-m", MARKER, f"--inventory={INVENTORY}", f"--report-dir={reports}",
               f"--waivers={waivers}", "-p", "no:cacheprovider", "-q").returncode


def result(checks: list[dict[str, str]], spec: str, target: str) -> str:
    return next(c["result"] for c in checks if c["spec_id"] == spec and c["target"] == target)


def test_fault_and_waiver_in_the_audit_trail(tmp_path: Path) -> None:
    deploy((1, 2), "audit")
    lab = faults.Lab()
    reports, waivers = tmp_path / "reports", tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS)
    assert compliance_run(reports, waivers) == 0, "the lab is not green before the faults"
    try:
        faults.break_("endpoint-wrong-tag", lab)
        faults.break_("agent-second-port", lab)
        code = compliance_run(reports, waivers)
    finally:
        faults.undo("endpoint-wrong-tag", lab)
        faults.undo("agent-second-port", lab)
        bootstrap(phase=2)
        wait_agents()
    assert code == 1, "a failure that is not waived must fail the run"
    latest = json.loads((reports / "results.json").read_text())
    assert result(latest["checks"], *FAILING) == "failed"
    assert result(latest["checks"], *WAIVED) == "waived"
    for spec, host in ALSO_WAIVED:
        assert result(latest["checks"], spec, host) == "waived", (spec, host)
    assert len(list((reports / "history").glob("*.json"))) == 2
    html = (reports / "report.html").read_text()
    assert re.search(r"New failures \(1\)", html), "the drift section does not show the new failure"
    assert FAILING[0] in html
    assert "the old Portainer reaches this agent on 9002" in html
    prom = (reports / "compliance.prom").read_text()
    assert re.search(r'phase="phase2",severity="high",result="waived"\} 3\b', prom), prom[:2000]
    assert re.search(r'phase="phase2",severity="medium",result="failed"\} 1\b', prom), prom[:2000]
