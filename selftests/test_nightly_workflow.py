"""The nightly run: the workflow file is valid GitHub Actions (SchemaStore's schema, validated with `jsonschema`),
does what docs/audit.md says, and its script (deploy/compliance.sh) and systemd units work."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import jsonschema
import pytest
import yaml
from spec_project import AUDIT_SPECS, make_project, set_faults

from homelab.model.paths import REPO

WORKFLOW = REPO / ".github/workflows/compliance.yml"
SCHEMA = Path(__file__).parent / "fixtures/github-workflow.schema.json"
SCRIPT = REPO / "deploy/compliance.sh"
UNITS = REPO / "deploy/systemd"


class Yaml12Loader(yaml.SafeLoader):
    """YAML as GitHub reads it (1.2 core): only true/false are booleans, so the key `on` stays "on"."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))


def load_workflow(text: str | None = None) -> Any:
    return yaml.load(WORKFLOW.read_text() if text is None else text, Loader=Yaml12Loader)  # noqa: S506


def schema_errors(workflow: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(workflow)]


@pytest.fixture(scope="module")
def workflow() -> Any:
    return load_workflow()


@pytest.fixture(scope="module")
def steps(workflow: Any) -> dict[str, dict[str, Any]]:
    job = workflow["jobs"]["compliance"]
    return {step.get("name") or step["uses"]: step for step in job["steps"]}


# -- the workflow file ---------------------------------------------------------------------------------------
def test_workflow_is_valid_github_actions(workflow: Any) -> None:
    """SchemaStore's GitHub workflow schema accepts the file."""
    assert schema_errors(workflow) == []


@pytest.mark.parametrize(("broken", "found"), [
    (("runs-on: [self-hosted, homelab]", "run-on: [self-hosted, homelab]"), "run-on"),
    (("  workflow_dispatch:\n", "  workflow_dispatch:\n  nightly:\n"), "nightly"),
    (("timeout-minutes: 60", "timeout-minutes: soon"), "soon"),
])
def test_schema_rejects_a_broken_workflow(broken: tuple[str, str], found: str) -> None:
    """The validation is real: a misspelt key, an unknown trigger or a wrong type is refused."""
    text = WORKFLOW.read_text()
    assert broken[0] in text
    errors = schema_errors(load_workflow(text.replace(*broken)))
    assert errors
    assert any(found in e for e in errors), errors


def test_runs_nightly_and_by_hand_on_the_lan(workflow: Any) -> None:
    """A schedule (a valid five-field cron) and workflow_dispatch; a self-hosted runner labelled homelab."""
    (cron,) = [entry["cron"] for entry in workflow["on"]["schedule"]]
    fields = cron.split()
    assert len(fields) == 5
    assert 0 <= int(fields[0]) < 60
    assert 0 <= int(fields[1]) < 24
    assert "workflow_dispatch" in workflow["on"]
    assert workflow["jobs"]["compliance"]["runs-on"] == ["self-hosted", "homelab"]


def test_runs_every_phase_and_fails_on_failures(workflow: Any, steps: dict[str, dict[str, Any]]) -> None:
    """The run step checks inventory.yaml with no phase filter, and passes only exit codes 0 and 7."""
    assert workflow["jobs"]["compliance"]["env"]["HOMELAB_INVENTORY"] == "inventory.yaml"
    run = steps["Every phase against inventory.yaml"]["run"]
    assert "deploy/compliance.sh run" in run
    assert " -m " not in run
    assert 'if [ "$rc" -eq 7 ]' in run
    assert 'exit "$rc"' in run


def test_keeps_report_and_history_and_sends_a_heartbeat(steps: dict[str, dict[str, Any]]) -> None:
    """Whatever happened: the report directory (history included) is uploaded and a heartbeat sent."""
    upload = steps["Keep the report and the history"]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ env.HOMELAB_REPORT_DIR }}"
    beat = steps["Heartbeat to Uptime Kuma (up, or down with the exit code)"]
    assert beat["if"] == "always()"
    assert beat["env"]["UPTIME_KUMA_PUSH_URL"] == "${{ secrets.UPTIME_KUMA_PUSH_URL }}"
    assert "deploy/compliance.sh heartbeat" in beat["run"]
    assert "--max-time" in SCRIPT.read_text()


def test_secrets_reach_scripts_only_through_env(steps: dict[str, dict[str, Any]]) -> None:
    """No `${{ secrets.* }}` or step output is pasted into a script (where it could inject shell); env only."""
    for name, step in steps.items():
        assert "${{" not in step.get("run", ""), f"step {name!r} expands an expression inside its script"


