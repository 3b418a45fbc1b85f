"""Edge stacks in the Portainer Agent stand-in (agent_stacks.py, as agent 2.23.0's edge/stack/stack.go): a poll lists
the stacks, the agent fetches each one, runs docker-compose and reports 3, 8, 1, 7 (or 2), and takes a stack that
left the list down (9, 4). Portainer is faked here over HTTPS verified through SSL_CERT_FILE; docker-compose is a
recorder that logs argv, cwd and environment and answers `ps` for the projects it has brought up."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from selfsigned import self_signed
from standin_helpers import wait_until
from test_portainer_agent import start_agent, stop

EDGE_ID, ENDPOINT = "edge-stacks-selftest", 7
ENTRY = "stacks/web/compose.yaml"
COMPOSE = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      KEY: ${WEBUI_SECRET_KEY}\n"
RECORDER = """import json, os, sys
state = os.environ["COMPOSE_STATE"]
args, i, project, sub = sys.argv[1:], 0, "", ""
while i < len(args):
    if args[i] in ("-f", "--project-name"):
        project = args[i + 1] if args[i] == "--project-name" else project
        i += 2
        continue
    sub = args[i]
    break
with open(os.path.join(state, "runs.jsonl"), "a") as out:
    out.write(json.dumps({"argv": args, "cwd": os.getcwd(),
                          "env": {k: os.environ.get(k) for k in ("PORTAINER_EDGE_ID", "WEBUI_SECRET_KEY")}}) + "\\n")
fail = os.path.join(state, "fail-" + sub)
if os.path.exists(fail):
    sys.stderr.write(open(fail).read())
    sys.exit(1)
up = os.path.join(state, "up-" + project)
if sub == "up":
    ps = os.path.join(state, "ps-output")
    line = {"Name": project + "-web-1", "Service": "web", "State": "running", "ExitCode": 0, "Health": ""}
    text = open(ps).read() if os.path.exists(ps) else json.dumps(line) + "\\n"
    open(up, "w").write(text.replace("PROJECT", project))
elif sub == "down" and os.path.exists(up):
    os.remove(up)
elif sub == "ps" and os.path.exists(up):
    sys.stdout.write(open(up).read())
