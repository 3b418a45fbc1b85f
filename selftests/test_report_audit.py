"""The audit files of a spec run (report.html, results.json and history/, compliance.prom) and its exit codes,
from pytester runs of a mini homelab whose faults each test switches on."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from spec_project import AUDIT_SPECS, PLANTED, REACH_SPEC, make_project, outcome, results, set_faults, write_waivers

from homelab.model.paths import REPO

WAIVER = """\
waivers:
  - spec: P1-A-002
    host: platform
    justification: ufw breaks the NFS mounts until the storage VLAN lands (ticket 42)
    expires: 2099-09-30
    approved_by: Jane Auditor
"""


class Tables(HTMLParser):
    """The text of every cell of every table, by the table's id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or f"table-{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def report(project: pytest.Pytester) -> str:
    return (project.path / "reports" / "report.html").read_text()


def section(html: str, name: str) -> str:
    found = re.search(f'<section id="{name}">(.*?)</section>', html, re.S)
    assert found, f"report.html has no section {name}"
    return found.group(1)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    return make_project(pytester, {"test_audit.py": AUDIT_SPECS})


@pytest.fixture
def faulty_run(project: pytest.Pytester) -> pytest.RunResult:
    """A run with an injected fault (port 9000 on Portainer), a waived one (the firewall) and a host off."""
    write_waivers(project, WAIVER)
    set_faults(project, "port-portainer", "firewall", "edge-off")
    return project.runpytest("tests")


