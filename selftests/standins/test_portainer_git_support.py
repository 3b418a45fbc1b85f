"""Support for the Git stack selftests (no tests here): a bare repository served over smart HTTP by
`git http-backend`, a recording `docker-compose`, and a stand-in with a local Docker environment."""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_helpers import FakeDocker
from test_portainer import DOCKER, PASSWORD, SECRET, Portainer, login

COMPOSE = "services:\n  web:\n    image: nginx:1.27\n"
RECORDER = """import json, os, sys
record = {"argv": sys.argv[1:], "cwd": os.getcwd(), "env": None, "ping": None}
if "--host" in sys.argv:  # ask the Docker API through the stand-in's agent proxy while it is open
    import http.client
    host = sys.argv[sys.argv.index("--host") + 1].removeprefix("tcp://")
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request("GET", "/_ping")
    answer = conn.getresponse()
    record["ping"] = [answer.status, answer.read().decode()]
if "--env-file" in sys.argv:
    with open(sys.argv[sys.argv.index("--env-file") + 1]) as handle:
        record["env"] = handle.read()
with open(os.environ["COMPOSE_RECORD"], "a") as out:
    out.write(json.dumps(record) + "\\n")
fail = os.environ["COMPOSE_RECORD"] + ".fail"
if os.path.exists(fail) and "up" in sys.argv:
    sys.stderr.write(open(fail).read())
    sys.exit(1)
"""


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class _Backend(BaseHTTPRequestHandler):
    """CGI glue for git http-backend (smart HTTP), one process per request."""

    server: GitServer

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        env = {**os.environ, "GIT_PROJECT_ROOT": str(self.server.root), "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(length),
               "REMOTE_ADDR": "127.0.0.1", "GIT_HTTP_MAX_REQUEST_BUFFER": "100M"}
        body = self.rfile.read(length) if length else b""
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        headers = [line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line]
        status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
        self.send_response(status)
        for name, value in headers:
            if name.lower() != "status":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _cgi

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GitServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, cert: tuple[Path, Path] | None = None) -> None:
        self.root, self.scheme = root, "https" if cert else "http"
        super().__init__(("127.0.0.1", 0), _Backend)
        if cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, cert))
            self.socket = context.wrap_socket(self.socket, server_side=True)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"


@dataclass
class Repo:
    """A bare repository `homelab.git` under the server root and a work tree that pushes to it."""

    url: str
    work: Path

    def commit(self, files: dict[str, str], message: str = "change") -> str:
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def make_repo(root: Path, name: str, base: str) -> Repo:
    bare, work = root / f"{name}.git", root / f"{name}-work"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=root)
    git("init", "-q", "-b", "main", str(work), cwd=root)
    for key, value in (("user.email", "ops@lab"), ("user.name", "ops")):
        git("config", key, value, cwd=work)
    git("remote", "add", "origin", str(bare), cwd=work)
    return Repo(f"{base}/{name}.git", work)


@dataclass
class Lab:
    """The stand-in (admin JWT in `api`), a local environment over a fake engine, and the compose recorder."""

    portainer: Portainer
    api: httpx.Client
    endpoint_id: int
    record: Path
    data: Path
    socket: str

    def runs(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture(scope="module")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git"))
    yield server
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def running_lab(work: Path, **env: str) -> Iterator[Lab]:
    """The stand-in (data in WORK/data, `env` added to its environment) with its admin made and a local environment
    on a fake engine; docker-compose is the recorder, which writes each run to WORK/compose.jsonl."""
    engine = FakeDocker(os.path.join(tempfile.mkdtemp(prefix="fd-"), "docker.sock"), {**DOCKER, "/containers/json": []})
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    recorder, record = work / "docker-compose", work / "compose.jsonl"
    recorder.write_text(f"#!{sys.executable}\n{RECORDER}")
    recorder.chmod(0o755)
    (work / "data").mkdir(exist_ok=True)
    portainer = Portainer(work / "data", COMPOSE_BINARY=str(recorder), COMPOSE_RECORD=str(record), **env)
    try:
        with portainer.client() as client:
            client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD})
        with portainer.client(login(portainer)) as api:
            made = api.post("/api/endpoints", data={"Name": "local", "EndpointCreationType": "1",
                                                    "URL": f"unix://{engine.server_address}"})
            yield Lab(portainer, api, made.json()["Id"], record, work / "data", engine.server_address)
    finally:
        portainer.stop()
        engine.shutdown()
        engine.server_close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("portainer-git"), AGENT_SECRET=SECRET) as found:
        yield found


def create(lab: Lab, **payload: Any) -> httpx.Response:
    return lab.api.post("/api/stacks/create/standalone/repository", params={"endpointId": lab.endpoint_id},
                        json=payload)
