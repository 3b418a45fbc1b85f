"""What the audit report shows: spec id, requirement, target, severity, remediation; secrets masked."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from homelab.model.inventory import Inventory
from homelab.model.redact import REDACTOR

COLUMNS = (("spec_id", "ID"), ("requirement", "Requirement"), ("target", "Target"), ("severity", "Severity"),
           ("remediation", "Remediation"))
SEVERITIES = ("critical", "high", "medium", "low")
PHASE = re.compile(r"^(static|phase\d+)$")


def phase_of(item: pytest.Item) -> str:
    """The item's phase marker (`phase1`, `static`), the closest first."""
    return next((m.name for m in item.iter_markers() if PHASE.match(m.name)), "")


def spec_properties(item: pytest.Item) -> list[tuple[str, str]]:
    """The spec's identity from its `spec` marker, docstring and parameter id."""
    marker = item.get_closest_marker("spec")
    if marker is None:
        return []
    doc = (getattr(item, "obj", None).__doc__ or "").strip().splitlines() if hasattr(item, "obj") else []
    callspec = getattr(item, "callspec", None)
    return [
        ("spec_id", str(marker.args[0]) if marker.args else ""),
        ("requirement", doc[0] if doc else ""),
        ("target", callspec.id if callspec else ""),
        ("phase", phase_of(item)),
        ("severity", str(marker.kwargs.get("severity", "medium"))),
        ("remediation", str(marker.kwargs.get("fix", ""))),
    ]


def describe(item: pytest.Item, rep: pytest.TestReport) -> None:
    """Attach the spec's identity to every report of the item (JUnit properties, report rows)."""
    if not any(name in ("spec_id", "phase") for name, _ in rep.user_properties):
        rep.user_properties.extend(spec_properties(item) or [("phase", phase_of(item))])


def redact(rep: pytest.TestReport | pytest.CollectReport) -> None:
    """Mask secret values in a report before any reporter (terminal, HTML, JUnit) sees it."""
    if rep.longrepr is not None:
        if isinstance(rep.longrepr, tuple):  # a skip: (path, line, reason)
            path, line, reason = rep.longrepr
            rep.longrepr = (path, line, REDACTOR(reason))
        else:
            text = str(rep.longrepr)
            masked = REDACTOR(text)
            if masked != text:
                rep.longrepr = masked
    rep.sections = [(title, REDACTOR(content)) for title, content in rep.sections]
    if isinstance(rep, pytest.TestReport):
        rep.user_properties = [(k, REDACTOR(str(v))) for k, v in rep.user_properties]
        if isinstance(getattr(rep, "wasxfail", None), str):  # an xfail's reason (a waiver's, pytest.xfail's)
            rep.wasxfail = REDACTOR(rep.wasxfail)


def git_revision(root: Path) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def enable_files(config: pytest.Config, directory: Path, inventory: Inventory) -> None:
    """A spec run writes reports/junit.xml unless told otherwise (report.html and the rest: homelab.report.audit).

    pytest-html writes only when asked (`--html reports/details.html`): the engineer's view, with logs.
    """
    if config.option.xmlpath is None:
        config.option.xmlpath = str(directory / "junit.xml")
    if getattr(config.option, "htmlpath", None):
        config.option.self_contained_html = True
        config.pluginmanager.register(HtmlReport(inventory, config), "homelab-html")


class HtmlReport:
    """pytest-html hooks, for a run given `--html`: a title, an environment table, and the audit columns."""

    def __init__(self, inventory: Inventory, config: pytest.Config) -> None:
        self.inventory = inventory
        self.facts = {
            "Inventory": f"{inventory.name} ({inventory.path.name})",
            "Git revision": git_revision(config.rootpath),
            "Phases selected": config.option.markexpr or "all",
        }

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"Homelab compliance report: {self.inventory.name}"

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        prefix.extend(f"<p><b>{html.escape(k)}:</b> {html.escape(v)}</p>" for k, v in self.facts.items())

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells[1:1] = [f'<th class="sortable" data-column-type="{key}">{label}</th>' for key, label in COLUMNS]

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        props = dict(getattr(report, "user_properties", []))
        cells[1:1] = [f'<td class="col-{key}">{html.escape(REDACTOR(str(props.get(key, ""))))}</td>'
                      for key, _ in COLUMNS]

    @pytest.hookimpl(trylast=True)
    def pytest_metadata(self, metadata: dict[str, Any], config: pytest.Config) -> None:
        metadata.update(self.facts)
        for key, value in list(metadata.items()):
            if isinstance(value, str):
                metadata[key] = REDACTOR(value)