# -- the summary and the rows -------------------------------------------------------------------------------
def test_summary_counts_by_phase_and_severity(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """The summary counts passed, failed, waived and skipped checks per phase and per severity."""
    tables = Tables(report(project)).tables
    assert tables["by-phase"] == [
        ["Phase", "Passed", "Failed", "Waived", "Skipped", "Total"],
        ["Phase 1", "2", "1", "1", "0", "4"],
        ["Phase 2", "0", "0", "0", "1", "1"],
        ["All", "2", "1", "1", "1", "5"],
    ]
    assert tables["by-severity"][1:] == [
        ["critical", "1", "1", "0", "0", "2"],
        ["high", "0", "0", "1", "0", "1"],
        ["medium", "0", "0", "0", "1", "1"],
        ["low", "1", "0", "0", "0", "1"],
        ["All", "2", "1", "1", "1", "5"],
    ]


def test_header_names_inventory_revision_date_and_selection(project: pytest.Pytester) -> None:
    """The report says which inventory, git revision, date and phases it is about, and the verdict."""
    project.runpytest("tests", "-m", "phase1")
    html = report(project)
    assert "<h1>Homelab compliance report: mini</h1>" in html
    for fact in ("<dt>Inventory</dt><dd>mini (", "<dt>Git revision</dt><dd>", "<dt>Date</dt><dd>20",
                 "<dt>Phases selected</dt><dd>phase1</dd>", "<dt>Exit code</dt><dd>0 (all checks passed)</dd>"):
        assert fact in html
    assert 'id="verdict">PASSED: all checks passed' in html


def test_skips_and_hosts_off_are_explained(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """Skipped checks are counted by reason; a host found off is named."""
    summary = section(report(project), "summary")
    assert "<b>gaming-pc-1</b> is off (on demand)" in summary
    assert "on-demand host is off: gaming-pc-1" in summary
    assert ": 1 check</li>" in summary


def test_failed_row_has_remediation_and_what_failed(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """A failed check's row gives id, requirement, target, severity, result, the fix and the failure."""
    rows = Tables(report(project)).tables["checks-table"]
    assert rows[0] == ["ID", "Requirement", "Host or service", "Phase", "Severity", "Result", "Remediation, reason"]
    failed = [r for r in rows if r[5] == "failed"]
    assert len(failed) == 1
    spec, requirement, target, phase, severity, _, notes = failed[0]
    assert (spec, target, phase, severity) == ("P1-A-001", "portainer@platform", "Phase 1", "critical")
    assert requirement == "Portainer's plain-HTTP port 9000 answers from nowhere."
    assert notes.startswith("Fix: close port 9000 in stacks/platform/compose.yaml What failed portainer@platform: "
                            "port 9000 answers (token ********); expected closed")


def test_waived_row_shows_justification(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """A waived check reads as waived, with the justification, the approver and the expiry; the waiver is listed."""
    rows = Tables(report(project)).tables["checks-table"]
    waived = [r for r in rows if r[5] == "waived"]
    assert [r[0] for r in waived] == ["P1-A-002"]
    assert waived[0][6].startswith("waived: ufw breaks the NFS mounts until the storage VLAN lands (ticket 42) "
                                   "(approved by Jane Auditor, until 2099-09-30)")
    assert "applied to 1 check" in section(report(project), "waivers")


# -- exit codes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("faults", "args", "code"), [
    ((), ("-m", "phase1"), 0),
    (("timezone",), ("-m", "phase1"), 1),
    (("edge-off",), (), 7),
    (("firewall",), ("-m", "phase1"), 7),
    (("timezone",), ("-m", "phase1", "--no-reports"), 1),
    (("edge-off",), ("--no-reports",), 7),
])
def test_exit_codes(project: pytest.Pytester, faults: tuple[str, ...], args: tuple[str, ...], code: int) -> None:
    """0 all passed, 1 failures, 7 only waived or skipped; with or without report files."""
    write_waivers(project, WAIVER)
    set_faults(project, *faults)
    result = project.runpytest("tests", *args)
    assert result.ret == code
    result.stdout.fnmatch_lines([f"exit {code}: *"])


def test_unreachable_host_exits_6(pytester: pytest.Pytester) -> None:
    """An always-on host that does not answer: exit 6 when nothing else failed, 1 when something did."""
    project = make_project(pytester, {"test_audit.py": AUDIT_SPECS, "test_reach.py": REACH_SPEC})
    result = project.runpytest("tests", "-m", "phase1")
    assert result.ret == 6
    result.stdout.fnmatch_lines(["exit 6: a host is unreachable",
                                 "unreachable: platform (see *test_ssh[[]platform[]])"])
    assert results(project)["unreachable"] == {"platform": "tests/test_reach.py::test_ssh[platform]"}
    assert "<b>platform</b> is unreachable" in section(report(project), "summary")
    set_faults(project, "timezone")
    assert project.runpytest("tests", "-m", "phase1").ret == 1


def test_usage_error_is_kept_and_writes_nothing(project: pytest.Pytester) -> None:
    """A broken inventory is still pytest's usage error (4), and a run that never ran writes no report."""
    inventory = project.path / "inventory.yaml"
    inventory.write_text(inventory.read_text().replace("address: 127.0.0.2", "address: 127.0.0.300"))
    assert project.runpytest("tests").ret == pytest.ExitCode.USAGE_ERROR
    assert not (project.path / "reports").exists()


# -- results.json, history, drift ---------------------------------------------------------------------------------
def test_each_run_is_kept_and_compared_with_the_last(project: pytest.Pytester) -> None:
    """results.json of each run lands in history/; the next report says what is new, fixed and still failing."""
    set_faults(project, "port-portainer", "firewall")
    assert project.runpytest("tests", "-m", "phase1").ret == 1
    assert "first recorded run of this inventory" in section(report(project), "drift")
    set_faults(project, "firewall", "timezone")
    assert project.runpytest("tests", "-m", "phase1").ret == 1
    assert len(list((project.path / "reports" / "history").glob("*.json"))) == 2
    drift = section(report(project), "drift")
    new, fixed, still = re.split(r"<h3 [^>]*>(?:Fixed|Still failing) \(\d\)</h3>", drift.split("New failures")[1])
    assert "P1-A-003</b> platform" in new
    assert "P1-A-002" not in new
    assert "P1-A-001</b> portainer@platform" in fixed
    assert "P1-A-002</b> platform" in still
    assert "P1-A-003" not in still
    assert outcome(project, "P1-A-001", "portainer@platform")["result"] == "passed"


def test_results_json_describes_the_run(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """results.json has the run's facts and one entry per check with id, target, phase, severity and result."""
    data = results(project)
    assert (data["schema"], data["inventory"], data["selection"], data["exit_code"]) == (1, "mini", "all", 1)
    assert data["off"] == ["gaming-pc-1"]
    assert data["waivers"][0]["status"] == "applied to 1 check"
    check = outcome(project, "P2-A-001", "gaming-pc-1")
    assert (check["phase"], check["severity"], check["result"]) == ("phase2", "medium", "skipped")
    assert check["detail"].startswith("on-demand host is off: gaming-pc-1")


# -- compliance.prom ---------------------------------------------------------------------------------------------
SAMPLE = re.compile(r'^[a-z_]+\{([a-z_]+="[^"\\]*",?)*\} -?[0-9.e+]+$')


def test_metrics_for_the_textfile_collector(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """compliance.prom is Prometheus text: checks by phase, severity and result, the run's time and exit code."""
    text = (project.path / "reports" / "compliance.prom").read_text()
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) homelab_compliance_[a-z_]+ \S", line), line
            continue
        assert SAMPLE.match(line), f"not a Prometheus sample: {line}"
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    labels = 'inventory="mini",phase="phase1",severity="critical"'
    assert samples[f'homelab_compliance_checks{{{labels},result="failed"}}'] == 1
    assert samples[f'homelab_compliance_checks{{{labels},result="passed"}}'] == 1
    assert samples[f'homelab_compliance_checks{{{labels},result="waived"}}'] == 0
    assert samples['homelab_compliance_checks{inventory="mini",phase="phase2",severity="medium",result="skipped"}'] == 1
    assert samples['homelab_compliance_exit_code{inventory="mini"}'] == 1
    assert samples['homelab_compliance_hosts_down{inventory="mini",state="off"}'] == 1
    assert samples['homelab_compliance_last_run_timestamp_seconds{inventory="mini"}'] > 1.7e9
    assert "# TYPE homelab_compliance_checks gauge" in text


def test_dashboard_queries_the_exported_metrics(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """The Grafana dashboard asks only for metrics and labels that compliance.prom has."""
    board = REPO / "stacks/monitoring/grafana/dashboards/homelab-compliance.json"
    exprs = [t["expr"] for panel in json.loads(board.read_text())["panels"] for t in panel["targets"]]
    text = (project.path / "reports" / "compliance.prom").read_text()
    exported = set(re.findall(r"^(homelab_compliance_[a-z_]+)\{", text, re.M))
    labels = set(re.findall(r'([a-z_]+)="', text))
    for expr in exprs:
        assert set(re.findall(r"homelab_compliance_[a-z_]+", expr)) <= exported, expr
        for group in re.findall(r"by \(([a-z_, ]+)\)", expr):
            assert {label.strip() for label in group.split(",")} <= labels, expr


# -- secrets ----------------------------------------------------------------------------------------------------
def test_planted_secret_is_in_no_file(project: pytest.Pytester, faulty_run: pytest.RunResult) -> None:
    """The secret a failing spec puts in its message is masked in every file the run writes, and the terminal."""
    reports = project.path / "reports"
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"report.html", "results.json", "compliance.prom", "junit.xml"}
    assert PLANTED not in faulty_run.stdout.str() + faulty_run.stderr.str()
    for path in files:
        assert PLANTED not in path.read_text(), f"the planted secret leaked into {path.relative_to(reports)}"
    assert "(token ********)" in report(project)
    assert "(token ********)" in (reports / "results.json").read_text()
