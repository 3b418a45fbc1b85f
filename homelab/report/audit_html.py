"""`report.html`: one run as an audit checklist, in one self-contained file (inline CSS, no script, no link).

Top to bottom: the verdict and the run's facts; the summary by phase and by severity, hosts down, skip
reasons; the exposure matrix (homelab/report/audit_matrix_html.py); what changed since the last run; the waivers;
then one row per check. The caller masks secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from homelab.report import audit_matrix_html
from homelab.report.results import RESULTS, Check, Drift, Exit, Run

VERDICTS: dict[int, tuple[str, str]] = {Exit.PASSED: ("passed", "PASSED"), Exit.FAILED: ("failed", "FAILED"),
            Exit.UNREACHABLE: ("failed", "INCOMPLETE"), Exit.EXCEPTIONS: ("waived", "PASSED WITH EXCEPTIONS")}

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1b1f24; margin: 2rem auto; max-width: 78rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; } h2 { border-bottom: 2px solid #d0d7de; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.counts { width: auto; min-width: 32rem; } caption { text-align: left; font-weight: 600; }
td.nowrap { white-space: nowrap; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .1rem 1rem; margin: 1rem 0; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
.verdict { display: inline-block; font-weight: 700; padding: .3rem .8rem; border-radius: .3rem; }
.result { font-weight: 600; white-space: nowrap; }
.passed { color: #1a7f37; } .failed { color: #cf222e; } .waived { color: #9a6700; } .skipped { color: #57606a; }
.verdict.passed { background: #dafbe1; } .verdict.failed { background: #ffebe9; }
.verdict.waived { background: #fff8c5; }
tr.row-failed { background: #fff5f5; } tr.row-waived { background: #fffbe6; }
.severity-critical { font-weight: 700; } code, pre { font: 13px ui-monospace, monospace; }
pre { white-space: pre-wrap; background: #f6f8fa; padding: .4rem; margin: .3rem 0 0; }
ul { margin-top: .2rem; } footer { margin-top: 2rem; color: #57606a; font-size: 13px; }
@media print { details { display: block; } details > * { display: block; } }
"""


def _phase_label(phase: str) -> str:
    return f"Phase {phase.removeprefix('phase')}" if phase.startswith("phase") else (phase or "none").capitalize()


def _order(check: Check) -> tuple[int, str, str, str]:
    return (0 if check.phase == "static" else 1, check.phase, check.spec_id or check.nodeid, check.target)


def _counts_table(run: Run, field: str, values: Iterable[str], label: str) -> str:
    head = "".join(f"<th>{r.capitalize()}</th>" for r in RESULTS)
    rows = []
    for value in values:
        counts = run.count(**{field: value})
        name = _phase_label(value) if field == "phase" else (value or "none")
        cells = "".join(f'<td class="n {r if counts[r] and r != "passed" else ""}">{counts[r]}</td>' for r in RESULTS)
        rows.append(f"<tr><th>{escape(name)}</th>{cells}<td class='n'>{counts.total()}</td></tr>")
    total = run.count()
    cells = "".join(f'<td class="n">{total[r]}</td>' for r in RESULTS)
    rows.append(f"<tr><th>All</th>{cells}<td class='n'>{total.total()}</td></tr>")
    return (f'<table class="counts" id="by-{field}"><caption>By {label}</caption>'
            f"<tr><th>{label.capitalize()}</th>{head}<th>Total</th></tr>{''.join(rows)}</table>")


def _hosts(run: Run) -> str:
    items = [f"<li><b>{escape(h)}</b> is unreachable: its checks did not run (see <code>{escape(n)}</code>)</li>"
             for h, n in run.unreachable.items()]
    items += [f"<li><b>{escape(h)}</b> is off (on demand): its checks were skipped</li>" for h in run.off]
    return f"<ul>{''.join(items)}</ul>" if items else "<p>Every host the checks needed answered.</p>"


def _skips(run: Run) -> str:
    reasons = run.skip_reasons()
    if not reasons:
        return "<p>No check was skipped.</p>"
    return "<ul>" + "".join(f"<li>{escape(r)}: {n} check{'s' if n != 1 else ''}</li>"
                            for r, n in reasons.most_common()) + "</ul>"


def _check_list(title: str, checks: list[Check], css: str) -> str:
    items = "".join(f"<li><b>{escape(c.spec_id)}</b> {escape(c.target)}: {escape(c.requirement)}</li>"
                    for c in sorted(checks, key=_order))
    return f'<h3 class="{css}">{title} ({len(checks)})</h3>' + (f"<ul>{items}</ul>" if checks else "<p>None.</p>")


