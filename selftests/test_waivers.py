"""Waivers: the file's format and its errors (homelab.model.waivers), and what a waiver does to a spec run."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from spec_project import AUDIT_SPECS, make_project, outcome, set_faults, write_waivers

from homelab.model.paths import REPO
from homelab.model.waivers import WaiverError, load_waivers

TODAY = datetime.date(2026, 6, 1)
GOOD = """\
waivers:
  - spec: P1-A-002
    host: platform
    justification: ufw breaks the NFS mounts until the storage VLAN lands (ticket 42)
    expires: 2099-09-30
    approved_by: Jane Auditor
  - spec: P1-A-003
    justification: the old time zone is kept for the backup schedule
    expires: 2020-05-31
    approved_by: Jane Auditor
"""


def waivers_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(WaiverError) as info:
        load_waivers(waivers_file(tmp_path, text), TODAY)
    return str(info.value)


def test_active_and_expired_split_by_date(tmp_path: Path) -> None:
    """A waiver counts until its expiry date, inclusive; after that it is listed as expired."""
    waivers = load_waivers(waivers_file(tmp_path, GOOD), TODAY)
    assert [w.spec for w in waivers.active] == ["P1-A-002"]
    assert [w.spec for w in waivers.expired] == ["P1-A-003"]
    assert load_waivers(waivers_file(tmp_path, GOOD), datetime.date(2020, 5, 31)).expired == []


def test_host_narrows_a_waiver(tmp_path: Path) -> None:
    """A waiver with a host covers that target only; without one, every target of the spec."""
    waivers = load_waivers(waivers_file(tmp_path, GOOD), datetime.date(2020, 1, 1))
    assert waivers.find("P1-A-002", {"platform"}) is not None
    assert waivers.find("P1-A-002", {"unraid"}) is None
    assert waivers.find("P1-A-003", {"anything"}) is not None
    assert waivers.find("P1-A-001", {"platform"}) is None


def test_empty_file_waives_nothing(tmp_path: Path) -> None:
    """An empty file, or an empty list, is no waiver at all (not an error)."""
    assert load_waivers(waivers_file(tmp_path, ""), TODAY).active == []
    assert load_waivers(waivers_file(tmp_path, "waivers: []\n"), TODAY).active == []


@pytest.mark.parametrize(("expires", "found"), [
    ("2026-13-01", "'2026-13-01' is not a valid !!timestamp"),
    ("2026-02-30", "'2026-02-30' is not a valid !!timestamp"),
    ('"2026-12-31"', "is '2026-12-31'; expected a date like 2026-12-31"),
    ("31/12/2026", "is '31/12/2026'; expected a date like 2026-12-31"),
    ("2026-12-31 10:00:00", "expected a date like 2026-12-31"),
])
def test_malformed_date_names_file_line_and_field(tmp_path: Path, expires: str, found: str) -> None:
    """A date that is not YYYY-MM-DD is an error naming the file, the line and `waivers.0.expires`."""
    message = error_of(tmp_path, f"""\
        waivers:
          - spec: P1-A-002
            justification: why
            expires: {expires}
            approved_by: me
        """)
    assert message.startswith(f"{tmp_path / 'waivers.yaml'}:4: waivers.0.expires: ")
    assert found in message


@pytest.mark.parametrize(("entry", "found"), [
    ("{spec: P1-A-002, expires: 2026-12-31, approved_by: me}", "waivers.0.justification: is missing"),
    ("{spec: P1-A-002, justification: why, expires: 2026-12-31}", "waivers.0.approved_by: is missing"),
    ("{spec: P1-A-002, justification: why, approved_by: me}", "waivers.0.expires: is missing; expected a date"),
    ("{spec: P1-A-002, justificaton: why, expires: 2026-12-31, approved_by: me}",
     "waivers.0.justificaton: unknown key"),
    ("P1-A-002", "waivers.0: is a string ('P1-A-002'); expected a mapping with spec"),
])
def test_malformed_entry_is_one_clear_line(tmp_path: Path, entry: str, found: str) -> None:
    """A missing or misspelt field is an error naming it (a typo must not silently waive nothing)."""
    message = error_of(tmp_path, f"waivers:\n  - {entry}\n")
    assert found in message
    assert "\n" not in message


def test_unknown_spec_id_and_target_are_errors(tmp_path: Path) -> None:
    """An id the suite does not have, or a target its spec does not check, is an error with the fix."""
    waivers = load_waivers(waivers_file(tmp_path, GOOD), datetime.date(2020, 1, 1))
    with pytest.raises(WaiverError, match=r"waivers\.0\.spec: unknown spec id 'P1-A-002'.*\(like P1-A-001, P1-A-003\)"):
        waivers.check_known({"P1-A-001": {"platform"}, "P1-A-003": set()})
    with pytest.raises(WaiverError, match=r"waivers\.0\.host: 'platform' is no target of P1-A-002; expected one of u"):
        waivers.check_known({"P1-A-002": {"unraid"}, "P1-A-003": set()})


# -- in a spec run ------------------------------------------------------------------------------------------
@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    return make_project(pytester, {"test_audit.py": AUDIT_SPECS})


def test_waived_failure_does_not_fail_the_run(project: pytest.Pytester) -> None:
    """The waived failure shows as WAIVED with its justification; the run exits 7 (only waived or skipped)."""
    write_waivers(project, GOOD)
    set_faults(project, "firewall")
    result = project.runpytest("tests", "-m", "phase1")
    assert result.ret == 7
    result.stdout.fnmatch_lines(["*1 waived*"])
    check = outcome(project, "P1-A-002", "platform")
    assert check["result"] == "waived"
    assert "ufw breaks the NFS mounts" in check["detail"]
    assert "approved by Jane Auditor, until 2099-09-30" in check["detail"]
    assert "ufw is inactive" in check["detail"]


def test_expired_waiver_is_ignored_with_a_warning(project: pytest.Pytester) -> None:
    """An expired waiver no longer covers its failure: the run fails and a warning says why."""
    write_waivers(project, GOOD)
    set_faults(project, "timezone")
    result = project.runpytest("tests", "-m", "phase1")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*WaiverExpired*waivers.yaml:7: waivers.1: the waiver of P1-A-003 expired on "
                                 "2020-05-31: ignored*"])
    assert outcome(project, "P1-A-003", "platform")["result"] == "failed"


def test_unknown_spec_id_stops_the_run(project: pytest.Pytester) -> None:
    """A waiver for an id no spec has stops the run at collection: pytest's usage error, one line."""
    write_waivers(project, GOOD.replace("P1-A-002", "P1-A-999"))
    result = project.runpytest("tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert "waivers.yaml:2: waivers.0.spec: unknown spec id 'P1-A-999'" in errors[0]
    assert not (project.path / "reports" / "results.json").exists()


def test_malformed_waivers_file_stops_the_run(project: pytest.Pytester) -> None:
    """A malformed date stops the run before any check: pytest's usage error naming file and field."""
    write_waivers(project, GOOD.replace("2099-09-30", "2099-09-31"))
    result = project.runpytest("tests")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "waivers.yaml:5: waivers.0.expires: '2099-09-31' is not a valid !!timestamp" in result.stderr.str()


def test_waivers_option_names_another_file(project: pytest.Pytester) -> None:
    """--waivers PATH replaces waivers.yaml beside the inventory; a path that does not exist is an error."""
    (project.path / "accepted.yaml").write_text(GOOD)
    set_faults(project, "firewall")
    assert project.runpytest("tests", "-m", "phase1", "--waivers", "accepted.yaml").ret == 7
    result = project.runpytest("tests", "--waivers", "missing.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "missing.yaml: file not found; expected a waivers file" in result.stderr.str()


def test_example_file_matches_the_suite() -> None:
    """waivers.yaml.example parses, and its ids and hosts are those of real specs (checked at collection)."""
    repo = REPO
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           f"--waivers={repo / 'waivers.yaml.example'}"], cwd=repo, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