"""


def payload(name: str, compose: str) -> dict[str, Any]:
    """edge.StackPayload as CE 2.23 serves it: LoadDir + FilterDirForEntryFile, base64 content, zero values."""
    entries = [{"Name": "stacks", "Content": "", "IsFile": False, "Permissions": 0o755},
               {"Name": "stacks/web", "Content": "", "IsFile": False, "Permissions": 0o755},
               {"Name": ENTRY, "Content": base64.b64encode(compose.encode()).decode(), "IsFile": True,
                "Permissions": 0o644}]
    return {"DirEntries": entries, "EntryFileName": ENTRY, "StackFileContent": "", "Name": name,
            "Namespace": "default", "ID": 0, "Version": 0, "RollbackTo": None, "RegistryCredentials": None,
            "PrePullImage": False, "RePullImage": False, "RetryDeploy": False, "EdgeUpdateID": 0,
            "SupportRelativePath": False, "FilesystemPath": "", "EnvVars": None, "ReadyRePullImage": False}


class FakePortainer(ThreadingHTTPServer):
    """The three Edge routes the agent calls; what the poll lists, and what each route answers, can be changed."""

    daemon_threads = True

    def __init__(self, cert: tuple[Path, Path]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*map(str, cert))
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.lock = threading.Lock()
        self.stacks: list[dict[str, Any]] = []
        self.configs: dict[int, dict[str, Any]] = {}
        self.poll_code, self.fetch_code, self.status_failures = 200, 200, 0
        self.polls: list[tuple[int, dict[str, str]]] = []
        self.fetches: list[tuple[str, dict[str, str]]] = []
        self.puts: list[tuple[int, int, dict[str, Any], dict[str, str]]] = []  # (stack, answer code, body, headers)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def publish(self, ident: int, version: int, name: str = "web", compose: str = COMPOSE) -> None:
        with self.lock:
            self.configs[ident] = payload(name, compose)
            self.stacks = [s for s in self.stacks if s["ID"] != ident] + [{"ID": ident, "Version": version}]

    def withdraw(self, ident: int) -> None:
        with self.lock:
            self.stacks = [s for s in self.stacks if s["ID"] != ident]

    def statuses(self, ident: int) -> list[int]:
        with self.lock:
            return [body["Status"] for stack, code, body, _ in self.puts if stack == ident and code == 200]

    def errors(self, ident: int) -> list[str]:
        with self.lock:
            return [body["Error"] for stack, code, body, _ in self.puts if stack == ident and body["Error"]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakePortainer

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if code == 304 else json.dumps(body).encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        fake, headers = self.server, dict(self.headers.items())
        if self.path == f"/api/endpoints/{ENDPOINT}/edge/status":
            with fake.lock:
                fake.polls.append((fake.poll_code, headers))
                code, stacks = fake.poll_code, list(fake.stacks)
            if code != 200:
                self._send(code, {"message": "Permission denied to access environment", "details": "Unauthorized"})
                return
            body = {"status": "IDLE", "port": 0, "schedules": [], "checkin": 0, "credentials": "", "stacks": stacks}
            etag = hashlib.sha256(json.dumps(body).encode()).hexdigest()[:8]
            matched = etag in [tag.strip() for tag in headers.get("If-None-Match", "").split(",")]
            self._send(304 if matched else 200, body, {"ETag": etag})
            return
        prefix = f"/api/endpoints/{ENDPOINT}/edge/stacks/"
        if self.path.startswith(prefix):
            with fake.lock:
                fake.fetches.append((self.path, headers))
                code, config = fake.fetch_code, fake.configs.get(int(self.path[len(prefix):].split("?")[0]))
            if code != 200 or config is None:
                self._send(code if code != 200 else 404, {"message": "Permission denied to access environment"})
                return
            self._send(200, config)
            return
        self._send(404, {"message": "not found"})

    def do_PUT(self) -> None:
        fake = self.server
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        ident = int(self.path.split("/")[3])
        with fake.lock:
            code = 503 if fake.status_failures > 0 else 200
            fake.status_failures -= 1 if code == 503 else 0
            fake.puts.append((ident, code, body, dict(self.headers.items())))
        self._send(code, None if code == 200 else {"message": "busy"})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Rig:
    portainer: FakePortainer
    state: Path
    files: Path
    log: Path

    def runs(self, *subcommands: str) -> list[dict[str, Any]]:
        """The recorded compose runs whose subcommand is one of `subcommands` (all but `ps` when none is named)."""
        record = self.state / "runs.jsonl"
        found = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        wanted = set(subcommands) or {"config", "up", "down"}
        return [run for run in found if set(run["argv"]) & wanted]

    def wait_statuses(self, ident: int, expected: list[int], seconds: float = 20) -> None:
        __tracebackhide__ = True
        wait_until(f"statuses {expected} for stack {ident} (log: {self.log})",
                   lambda: self.portainer.statuses(ident) == expected, seconds)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """An Edge agent stand-in polling a fake Portainer every 0.3 s, docker-compose recorded in tmp_path/compose."""
    cert = self_signed(tmp_path, "fake-portainer", x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    portainer = FakePortainer(cert)
    state, files = tmp_path / "compose", tmp_path / "edge_stacks"
    state.mkdir()
    recorder = tmp_path / "docker-compose"
    recorder.write_text(f"#!{sys.executable}\n{RECORDER}")
    recorder.chmod(0o755)
    key = base64.b64encode(f"{portainer.base}|127.0.0.1:8000|fp|{ENDPOINT}".encode()).rstrip(b"=").decode()
    env = {"EDGE": "1", "EDGE_ID": EDGE_ID, "EDGE_KEY": key, "EDGE_INSECURE_POLL": "0", "SSL_CERT_FILE": str(cert[0]),
           "EDGE_POLL_INTERVAL": "0.3", "COMPOSE_BINARY": str(recorder), "COMPOSE_STATE": str(state),
           "EDGE_STACK_FILES_PATH": str(files), "EDGE_STACK_QUEUE_SLEEP": "0.2", "EDGE_STACK_STATUS_TIMEOUT": "5",
           "EDGE_STACK_RETRY_WAIT": "0.2", "WEBUI_SECRET_KEY": "from-the-agent-env", "LOG_LEVEL": "DEBUG"}
    log = tmp_path / "agent.log"
    saved_tz = os.environ.pop("TZ", None)  # the agent reports Go's time.Local name: "Local" without TZ
    try:
        process = start_agent(env, log)
    finally:
        if saved_tz is not None:
            os.environ["TZ"] = saved_tz
    try:
        yield Rig(portainer, state, files, log)
    finally:
        stop(process)
        portainer.shutdown()
        portainer.server_close()


def deployed(rig: Rig, ident: int = 1, version: int = 1) -> None:
    rig.portainer.publish(ident, version)
    rig.wait_statuses(ident, [3, 8, 1, 7])


def test_poll_fetch_and_deploy_report_3_8_1_7(rig: Rig) -> None:
    """A listed stack is fetched (?version=N, Edge ID header), written under <files>/<id>, validated and brought up
    as edge_<Name> in that folder with the agent's environment plus PORTAINER_EDGE_ID, then copied to .success."""
    deployed(rig)
    folder = (rig.files / "1").resolve()
    path, headers = rig.portainer.fetches[0]
    assert (path, headers["X-PortainerAgent-EdgeID"]) == (f"/api/endpoints/{ENDPOINT}/edge/stacks/1?version=1", EDGE_ID)
    file = f"{rig.files}/1/{ENTRY}"
    runs = rig.runs()
    assert [run["argv"] for run in runs] == [["-f", file, "config", "--quiet"],
                                             ["-f", file, "--project-name", "edge_web", "up", "-d"]]
    for run in runs:
        assert Path(run["cwd"]).resolve() == folder
        assert run["env"] == {"PORTAINER_EDGE_ID": EDGE_ID, "WEBUI_SECRET_KEY": "from-the-agent-env"}
    assert rig.runs("ps")[0]["argv"] == ["--project-name", "edge_web", "ps", "-a", "--format", "json"]
    assert (folder / ENTRY).read_text() == COMPOSE
    assert (folder / ENTRY).stat().st_mode & 0o777 == 0o644
    assert (rig.files / "1.success" / ENTRY).read_text() == COMPOSE
    _stack, _code, body, put_headers = rig.portainer.puts[0]
    assert list(body) == ["Error", "Status", "EndpointID", "Time"]
    assert (body["Error"], body["EndpointID"]) == ("", ENDPOINT)
    assert abs(body["Time"] - time.time()) < 60
    assert (put_headers["X-PortainerAgent-EdgeID"], put_headers["X-Portainer-No-Body"]) == (EDGE_ID, "1")
    assert "Content-Type" not in put_headers
    poll = rig.portainer.polls[-1][1]
    assert (poll["Portainer-Agent"], poll["Portainer-Agent-Platform"], poll["X-PortainerAgent-Update-ID"]) == (
        "2.23.0", "1", "0")
    assert poll["X-PortainerAgent-TimeZone"] == ("Local" if os.path.isfile("/etc/localtime") else "UTC")
    assert poll["If-None-Match"]  # the ETag of the answer it keeps (304s are served from it)
    time.sleep(1)
    assert len(rig.portainer.fetches) == 1, "an unchanged Version is not fetched again"