def test_step_scripts_are_valid_shell(steps: dict[str, dict[str, Any]]) -> None:
    """Every `run:` parses as bash (the runner's default shell), and so does deploy/compliance.sh."""
    for name, step in steps.items():
        if "run" in step:
            done = subprocess.run(["bash", "-n", "-c", step["run"]], capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"{name}: {done.stderr}"
    assert subprocess.run(["sh", "-n", str(SCRIPT)], check=False).returncode == 0


# -- deploy/compliance.sh ------------------------------------------------------------------------------------
class Kuma(BaseHTTPRequestHandler):
    pushes: ClassVar[list[dict[str, Any]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        Kuma.pushes.append({"path": url.path, **parse_qs(url.query, keep_blank_values=True)})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok":true}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def kuma() -> Iterator[str]:
    """A stand-in push endpoint on loopback; its URL as Uptime Kuma shows it (with a query to drop)."""
    Kuma.pushes = []
    server = HTTPServer(("127.0.0.1", 0), Kuma)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/push/T0KEN?status=up&msg=OK&ping="
    server.shutdown()
    server.server_close()


def heartbeat(rc: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "UPTIME_KUMA_PUSH_URL"}
    if url is not None:
        env["UPTIME_KUMA_PUSH_URL"] = url
    return subprocess.run(["sh", str(SCRIPT), "heartbeat", rc], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


@pytest.mark.parametrize(("rc", "status", "msg"), [
    ("0", "up", "exit 0: all checks passed"),
    ("7", "up", "exit 7: passed, with waived or skipped checks"),
    ("1", "down", "exit 1: checks failed"),
    ("6", "down", "exit 6: a host is unreachable"),
    ("none", "down", "exit none: the run did not complete"),
])
def test_heartbeat_says_up_or_down(kuma: str, rc: str, status: str, msg: str) -> None:
    """Exit codes 0 and 7 push `up`, anything else `down`, with the meaning; the pasted query is replaced."""
    done = heartbeat(rc, kuma)
    assert done.returncode == 0, done.stderr
    assert Kuma.pushes == [{"path": "/api/push/T0KEN", "status": [status], "msg": [msg], "ping": [""]}]


def test_heartbeat_never_fails_the_run(kuma: str) -> None:
    """No URL: nothing is sent. Kuma unreachable: a message, exit 0 (the missing heartbeat alerts)."""
    done = heartbeat("0", None)
    assert (done.returncode, Kuma.pushes) == (0, [])
    assert "UPTIME_KUMA_PUSH_URL is not set" in done.stdout
    done = heartbeat("0", "http://127.0.0.1:9/api/push/T0KEN")
    assert done.returncode == 0
    assert "the heartbeat to Uptime Kuma failed" in done.stderr


def test_run_passes_the_exit_code_and_publishes_the_metrics(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """`compliance.sh run` in a checkout: the suite's exit code, the report directory, the textfile copy."""
    project = make_project(pytester, {"test_audit.py": AUDIT_SPECS})
    (project.path / "deploy").mkdir()
    shutil.copy(SCRIPT, project.path / "deploy/compliance.sh")
    (project.path / ".venv/bin").mkdir(parents=True)
    (project.path / ".venv/bin/pytest").symlink_to(Path(sys.executable).with_name("pytest"))
    textfile, reports = tmp_path / "textfile", tmp_path / "state"
    textfile.mkdir()
    env = {**os.environ, "HOMELAB_REPORT_DIR": str(reports), "HOMELAB_TEXTFILE_DIR": str(textfile)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    set_faults(project, "timezone")
    done = subprocess.run(["sh", "compliance.sh", "run"], cwd=project.path / "deploy", env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "compliance: exit 1: checks failed" in done.stdout
    assert (reports / "report.html").is_file()
    assert len(list((reports / "history").glob("*.json"))) == 1
    assert [p.name for p in textfile.iterdir()] == ["homelab-compliance.prom"]
    assert (textfile / "homelab-compliance.prom").read_text() == (reports / "compliance.prom").read_text()


# -- systemd -------------------------------------------------------------------------------------------------
def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_service_runs_the_same_script_and_heartbeat() -> None:
    """The service runs deploy/compliance.sh, keeps history in its state directory, heartbeats however it ended."""
    service = unit("homelab-compliance.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"] == "/opt/homelab/deploy/compliance.sh run"
    assert service["ExecStopPost"] == "/opt/homelab/deploy/compliance.sh heartbeat ${EXIT_STATUS}"
    assert service["SuccessExitStatus"] == "7"
    assert service["Environment"] == f"HOMELAB_REPORT_DIR=/var/lib/{service['StateDirectory']}"
    timer = unit("homelab-compliance.timer")
    assert timer["Timer"]["Unit"] == "homelab-compliance.service"
    assert timer["Timer"]["Persistent"] == "true"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not found (no systemd here)")
def test_units_verify_with_systemd(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts both units (with this checkout for /opt/homelab) and the timer's calendar."""
    for path in UNITS.iterdir():
        (tmp_path / path.name).write_text(path.read_text().replace("/opt/homelab", str(REPO)))
    done = subprocess.run(["systemd-analyze", "verify", *sorted(map(str, tmp_path.iterdir()))],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "homelab-compliance" not in done.stderr, done.stderr
    calendar = unit("homelab-compliance.timer")["Timer"]["OnCalendar"]
    done = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
