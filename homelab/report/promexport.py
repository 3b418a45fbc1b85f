"""`compliance.prom`: the run's results in Prometheus text format, for node-exporter's textfile collector.

Every phase and severity of the run gets a sample for every result (zeros included), so a query for
`result="failed"` finds 0 rather than nothing once a failure is fixed; likewise every host of the exposure
matrix gets its count of unexpected cells, 0 included.
"""

from __future__ import annotations

import datetime

from homelab.checks.exposure_matrix import ExposureMatrix
from homelab.report.results import RESULTS, Run

PREFIX = "homelab_compliance"


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"


def _metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]
    return lines + [f"{PREFIX}_{name}{_labels(**labels)} {_number(value)}" for labels, value in samples]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(run: Run) -> str:
    inv = {"inventory": run.inventory}
    finished = datetime.datetime.fromisoformat(run.started).timestamp() + run.duration_s
    checks = []
    for phase in run.phases():
        for severity in run.severities():
            counts = run.count(phase=phase, severity=severity)
            if counts:
                checks += [({**inv, "phase": phase or "none", "severity": severity or "none", "result": result},
                            float(counts[result])) for result in RESULTS]
    cells = ExposureMatrix.from_json(run.exposure).cells()
    unexpected: dict[str, int] = {}
    for cell in cells:
        unexpected[cell.host] = unexpected.get(cell.host, 0) + (not cell.ok)
    lines = [
        *_metric("checks", "gauge", "Checks of the last compliance run, by phase, severity and result.", checks),
        *_metric("last_run_timestamp_seconds", "gauge", "When the last compliance run finished (Unix time).",
                 [(inv, round(finished, 3))]),
        *_metric("last_run_duration_seconds", "gauge", "How long the last compliance run took.",
                 [(inv, run.duration_s)]),
        *_metric("exit_code", "gauge", "The last run's exit code: 0 passed, 1 failures, 6 host unreachable, "
                 "7 only waived or skipped.", [(inv, float(run.exit_code))]),
        *_metric("hosts_down", "gauge", "Hosts the last run could not reach: always-on (unreachable) or on-demand "
                 "(off).", [({**inv, "state": "unreachable"}, float(len(run.unreachable))),
                            ({**inv, "state": "off"}, float(len(run.off)))]),
        *_metric("exposure_probes", "gauge", "Cells of the last run's exposure matrix (probes of who can reach "
                 "what).", [(inv, float(len(cells)))]),
        *_metric("exposure_unexpected", "gauge", "Cells of the exposure matrix where what was found is not what "
                 "the policy expects, by host (or public address).",
                 [({**inv, "host": host}, float(n)) for host, n in sorted(unexpected.items())]),
    ]
    return "\n".join(lines) + "\n"