def test_version_bump_redeploys_on_the_same_project(rig: Rig) -> None:
    """A new Version is fetched and deployed again on edge_<Name> with the new file (no --force-recreate); ps
    output as one JSON array (older compose v2) is read too."""
    deployed(rig)
    (rig.state / "ps-output").write_text(json.dumps([{"Name": "PROJECT-web-1", "State": "running", "ExitCode": 0}]))
    changed = COMPOSE.replace("1.27", "1.28")
    rig.portainer.publish(1, 2, compose=changed)
    rig.wait_statuses(1, [3, 8, 1, 7, 3, 8, 1, 7])
    assert rig.portainer.fetches[-1][0].endswith("/edge/stacks/1?version=2")
    ups = [run["argv"] for run in rig.runs("up")]
    assert ups == [["-f", f"{rig.files}/1/{ENTRY}", "--project-name", "edge_web", "up", "-d"]] * 2
    assert (rig.files / "1" / ENTRY).read_text() == changed
    assert (rig.files / "1.success" / ENTRY).read_text() == changed


def test_stack_left_out_of_the_poll_is_taken_down(rig: Rig) -> None:
    """A stack missing from the list: `down --remove-orphans` (volumes kept) in the .success folder, 9, then 4 once
    `ps` is empty; both folders are removed."""
    deployed(rig)
    rig.portainer.withdraw(1)
    rig.wait_statuses(1, [3, 8, 1, 7, 9, 4])
    down = rig.runs("down")
    assert [run["argv"] for run in down] == [["--project-name", "edge_web", "down", "--remove-orphans"]]
    assert down[0]["cwd"].endswith("/edge_stacks/1.success")
    assert down[0]["env"]["PORTAINER_EDGE_ID"] == EDGE_ID
    assert not (rig.files / "1").exists()
    assert not (rig.files / "1.success").exists()


def test_failing_up_reports_2_with_compose_stderr(rig: Rig) -> None:
    """`up -d` failing: 3, 8, 2 "failed to redeploy stack: <stderr>"; no .success copy, no retry (RetryDeploy is
    EE)."""
    (rig.state / "fail-up").write_text("Error response from daemon: pull access denied for nginx")
    rig.portainer.publish(1, 1)
    rig.wait_statuses(1, [3, 8, 2])
    assert rig.portainer.errors(1) == ["failed to redeploy stack: Error response from daemon: pull access denied "
                                       "for nginx"]
    assert not (rig.files / "1.success").exists()
    time.sleep(1)
    assert len(rig.runs("up")) == 1
    assert rig.portainer.statuses(1) == [3, 8, 2]


