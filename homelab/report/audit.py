"""The audit of a spec run: waivers applied, results collected, the exit code mapped, the report files written.

`Audit` is registered by the plugin for every spec run. It writes, under the report directory:
`report.html` (the auditor's checklist), `results.json` (and a copy in `history/`) and `compliance.prom`
(node-exporter's textfile collector). Exit codes: `homelab.report.results.Exit`.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path
from typing import Any

import pytest

from homelab.checks.exposure_matrix import MATRIX
from homelab.model.inventory import Inventory
from homelab.model.redact import REDACTOR
from homelab.model.waivers import WAIVED, WaiverError, Waivers
from homelab.report import audit_html, promexport
from homelab.report.columns import git_revision
from homelab.report.results import MEANING, Check, Exit, History, Run, drift
from homelab.report.risks import accepted
from homelab.transport.hostaccess import HostAccess

DETAIL_MAX = 2000  # characters of a failure kept in the report and results.json


class WaiverExpired(pytest.PytestWarning):
    """A waiver's expiry date has passed: it is ignored, and the failure it covered fails again."""


def target_names(item: pytest.Item) -> set[str]:
    """The names a waiver's `host` may give for this item: its Target, and each parameter's name and host."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return set()
    names = {callspec.id}
    for value in callspec.params.values():
        instance = getattr(value, "instance", None)
        host = getattr(value, "host", None) or getattr(instance, "host", None)
        for obj in (value, instance, host):
            for attr in ("id", "name"):
                name = getattr(obj, attr, None)
                if isinstance(name, str):
                    names.add(name)
    return names


def _failure_text(rep: pytest.TestReport) -> str:
    """The failure's own message (the spec's expected/found/fix), not the whole traceback when there is one."""
    crash = getattr(rep.longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    else:
        text = rep.longreprtext
        errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
        text = "\n".join(errors) or text
    text = REDACTOR(text.strip().removeprefix("AssertionError: ").removeprefix("Failed: "))
    return text if len(text) <= DETAIL_MAX else text[:DETAIL_MAX] + " [...]"


def _skip_reason(rep: pytest.TestReport) -> str:
    reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr or "")
    return REDACTOR(str(reason).removeprefix("Skipped: "))


def _is_waived(rep: pytest.TestReport) -> bool:
    return rep.skipped and str(getattr(rep, "wasxfail", "")).startswith(WAIVED)


class Audit:
    def __init__(self, config: pytest.Config, inventory: Inventory, access: HostAccess, waivers: Waivers,
                 report_dir: Path | None) -> None:
        self.config, self.inventory, self.access, self.waivers = config, inventory, access, waivers
        self.report_dir = report_dir
        self.reports: dict[str, list[pytest.TestReport]] = {}
        self.waived: dict[str, int] = {}  # waiver entry -> checks it waived
        self.started = datetime.datetime.now(datetime.UTC)
        self.clock = time.monotonic()
        self.run: Run | None = None
        MATRIX.clear()  # the matrix is process-wide: this run's probes only (pytester runs share a process)

    # -- waivers ------------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """Before `-m`/`-k` deselect anything: every waiver names a spec (and target) of the suite."""
        if not _whole_suite(config):
            return  # a run of some files cannot tell an unknown id from one in a file it did not collect
        known: dict[str, set[str]] = {}
        for item in items:
            marker = item.get_closest_marker("spec")
            if marker is not None and marker.args:
                known.setdefault(str(marker.args[0]), set()).update(target_names(item))
        try:
            self.waivers.check_known(known)
        except WaiverError as exc:
            raise pytest.UsageError(str(exc)) from None

    def waive(self, item: pytest.Item, rep: pytest.TestReport) -> None:
        """A failure that a waiver covers is reported as waived (pytest's xfail: it does not fail the run)."""
        marker = item.get_closest_marker("spec")
        if not rep.failed or rep.when == "teardown" or marker is None or not marker.args:
            return
        waiver = self.waivers.find(str(marker.args[0]), target_names(item))
        if waiver is not None:
            rep.outcome = "skipped"
            rep.wasxfail = waiver.reason()
            self.waived[waiver.where] = self.waived.get(waiver.where, 0) + 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        return (WAIVED, "w", "WAIVED") if _is_waived(report) else None

    # -- results ------------------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.reports.setdefault(report.nodeid, []).append(report)

    def _check(self, nodeid: str, reports: list[pytest.TestReport]) -> Check:
        props = {k: str(v) for rep in reports for k, v in rep.user_properties}
        waived = next((r for r in reports if _is_waived(r)), None)
        failed = next((r for r in reports if r.failed), None)
        skipped = next((r for r in reports if r.skipped), None)
        if waived is not None:
            result, detail = "waived", f"{waived.wasxfail}\n{_failure_text(waived)}"
        elif failed is not None:
            prefix = "" if failed.when == "call" else f"error in {failed.when}: "
            result, detail = "failed", prefix + _failure_text(failed)
        elif skipped is not None:
            result, detail = "skipped", _skip_reason(skipped)
        else:
            result, detail = "passed", ""
        return Check(
            nodeid=nodeid, spec_id=props.get("spec_id", ""), requirement=props.get("requirement") or nodeid,
            target=props.get("target", ""), phase=props.get("phase", ""), severity=props.get("severity", ""),
            result=result, detail=REDACTOR(detail.strip()), remediation=props.get("remediation", ""),
            duration_s=round(sum(r.duration for r in reports), 3))

    def _waiver_rows(self, today: datetime.date) -> list[dict[str, Any]]:
        rows = []
        for waiver in self.waivers.active:
            used = self.waived.get(waiver.where, 0)
            status = f"applied to {used} check{'s' if used != 1 else ''}" if used else "not needed: nothing failed"
            rows.append({**waiver.as_dict(), "status": status})
        rows += [{**w.as_dict(), "status": f"expired: ignored since {w.expires}"} for w in self.waivers.expired]
        return rows

    def build(self) -> Run:
        return Run(
            inventory=self.inventory.name, inventory_file=str(self.inventory.path),
            revision=git_revision(self.config.rootpath), started=self.started.isoformat(),
            selection=self.config.option.markexpr or "all",
            duration_s=round(time.monotonic() - self.clock, 1),
            checks=[self._check(nodeid, reps) for nodeid, reps in self.reports.items()],
            unreachable=dict(self.access.unreachable), off=sorted(self.access.off),
            waivers=self._waiver_rows(self.started.date()), exposure=MATRIX.to_json(),
            risks=[risk.as_dict() for risk in accepted(self.inventory)])

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """A run that completed gets its exit code (homelab.report.results.Exit), and, unless told not to, its files."""
        if session.exitstatus not in (Exit.PASSED, Exit.FAILED) or self.config.option.collectonly:
            return
        run = self.run = self.build()
        run.exit_code = session.exitstatus = run.exit_for()
        if self.report_dir is not None:
            write_files(run, self.report_dir)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run is None:
            return
        terminalreporter.section("homelab compliance")
        terminalreporter.write_line(f"exit {self.run.exit_code}: {MEANING[self.run.exit_code]}")
        for host, nodeid in self.run.unreachable.items():
            terminalreporter.write_line(f"unreachable: {host} (see {nodeid})")
        for waiver in self.waivers.expired:
            terminalreporter.write_line(f"expired waiver ignored: {waiver.where} ({waiver.spec}, {waiver.expires})")
        if self.report_dir is not None:
            terminalreporter.write_line(f"report: {self.report_dir / 'report.html'}")


def write_files(run: Run, directory: Path) -> None:
    """report.html, results.json and compliance.prom, each replaced whole; the run is added to the history."""
    history = History(directory)
    changes = drift(history.previous(run.inventory), run)
    directory.mkdir(parents=True, exist_ok=True)
    _replace(directory / "results.json", run.to_json())
    _replace(directory / "report.html", REDACTOR(audit_html.render(run, changes)))
    _replace(directory / "compliance.prom", REDACTOR(promexport.render(run)))
    history.record(run)


def _replace(path: Path, text: str) -> None:
    """Write beside, then rename: a reader (node-exporter, a browser) never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _whole_suite(config: pytest.Config) -> bool:
    """True when the run collects every spec file: one of its paths is the specs directory itself."""
    specs = (config.rootpath / "tests").resolve()
    return any((config.invocation_params.dir / str(arg).split("::")[0]).resolve() == specs for arg in config.args)

