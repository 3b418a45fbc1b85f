"""The static checks of the monitoring stack's own configuration (the specs S-MON): Prometheus reads its node and
cAdvisor targets from the files bootstrap writes (file_sd), and Grafana's provisioned datasource and dashboards
keep the fixed uids the live specs look for. Nothing here needs a host.
"""

from __future__ import annotations

import json
from pathlib import Path

from homelab.checks import problem
from homelab.checks.static import Repository
from homelab.model.yamlfile import YamlError, load_yaml

PROMETHEUS_JOBS = ("node", "cadvisor")
DASHBOARD_UIDS = ("homelab-hosts", "homelab-containers")
DATASOURCE_UID = "prometheus"


def prometheus_file_sd(repo: Repository) -> list[str]:
    """prometheus.yml parses and reads jobs node and cadvisor from targets/*.json through file_sd."""
    folder = repo.root / "stacks/monitoring/prometheus"
    try:
        config, _ = load_yaml(folder / "prometheus.yml")
    except YamlError as exc:
        return [str(exc)]
    jobs = {str(j.get("job_name")): j for j in (config or {}).get("scrape_configs") or [] if isinstance(j, dict)}
    problems = []
    for job in PROMETHEUS_JOBS:
        files = [f for sd in (jobs.get(job) or {}).get("file_sd_configs") or [] for f in sd.get("files") or []]
        if not files or not all(f.startswith("/etc/prometheus/targets/") and f.endswith(".json") for f in files):
            problems.append(problem(where=f"{folder / 'prometheus.yml'}: scrape_configs.{job}",
                                    expected="file_sd_configs reading /etc/prometheus/targets/*.json",
                                    found=repr(files or None),
                                    fix="read the job's targets from the files bootstrap writes into targets/"))
    if not (folder / "targets/.gitkeep").is_file():
        problems.append(problem(where=str(folder / "targets"), expected="a targets/ folder kept in git (.gitkeep)",
                                found="none", fix="add prometheus/targets/.gitkeep"))
    return problems


def grafana_dashboards(repo: Repository) -> list[str]:
    """The datasource has uid prometheus, and the dashboards exist with fixed uids and use that datasource."""
    folder = repo.root / "stacks/monitoring/grafana"
    problems = []
    try:
        datasources, _ = load_yaml(folder / "provisioning/datasources/prometheus.yaml")
    except YamlError as exc:
        return [str(exc)]
    uids = [d.get("uid") for d in (datasources or {}).get("datasources") or [] if isinstance(d, dict)]
    if DATASOURCE_UID not in uids:
        problems.append(problem(where=str(folder / "provisioning/datasources/prometheus.yaml"),
                                expected=f"a datasource with uid {DATASOURCE_UID!r}", found=repr(uids),
                                fix="set `uid: prometheus`"))
    found: dict[str, Path] = {}
    for path in sorted((folder / "dashboards").glob("*.json")):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: cannot read the dashboard: {exc}")
            continue
        found[str(board.get("uid"))] = path
        sources = {json.dumps(ds, sort_keys=True) for ds in _datasources(board)}
        if sources - {json.dumps({"type": "prometheus", "uid": DATASOURCE_UID}, sort_keys=True)}:
            problems.append(problem(where=str(path), expected=f"every panel on datasource uid {DATASOURCE_UID!r}",
                                    found=", ".join(sorted(sources)),
                                    fix="point the panels at the provisioned datasource"))
    problems += [problem(where=str(folder / "dashboards"), expected=f"a dashboard with uid {uid!r}",
                         found=f"uids {sorted(found)}",
                         fix="add it, with a fixed `uid`") for uid in DASHBOARD_UIDS if uid not in found]
    return problems


def _datasources(node: object) -> list[object]:
    if isinstance(node, dict):
        here = [node["datasource"]] if "datasource" in node else []
        return here + [d for key, value in node.items() if key != "datasource" for d in _datasources(value)]
    if isinstance(node, list):
        return [d for item in node for d in _datasources(item)]
    return []
