"""report.html as a reader sees it: rendered by Debian's headless Chromium, its visible text and a screenshot.

The visible text is the page's `innerText` (what layout shows: a collapsed `<details>` is not in it), read by
a copy of the report with one line of script added, from `chromium --headless --dump-dom`.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from spec_project import AUDIT_SPECS, PLANTED, make_project, set_faults, write_waivers

from homelab.model.paths import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not found: `bash scripts/ensure-host-packages.sh` installs Debian's chromium")

WAIVER = """\
waivers:
  - spec: P1-A-002
    justification: ufw breaks the NFS mounts until the storage VLAN lands (ticket 42)
    expires: 2099-09-30
    approved_by: Jane Auditor
"""
SHOW_TEXT = ('<script>const seen = document.body.innerText; document.body.replaceChildren('
             'Object.assign(document.createElement("pre"), {id: "seen", textContent: seen}));</script>')


@pytest.fixture
def rendered(pytester: pytest.Pytester) -> Path:
    """The report of a run with an injected fault, a waived failure, a host off and a planted secret."""
    project = make_project(pytester, {"test_audit.py": AUDIT_SPECS})
    write_waivers(project, WAIVER)
    set_faults(project, "port-portainer", "firewall", "edge-off")
    assert project.runpytest("tests").ret == 1
    return project.path / "reports" / "report.html"


def chromium(*args: str, cwd: Path) -> str:
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root without it
    done = subprocess.run([str(CHROMIUM), "--headless", *sandbox, "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", f"--user-data-dir={cwd / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120, check=False, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def seen(rendered: Path, tmp_path: Path) -> str:
    """The report's visible text, as laid out by Chromium."""
    work = tmp_path / "browser"
    work.mkdir()
    page = work / "seen.html"
    page.write_text(rendered.read_text().replace("</body>", SHOW_TEXT + "</body>"))
    dom = chromium("--dump-dom", page.as_uri(), cwd=work)
    found = re.search(r'<pre id="seen">(.*?)</pre>', dom, re.S)
    assert found, f"Chromium's DOM has no visible text:\n{dom[:2000]}"
    return html.unescape(found.group(1))


def test_reader_sees_the_verdict_and_summary(seen: str) -> None:
    """The top of the page: the verdict, the run's facts, the counts by phase and by severity."""
    assert re.match(r"Homelab compliance report: mini\s+FAILED: checks failed\n", seen)
    assert re.search(r"Inventory\s+mini \(", seen)
    assert re.search(r"Phase 1\s+2\s+1\s+1\s+0\s+4\n", seen)
    assert re.search(r"critical\s+1\s+1\s+0\s+0\s+2\n", seen)
    assert "gaming-pc-1 is off (on demand)" in seen
    assert seen.index("Summary") < seen.index("Since the last run") < seen.index("Checks (5)")


def test_reader_sees_the_failed_row_with_its_remediation(seen: str) -> None:
    """The failed check's row shows the fix and what failed, without a click; the secret in it is masked."""
    row = re.search(r"P1-A-001\s+Portainer's plain-HTTP port 9000 answers from nowhere\.\s+portainer@platform"
                    r"\s+Phase 1\s+critical\s+failed\s+(.*?)\n(?:P\d-)", seen, re.S)
    assert row, f"no failed row for P1-A-001 in:\n{seen}"
    assert "Fix: close port 9000 in stacks/platform/compose.yaml" in row.group(1)
    assert "portainer@platform: port 9000 answers (token ********); expected closed" in row.group(1)


def test_reader_sees_the_waiver_not_the_waived_failure(seen: str) -> None:
    """A waived row shows its justification; the failure it covers stays folded away until opened."""
    assert re.search(r"P1-A-002\s+.*\s+waived\s+waived: ufw breaks the NFS mounts", seen)
    assert "Jane Auditor" in seen
    assert "ufw is inactive" not in seen


def test_no_secret_anywhere_in_the_page(rendered: Path, seen: str, tmp_path: Path) -> None:
    """The planted secret is neither in the visible text nor anywhere in the DOM Chromium builds."""
    dom = chromium("--dump-dom", rendered.as_uri(), cwd=tmp_path)
    assert "<h1>Homelab compliance report: mini</h1>" in dom
    assert PLANTED not in dom
    assert PLANTED not in seen


def test_screenshot_of_the_report(rendered: Path, tmp_path: Path) -> None:
    """scripts/report-screenshot.sh (how docs/images/report.png is made) writes a PNG of the page's size."""
    png = tmp_path / "report.png"
    done = subprocess.run(["sh", str(REPO / "scripts/report-screenshot.sh"), str(rendered), str(png), "1024,900"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1024, 900)