def _drift(changes: Drift) -> str:
    before = changes.previous
    if before is None:
        return "<p>This is the first recorded run of this inventory: there is nothing to compare with.</p>"
    return (f"<p>Compared with the run of {escape(_when(before.started))} (revision <code>{escape(before.revision)}"
            f"</code>, exit {before.exit_code}: {escape(before.meaning)}).</p>"
            + _check_list("New failures", changes.new_failures, "failed")
            + _check_list("Fixed", changes.fixed, "passed")
            + _check_list("Still failing", changes.still_failing, "failed"))


def _waivers(run: Run) -> str:
    if not run.waivers:
        return "<p>No waivers.</p>"
    rows = "".join(
        f"<tr><td>{escape(w['spec'])}</td><td>{escape(w['host'] or 'every target')}</td>"
        f"<td>{escape(w['justification'])}</td><td>{escape(w['approved_by'])}</td><td>{escape(w['expires'])}</td>"
        f"<td>{escape(w['status'])}</td></tr>" for w in run.waivers)
    return ("<table><tr><th>Spec</th><th>Host</th><th>Justification</th><th>Approved by</th><th>Expires</th>"
            f"<th>Status</th></tr>{rows}</table>")


def _risks(run: Run) -> str:
    if not run.risks:
        return "<p>None.</p>"
    rows = "".join(f"<tr><td>{escape(r['what'])}</td><td>{escape(r['where'])}</td><td>{escape(r['guard'])}</td>"
                   f"<td>{escape(r['remedy'])}</td></tr>" for r in run.risks)
    return f"<table><tr><th>Risk</th><th>Where</th><th>Guarded by</th><th>To stop accepting it</th></tr>{rows}</table>"


def _notes(check: Check) -> str:
    if check.result == "failed":
        return (f"<b>Fix:</b> {escape(check.remediation or 'see the failure')}"
                f"<details open><summary>What failed</summary><pre>{escape(check.detail)}</pre></details>")
    if check.result == "waived":
        reason, _, failure = check.detail.partition("\n")
        return (f"{escape(reason)}<details><summary>What failed</summary><pre>{escape(failure)}</pre>"
                f"<b>Fix:</b> {escape(check.remediation)}</details>")
    return escape(check.detail)


def _rows(run: Run) -> str:
    rows = "".join(
        f'<tr class="row-{c.result}"><td class="nowrap"><code>{escape(c.spec_id)}</code></td>'
        f"<td>{escape(c.requirement)}</td><td>{escape(c.target)}</td>"
        f'<td class="nowrap">{escape(_phase_label(c.phase))}</td>'
        f'<td class="severity-{escape(c.severity)}">{escape(c.severity)}</td>'
        f'<td class="result {c.result}">{c.result}</td><td>{_notes(c)}</td></tr>'
        for c in sorted(run.checks, key=_order))
    return ('<table id="checks-table"><tr><th>ID</th><th>Requirement</th><th>Host or service</th><th>Phase</th>'
            f"<th>Severity</th><th>Result</th><th>Remediation, reason</th></tr>{rows}</table>")


def _when(iso: str) -> str:
    return iso[:19].replace("T", " ") + " UTC"


def render(run: Run, changes: Drift) -> str:
    css, verdict = VERDICTS.get(run.exit_code, ("failed", "NOT COMPLETED"))
    facts = {"Inventory": f"{run.inventory} ({run.inventory_file})", "Git revision": run.revision,
             "Date": _when(run.started), "Phases selected": run.selection,
             "Phases checked": ", ".join(_phase_label(p) for p in run.phases()) or "none",
             "Duration": f"{run.duration_s:g} s", "Exit code": f"{run.exit_code} ({run.meaning})"}
    title = f"Homelab compliance report: {escape(run.inventory)}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}{audit_matrix_html.CSS}</style></head>
<body>
<header><h1>{title}</h1>
<p class="verdict {css}" id="verdict">{verdict}: {escape(run.meaning)}</p>
<dl class="facts">{"".join(f"<dt>{k}</dt><dd>{escape(v)}</dd>" for k, v in facts.items())}</dl></header>
<section id="summary"><h2>Summary</h2>
{_counts_table(run, "phase", run.phases(), "phase")}
{_counts_table(run, "severity", run.severities(), "severity")}
<h3>Hosts unreachable or off</h3>{_hosts(run)}
<h3>Skipped, and why</h3>{_skips(run)}</section>
<section id="exposure"><h2>Exposure matrix</h2>{audit_matrix_html.render(run)}</section>
<section id="drift"><h2>Since the last run</h2>{_drift(changes)}</section>
<section id="waivers"><h2>Waivers</h2>{_waivers(run)}</section>
<section id="risks"><h2>Accepted risks</h2>{_risks(run)}</section>
<section id="checks"><h2>Checks ({len(run.checks)})</h2>{_rows(run)}</section>
<footer>Written by the homelab spec suite (tests/, homelab/report/audit.py). Secret values are masked as ********.
Exit codes: 0 all passed, 1 failures, 6 a host unreachable, 7 only waived or skipped.</footer>
</body></html>
"""