def test_failing_validation_reports_2_and_never_runs_up(rig: Rig) -> None:
    """`config --quiet` failing: 3, 2 "failed to validate stack: <stderr>". Removing that stack then fails: its
    `down` runs in a .success folder that was never made (Go's chdir error), so no 9 or 4 follows."""
    (rig.state / "fail-config").write_text("yaml: line 2: did not find expected key")
    rig.portainer.publish(1, 1)
    rig.wait_statuses(1, [3, 2])
    assert rig.portainer.errors(1) == ["failed to validate stack: yaml: line 2: did not find expected key"]
    assert rig.runs("up") == []
    rig.portainer.withdraw(1)
    wait_until("the failed removal logged", lambda: "unable to remove Edge stack 1" in rig.log.read_text(), 10)
    assert "chdir " in rig.log.read_text()
    assert rig.portainer.statuses(1) == [3, 2]


def test_refused_poll_forgets_the_stacks_and_the_next_poll_redeploys(rig: Rig) -> None:
    """A non-2xx poll resets the agent's table: the next good poll (a 304 served from the cached body) fetches and
    deploys the same Version again."""
    deployed(rig)
    with rig.portainer.lock:
        rig.portainer.poll_code = 403
    wait_until("a refused poll", lambda: any(code == 403 for code, _ in rig.portainer.polls), 5)
    with rig.portainer.lock:
        rig.portainer.poll_code = 200
    rig.wait_statuses(1, [3, 8, 1, 7, 3, 8, 1, 7])
    assert len(rig.runs("up")) == 2
    assert len(rig.portainer.fetches) == 2


def test_refused_fetch_deploys_nothing_and_is_tried_again_each_poll(rig: Rig) -> None:
    """GET .../edge/stacks/{id} answering 403: nothing is written, run or reported; the stack never enters the
    table, so every later poll fetches it again, and it deploys once the fetch is allowed."""
    with rig.portainer.lock:
        rig.portainer.fetch_code = 403
    rig.portainer.publish(1, 1)
    wait_until("three refused fetches", lambda: len(rig.portainer.fetches) >= 3, 10)
    assert rig.portainer.puts == []
    assert rig.runs() == []
    assert not (rig.files / "1").exists()
    assert "GetEdgeStackConfig operation failed" in rig.log.read_text()
    with rig.portainer.lock:
        rig.portainer.fetch_code = 200
    rig.wait_statuses(1, [3, 8, 1, 7])


def test_service_exited_non_zero_reports_2(rig: Rig) -> None:
    """A container exited with a non-zero code while waiting for Running: 2 "service <container> exited with code N"."""
    line = {"Name": "PROJECT-web-1", "Service": "web", "State": "exited", "ExitCode": 3}
    (rig.state / "ps-output").write_text(json.dumps(line) + "\n")
    rig.portainer.publish(1, 1)
    rig.wait_statuses(1, [3, 8, 1, 2])
    assert rig.portainer.errors(1) == ["service edge_web-web-1 exited with code 3"]


def test_status_put_is_retried_on_5xx(rig: Rig) -> None:
    """SetEdgeStackStatus retries a 5xx (every EDGE_STACK_RETRY_WAIT; upstream 5 s) until Portainer takes it."""
    with rig.portainer.lock:
        rig.portainer.status_failures = 2
    deployed(rig)
    assert [code for _, code, _, _ in rig.portainer.puts[:3]] == [503, 503, 200]


def test_poll_during_a_status_wait_is_applied_after_it(rig: Rig) -> None:
    """A container stuck `restarting` keeps the agent waiting (EDGE_STACK_STATUS_TIMEOUT, 5 s here; a minute
    upstream, which holds its lock and stops polling meanwhile). Here check-ins go on, and the removal a poll asks
    for runs once the wait is over, as upstream's blocked poll would: 9 and 4 follow 1, no 7."""
    line = {"Name": "PROJECT-web-1", "Service": "web", "State": "restarting", "ExitCode": 0}
    (rig.state / "ps-output").write_text(json.dumps(line) + "\n")
    rig.portainer.publish(1, 1)
    rig.wait_statuses(1, [3, 8, 1])
    polls = len(rig.portainer.polls)
    rig.portainer.withdraw(1)
    time.sleep(1.5)
    assert len(rig.portainer.polls) >= polls + 3
    assert rig.portainer.statuses(1) == [3, 8, 1]
    assert rig.runs("down") == []
    rig.wait_statuses(1, [3, 8, 1, 9, 4])
