"""The exposure matrix (homelab/checks/exposure_matrix.py): the collector, its place in results.json, the report's
"Exposure matrix" section (homelab/report/audit_matrix_html.py) and compliance.prom; then a pytester run whose spec
records cells, end to end."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from spec_project import AUDIT_SPECS, make_project, results
from test_report_audit import Tables, section

from homelab.checks.exposure_matrix import MATRIX, PUBLIC, Cell, ExposureMatrix
from homelab.report import audit_html, promexport
from homelab.report.results import History, Run, drift

WAN_OPEN = Cell(PUBLIC, "portainer.home.example.com https", "wan", "closed", "refused by NPM (403)", True)
CELLS = [
    Cell("platform", "portainer 9443/tcp", "guest", "closed", "filtered", True),
    Cell("platform", "portainer 9443/tcp", "vpn-client", "open", "open", True),
    Cell("platform", "portainer 9000/tcp", "guest", "closed", "open", False),
    Cell("platform", "ssh 22/tcp", "runner", "open", "open", True),
    Cell("platform", "8081/tcp", "wan", "closed", "not observed: wan vantage point missing", True),
    Cell("unraid", "portainer-agent 9001/tcp", "platform", "open", "open", True),
    Cell("unraid", "portainer-agent 9001/tcp", "guest", "closed", "closed", True),
    WAN_OPEN,
]


def run_with(cells: list[Cell]) -> Run:
    return Run(inventory="mini", inventory_file="/x/inventory.yaml", revision="abc1234",
               started="2026-11-25T03:17:02.123456+00:00", selection="all",
               exposure=ExposureMatrix(cells).to_json())


def render(run: Run) -> str:
    return audit_html.render(run, drift(None, run))


# -- the collector ----------------------------------------------------------------------------------------------
def test_a_later_record_of_the_same_probe_replaces_the_earlier() -> None:
    """One cell per (host, row, source): the last record wins; cells() is sorted by that key."""
    matrix = ExposureMatrix()
    first = Cell("platform", "portainer 9000/tcp", "guest", "closed", "not observed: sweep not done", True)
    again = Cell("platform", "portainer 9000/tcp", "guest", "closed", "open", False)
    other = Cell("platform", "portainer 9000/tcp", "wan", "closed", "filtered", True)
    for cell in (first, other, again):
        matrix.record(cell)
    assert matrix.cells() == [again, other]
    matrix.clear()
    assert matrix.cells() == []


def test_records_from_several_threads_at_once() -> None:
    """Threads recording at the same time lose nothing: every key once, the last value of each."""
    matrix = ExposureMatrix()
    start = threading.Barrier(8)

    def record(n: int) -> None:
        start.wait()
        for i in range(500):
            matrix.record(Cell(f"host-{n}", f"{i}/tcp", "runner", "closed", "closed", True))
            matrix.record(Cell("shared", f"{i}/tcp", f"source-{i % 3}", "closed", "closed", True))
            if i % 50 == 0:
                matrix.cells()  # a reader in the middle of the writes

    threads = [threading.Thread(target=record, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cells = matrix.cells()
    assert len(cells) == 8 * 500 + 500
    assert len({c.key for c in cells}) == len(cells)


def test_json_round_trip() -> None:
    """to_json is a list of plain dicts (JSON as is); from_json gives the same cells back."""
    matrix = ExposureMatrix(CELLS)
    data = json.loads(json.dumps(matrix.to_json()))
    assert data[0] == {"host": "platform", "row": "8081/tcp", "source": "wan", "expected": "closed",
                       "found": "not observed: wan vantage point missing", "ok": True}
    assert ExposureMatrix.from_json(data).cells() == matrix.cells() == sorted(CELLS, key=lambda c: c.key)


def test_a_cell_expects_open_or_closed() -> None:
    with pytest.raises(ValueError, match="expected one of open, closed"):
        Cell("platform", "ssh 22/tcp", "runner", "filtered", "filtered", True)


# -- results.json ------------------------------------------------------------------------------------------------
def test_run_keeps_the_matrix_and_old_results_still_load(tmp_path: Path) -> None:
    """Run.exposure goes to results.json and back; a results.json written before it (no key) loads, empty."""
    run = run_with(CELLS)
    again = Run.from_json(run.to_json())
    assert again.exposure == run.exposure
    assert ExposureMatrix.from_json(again.exposure).cells() == ExposureMatrix(CELLS).cells()

    old = json.loads(run.to_json())
    del old["exposure"]
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "20261124T031702.000000Z.json").write_text(json.dumps(old))
    previous = History(tmp_path).previous("mini")
    assert previous is not None
    assert previous.exposure == []


# -- report.html -------------------------------------------------------------------------------------------------
def test_one_table_per_host_with_the_failure_marked() -> None:
    """Public address first, then hosts by name; rows in natural order; columns the sources that probed."""
    html = render(run_with(CELLS))
    matrix = section(html, "exposure")
    assert html.index('<section id="summary">') < html.index('<section id="exposure">') < html.index(
        '<section id="checks">')
    assert "Who can reach what" in matrix
    assert '<p id="matrix-count"><b>8 probes, 1 unexpected</b></p>' in matrix
    tables = {k: v for k, v in Tables(html).tables.items() if k.startswith("matrix-")}
    assert list(tables) == ["matrix-public-address", "matrix-platform", "matrix-unraid"]
    assert tables["matrix-public-address"] == [
        ["Probed", "wan"], ["portainer.home.example.com https", "closed → refused by NPM (403)"]]
    assert tables["matrix-platform"] == [
        ["Probed", "runner", "vpn-client", "guest", "wan"],
        ["8081/tcp", "–", "–", "–", "closed → not observed: wan vantage point missing"],
        ["portainer 9000/tcp", "–", "–", "✗ FAIL closed → open", "–"],
        ["portainer 9443/tcp", "–", "open → open", "closed → filtered", "–"],
        ["ssh 22/tcp", "open → open", "–", "–", "–"],
    ]
    assert tables["matrix-unraid"][0] == ["Probed", "guest", "platform"]
    assert matrix.count('class="fail"') == 1
    assert '<td class="fail"><b>✗ FAIL</b> closed → open</td>' in matrix
    assert "<caption>platform: 5 probes, 1 unexpected</caption>" in matrix
    assert "<caption>unraid: 2 probes, 0 unexpected</caption>" in matrix


def test_a_run_without_probes_says_so() -> None:
    matrix = section(render(run_with([])), "exposure")
    assert "No reachability was probed in this run." in matrix
    assert "<table" not in matrix


def test_everything_in_the_matrix_is_escaped() -> None:
    """Host, row, source and what was found are text, never markup."""
    evil = Cell("<i>host</i>", "<script>alert(1)</script> 80/tcp", "<b>src</b>", "closed", "open & <u>", False)
    matrix = section(render(run_with([evil])), "exposure")
    assert "<script>" not in matrix
    for markup in ("<i>", "<b>src", "<u>"):
        assert markup not in matrix
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 80/tcp" in matrix
    assert "<th>&lt;b&gt;src&lt;/b&gt;</th>" in matrix
    assert "<b>✗ FAIL</b> closed → open &amp; &lt;u&gt;" in matrix
    assert 'id="matrix-i-host-i"' in matrix


# -- compliance.prom ---------------------------------------------------------------------------------------------
def test_metrics_count_probes_and_unexpected_cells_per_host() -> None:
    """Every host of the matrix has its count of unexpected cells, zeros included; and the probes in all."""
    text = promexport.render(run_with(CELLS))
    assert "# TYPE homelab_compliance_exposure_unexpected gauge" in text
    assert 'homelab_compliance_exposure_probes{inventory="mini"} 8\n' in text
    assert 'homelab_compliance_exposure_unexpected{inventory="mini",host="platform"} 1\n' in text
    assert 'homelab_compliance_exposure_unexpected{inventory="mini",host="unraid"} 0\n' in text
    assert 'homelab_compliance_exposure_unexpected{inventory="mini",host="public address"} 0\n' in text
    empty = promexport.render(run_with([]))
    assert 'homelab_compliance_exposure_probes{inventory="mini"} 0\n' in empty
    assert "homelab_compliance_exposure_unexpected{" not in empty


# -- a spec run --------------------------------------------------------------------------------------------------
MATRIX_SPEC = '''\
import threading

import pytest

from homelab.checks.exposure_matrix import MATRIX, Cell

pytestmark = pytest.mark.phase1


@pytest.mark.spec("P1-M-001", severity="critical", fix="close the port")
@pytest.mark.each("host", role="platform")
def test_exposure(host):
    """Portainer answers from where the policy allows, and nowhere else."""
    def probe(source, found):
        expected = "open" if source == "vpn-client" else "closed"
        ok = (found == "open") == (expected == "open")  # filtered and refused are both closed
        MATRIX.record(Cell(host.name, "portainer 9443/tcp", source, expected, found, ok))
    threads = [threading.Thread(target=probe, args=args)
               for args in (("vpn-client", "open"), ("guest", "open"), ("wan", "filtered"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    unexpected = [c for c in MATRIX.cells() if c.host == host.name and not c.ok]
    assert not unexpected, f"{host.name}: reached from {', '.join(c.source for c in unexpected)}"
'''


def test_a_spec_run_reports_what_its_specs_recorded(pytester: pytest.Pytester) -> None:
    """What specs record lands in results.json, report.html and compliance.prom; the next run starts empty."""
    MATRIX.record(Cell("stale", "left over", "runner", "closed", "closed", True))  # from an earlier run
    project = make_project(pytester, {"test_audit.py": AUDIT_SPECS, "test_matrix.py": MATRIX_SPEC})
    assert project.runpytest("tests").ret == 1
    assert sorted((c["source"], c["found"], c["ok"]) for c in results(project)["exposure"]) == [
        ("guest", "open", False), ("vpn-client", "open", True), ("wan", "filtered", True)]
    reports = project.path / "reports"
    html = (reports / "report.html").read_text()
    assert Tables(html).tables["matrix-platform"][1] == [
        "portainer 9443/tcp", "open → open", "✗ FAIL closed → open", "closed → filtered"]
    assert "3 probes, 1 unexpected" in section(html, "exposure")
    prom = (reports / "compliance.prom").read_text()
    assert 'homelab_compliance_exposure_unexpected{inventory="mini",host="platform"} 1' in prom

    assert project.runpytest("tests", "-m", "phase2").ret == 0
    assert results(project)["exposure"] == []
    assert "No reachability was probed in this run." in section(
        (reports / "report.html").read_text(), "exposure")
    prom = (reports / "compliance.prom").read_text()
    assert re.search(r'^homelab_compliance_exposure_probes\{inventory="mini"\} 0$', prom, re.M)
