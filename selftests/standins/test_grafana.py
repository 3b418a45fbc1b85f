"""The Grafana 11.5 stand-in (lab/standins/grafana): the repo's provisioning, auth, health, datasources, dashboards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest
from standin_helpers import HOST, free_port, wait_until

from homelab.model.paths import REPO

SERVER = REPO / "lab" / "standins" / "grafana" / "standin.py"
GRAFANA_FILES = REPO / "stacks" / "monitoring" / "grafana"
ADMIN = ("admin", "lab-grafana-pw")
TEST_DATASOURCES = """apiVersion: 1
datasources:
  - {name: Fake Prometheus, type: prometheus, uid: fake-prom, url: "${FAKE_PROM_URL}", jsonData: {note: "$$5"}}
  - {name: Down, type: prometheus, uid: down, url: "http://127.0.0.1:$CLOSED_PORT", jsonData: {httpMethod: GET}}
"""
SCRATCH_PROVIDER = """apiVersion: 1
providers:
  - {name: scratch, folder: Scratch, type: file, updateIntervalSeconds: 1, options: {path: "$SCRATCH_DIR"}}
"""


@dataclass
class Grafana:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Grafana:
        self.port = self.port or free_port()
        env = os.environ | {"GF_SERVER_HTTP_ADDR": HOST, "GF_SERVER_HTTP_PORT": str(self.port),
                            "GF_PATHS_PROVISIONING": str(self.root / "provisioning"),
                            "GF_PATHS_DATA": str(self.root / "data"), "GF_SECURITY_ADMIN_PASSWORD": ADMIN[1]} | self.env
        self.process = subprocess.Popen([sys.executable, str(SERVER)], env=env)
        wait_until(f"the Grafana stand-in on port {self.port}", self._up)
        return self

    def _up(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, "the stand-in exited"
        try:
            return self.get("/api/health", auth=None).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)

    def get(self, path: str, auth: tuple[str, str] | None = ADMIN, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"http://{HOST}:{self.port}{path}", auth=auth, timeout=10, **kwargs)

    def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, f"http://{HOST}:{self.port}{path}", json=body, auth=ADMIN, timeout=10)


class FakePrometheus(BaseHTTPRequestHandler):
    """Answers the instant query and buildinfo as Prometheus 2.53 does; remembers what it was asked."""

    asked: ClassVar[list[tuple[str, str, dict[str, list[str]]]]] = []

    def _answer(self, query: str) -> None:
        path = self.path.split("?")[0]
        FakePrometheus.asked.append((self.command, path, parse_qs(query)))
        data: Any = [1.7e9, "2"] if path == "/api/v1/query" else {"version": "2.53.3", "revision": "x"}
        body = json.dumps({"status": "success", "data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(self.path.partition("?")[2])

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers["Content-Length"])).decode())

    def log_message(self, format: str, *args: Any) -> None:
        return


def provisioning(root: Path) -> None:
    """The repo's grafana/ files, the dashboards provider pointed at a copy of its dashboards folder."""
    shutil.copytree(GRAFANA_FILES / "provisioning", root / "provisioning")
    shutil.copytree(GRAFANA_FILES / "dashboards", root / "dashboards")
    provider = root / "provisioning" / "dashboards" / "homelab.yaml"
    provider.write_text(provider.read_text().replace("/etc/grafana/dashboards", str(root / "dashboards")))
    (root / "provisioning" / "datasources" / "test.yaml").write_text(TEST_DATASOURCES)
    (root / "provisioning" / "dashboards" / "scratch.yaml").write_text(SCRATCH_PROVIDER)
    (root / "scratch").mkdir()
    (root / "scratch" / "scratch.json").write_text(json.dumps({"uid": "scratch-1", "title": "Scratch One"}))


@pytest.fixture(scope="module")
def grafana(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grafana]:
    prometheus = ThreadingHTTPServer((HOST, 0), FakePrometheus)
    threading.Thread(target=prometheus.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("grafana")
    provisioning(root)
    env = {"FAKE_PROM_URL": f"http://{HOST}:{prometheus.server_address[1]}", "CLOSED_PORT": str(free_port()),
           "SCRATCH_DIR": str(root / "scratch")}
    server = Grafana(root, env).start()
    yield server
    server.stop()
    prometheus.shutdown()


def repo_dashboards() -> dict[str, str]:
    files = (json.loads(p.read_text()) for p in sorted((GRAFANA_FILES / "dashboards").glob("*.json")))
    return {d["uid"]: d["title"] for d in files}


def test_health_needs_no_login(grafana: Grafana) -> None:
    """/api/health answers Grafana 11.5.0's body without credentials; /healthz answers Ok."""
    health = grafana.get("/api/health", auth=None)
    assert (health.status_code, health.json()) == (200, {"commit": "4550cfb5b7", "database": "ok",
                                                         "version": "11.5.0"})
    assert grafana.get("/healthz", auth=None).text == "Ok"
    assert httpx.head(f"http://{HOST}:{grafana.port}/api/health").status_code == 200  # wget --spider


def test_every_repo_dashboard_is_provisioned(grafana: Grafana) -> None:
    """Each dashboard JSON of the repo is found by uid, in folder Homelab, marked provisioned."""
    hits = {h["uid"]: h for h in grafana.get("/api/search", params={"type": "dash-db"}).json()}
    for uid, title in repo_dashboards().items():
        assert (hits[uid]["title"], hits[uid]["folderTitle"]) == (title, "Homelab")
        meta = grafana.get(f"/api/dashboards/uid/{uid}").json()["meta"]
        assert (meta["provisioned"], meta["folderTitle"], meta["url"]) == (True, "Homelab", hits[uid]["url"])


def test_api_without_login_is_401(grafana: Grafana) -> None:
    """No credentials: 401 with Grafana's auth.unauthorized body."""
    response = grafana.get("/api/search", auth=None)
    assert (response.status_code, response.json()["messageId"]) == (401, "auth.unauthorized")


def test_api_with_wrong_password_is_401(grafana: Grafana) -> None:
    """A wrong password: 401 "Invalid username or password" (password-auth.failed)."""
    response = grafana.get("/api/datasources", auth=("admin", "wrong"))
    assert response.status_code == 401
    assert response.json() == {"extra": None, "message": "Invalid username or password",
                               "messageId": "password-auth.failed", "statusCode": 401, "traceID": ""}


def test_search_filters(grafana: Grafana) -> None:
    """query, tag, type, dashboardUIDs and limit narrow /api/search; folders come first."""
    uids = list(repo_dashboards())
    assert grafana.get("/api/search").json()[0]["type"] == "dash-folder"
    assert [h["uid"] for h in grafana.get("/api/search", params={"dashboardUIDs": uids[0]}).json()] == uids[:1]
    assert [h["title"] for h in grafana.get("/api/search", params={"query": "scratch ONE"}).json()] == ["Scratch One"]
    assert grafana.get("/api/search", params={"tag": ["homelab", "no-such-tag"]}).json() == []
    assert len(grafana.get("/api/search", params={"limit": 1}).json()) == 1
    assert grafana.get("/api/search", params={"limit": 5001}).status_code == 422


def test_datasources_from_provisioning(grafana: Grafana) -> None:
    """The repo's datasource (uid prometheus, read-only) is listed and found by uid and by name."""
    listed = {d["uid"]: d for d in grafana.get("/api/datasources").json()}
    assert (listed["prometheus"]["url"], listed["prometheus"]["readOnly"]) == ("http://prometheus:9090", True)
    by_name = grafana.get("/api/datasources/name/Prometheus").json()
    assert by_name == grafana.get("/api/datasources/uid/prometheus").json()
    assert by_name["jsonData"] == {"httpMethod": "POST", "timeInterval": "30s"}
    assert grafana.get("/api/datasources/uid/nope").status_code == 404


def test_provisioning_interpolates_env(grafana: Grafana) -> None:
    """${VAR} and $VAR come from the environment, $$ is a literal $."""
    fake = grafana.get("/api/datasources/uid/fake-prom").json()
    assert fake["url"].startswith(f"http://{HOST}:")
    assert fake["jsonData"] == {"note": "$5"}
    assert grafana.get("/api/datasources/uid/down").json()["url"] == f"http://127.0.0.1:{grafana.env['CLOSED_PORT']}"


def test_datasource_health_queries_prometheus(grafana: Grafana) -> None:
    """The health check POSTs query=1+1 to the datasource and answers OK with Prometheus details."""
    FakePrometheus.asked.clear()
    health = grafana.get("/api/datasources/uid/fake-prom/health")
    assert (health.status_code, health.json()["status"]) == (200, "OK")
    assert health.json()["message"] == "Successfully queried the Prometheus API."
    assert health.json()["details"] == {"application": "Prometheus", "features": {"rulerApiEnabled": False}}
    method, path, form = FakePrometheus.asked[0]
    assert (method, path, form["query"]) == ("POST", "/api/v1/query", ["1+1"])


def test_datasource_health_error_when_prometheus_is_down(grafana: Grafana) -> None:
    """A datasource nobody answers: 400, status ERROR, Grafana's wording of the refused connection."""
    health = grafana.get("/api/datasources/uid/down/health")
    assert (health.status_code, health.json()["status"]) == (400, "ERROR")
    assert health.json()["message"].startswith('Get "http://127.0.0.1:')
    assert health.json()["message"].endswith("connect: connection refused - There was an error returned querying "
                                             "the Prometheus API.")


def test_provisioned_dashboard_cannot_be_deleted_or_saved(grafana: Grafana) -> None:
    """The API refuses to delete or overwrite a provisioned dashboard, as Grafana does."""
    uid = next(iter(repo_dashboards()))
    assert grafana.send("DELETE", f"/api/dashboards/uid/{uid}").json() == {
        "message": "provisioned dashboard cannot be deleted"}
    saved = grafana.send("POST", "/api/dashboards/db", {"dashboard": {"uid": uid, "title": "x"}, "overwrite": True})
    assert (saved.status_code, saved.json()) == (400, {"message": "Cannot save provisioned dashboard"})


def test_api_dashboard_lifecycle(grafana: Grafana) -> None:
    """Create, version mismatch (412), overwrite, same name (412), delete, then 404."""
    new = {"dashboard": {"id": None, "uid": "api-made", "title": "API Made", "tags": ["t"]}}
    created = grafana.send("POST", "/api/dashboards/db", new).json()
    assert (created["status"], created["version"], created["url"]) == ("success", 1, "/d/api-made/api-made")
    assert grafana.send("POST", "/api/dashboards/db", new).json()["status"] == "version-mismatch"
    assert grafana.send("POST", "/api/dashboards/db", new | {"overwrite": True}).json()["version"] == 2
    clash = {"dashboard": {"uid": "other", "title": "API Made"}}
    assert grafana.send("POST", "/api/dashboards/db", clash).json()["status"] == "name-exists"
    assert grafana.send("DELETE", "/api/dashboards/uid/api-made").json()["message"] == "Dashboard API Made deleted"
    assert grafana.get("/api/dashboards/uid/api-made").status_code == 404


def test_folders(grafana: Grafana) -> None:
    """The provider's folder is listed; a folder made through the API is found by uid."""
    assert "Homelab" in [f["title"] for f in grafana.get("/api/folders").json()]
    made = grafana.send("POST", "/api/folders", {"uid": "made", "title": "Made"}).json()
    assert grafana.get("/api/folders/made").json()["title"] == made["title"] == "Made"


def test_deleted_provisioned_dashboard_returns_with_next_provisioning(grafana: Grafana) -> None:
    """Deleted behind the API's back (stand-in route), a provisioned dashboard is back within its interval."""
    before = grafana.get("/api/dashboards/uid/scratch-1").json()["dashboard"]["id"]
    assert grafana.send("DELETE", "/standin/dashboards/uid/scratch-1").status_code == 200
    # Not a 404 check right away: on a loaded machine the provisioner may already have put it back (CI saw it).
    wait_until("scratch-1 re-provisioned as a new row", lambda: grafana.get("/api/dashboards/uid/scratch-1").json()
               .get("dashboard", {}).get("id") not in (None, before), 5)
    wait_until("scratch-1 re-provisioned", lambda: grafana.get("/api/dashboards/uid/scratch-1").status_code == 200, 5)


def test_changed_and_removed_files_are_reprovisioned(grafana: Grafana) -> None:
    """A changed file raises the version; a removed file (disableDeletion false) removes its dashboard."""
    extra = grafana.root / "scratch" / "extra.json"
    extra.write_text(json.dumps({"uid": "extra", "title": "Extra"}))
    wait_until("extra provisioned", lambda: grafana.get("/api/dashboards/uid/extra").status_code == 200, 5)
    extra.write_text(json.dumps({"uid": "extra", "title": "Extra Renamed"}))
    wait_until("extra renamed", lambda: grafana.get("/api/dashboards/uid/extra").json()["dashboard"]["version"] == 2, 5)
    extra.unlink()
    wait_until("extra removed", lambda: grafana.get("/api/dashboards/uid/extra").status_code == 404, 5)


def test_state_and_admin_password_survive_restart(tmp_path: Path) -> None:
    """API-made dashboards persist; the admin password is the first start's, as in Grafana."""
    provisioning(tmp_path)
    first = Grafana(tmp_path, {"SCRATCH_DIR": str(tmp_path / "scratch")}).start()
    first.send("POST", "/api/dashboards/db", {"dashboard": {"uid": "kept", "title": "Kept"}})
    first.stop()
    second = Grafana(tmp_path, {"SCRATCH_DIR": str(tmp_path / "scratch"), "GF_SECURITY_ADMIN_PASSWORD": "new"})
    try:
        second.start()
        assert second.get("/api/dashboards/uid/kept").status_code == 200
        assert second.get("/api/search", auth=("admin", "new")).status_code == 401
    finally:
        second.stop()


def test_password_file_and_brute_force_protection(tmp_path: Path) -> None:
    """GF_SECURITY_ADMIN_PASSWORD__FILE is read; after 5 failures even the right password is refused."""
    provisioning(tmp_path)
    (tmp_path / "pw").write_text("from-file\n")
    server = Grafana(tmp_path, {"SCRATCH_DIR": str(tmp_path / "scratch"), "GF_SECURITY_ADMIN_PASSWORD": "",
                                "GF_SECURITY_ADMIN_PASSWORD__FILE": str(tmp_path / "pw")})
    try:
        server.start()
        assert server.get("/api/search", auth=("admin", "from-file")).status_code == 200
        for _ in range(5):
            server.get("/api/search", auth=("admin", "wrong"))
        assert server.get("/api/search", auth=("admin", "from-file")).status_code == 401
    finally:
        server.stop()


def test_provisioning_error_stops_startup(tmp_path: Path) -> None:
    """Two default datasources in one org: the stand-in exits 1 at startup, as Grafana does."""
    provisioning(tmp_path)
    (tmp_path / "provisioning" / "datasources" / "second.yaml").write_text(
        "apiVersion: 1\ndatasources: [{name: Second, type: prometheus, isDefault: true}]\n")
    env = os.environ | {"GF_PATHS_PROVISIONING": str(tmp_path / "provisioning"), "GF_PATHS_DATA": str(tmp_path / "d"),
                        "GF_SERVER_HTTP_PORT": str(free_port()), "GF_SERVER_HTTP_ADDR": HOST}
    result = subprocess.run([sys.executable, str(SERVER)], env=env, capture_output=True, timeout=20, check=False)
    assert result.returncode == 1
    assert b"Only one datasource per organization can be marked as default" in result.stdout


def fresh(tmp_path: Path, **env: str) -> Grafana:
    """A Grafana stand-in with no provisioning, configured by `env` (GF_* variables)."""
    (tmp_path / "provisioning" / "datasources").mkdir(parents=True)
    (tmp_path / "provisioning" / "dashboards").mkdir()
    return Grafana(tmp_path, env).start()


def test_anonymous_off_by_default(grafana: Grafana) -> None:
    """As 11.5's defaults: without credentials every API call but /api/health is 401, and the settings say so."""
    assert grafana.get("/api/search", auth=None).status_code == 401
    assert grafana.get("/api/org", auth=None).status_code == 401
    settings = grafana.get("/api/frontend/settings").json()
    assert (settings["anonymousEnabled"], settings["disableUserSignUp"]) == (False, True)


def test_anonymous_admin_role_is_honoured(tmp_path: Path) -> None:
    """GF_AUTH_ANONYMOUS_ENABLED with org role Admin: a request without credentials reads and writes what an org
    admin may (datasources), but not what needs the server admin (admin stats: 403) or a real user (/api/user:
    401); wrong credentials are still refused (anonymous applies only to a request without any)."""
    server = fresh(tmp_path, GF_AUTH_ANONYMOUS_ENABLED="true", GF_AUTH_ANONYMOUS_ORG_ROLE="Admin")
    try:
        assert server.get("/api/datasources", auth=None).status_code == 200
        created = httpx.post(f"http://{HOST}:{server.port}/api/datasources", timeout=10,
                             json={"name": "Anon", "type": "prometheus", "url": "http://x:9090", "access": "proxy"})
        assert created.status_code == 200
        assert server.get("/api/admin/stats", auth=None).status_code == 403
        assert server.get("/api/user", auth=None).status_code == 401
        assert server.get("/api/search", auth=("admin", "wrong-password")).status_code == 401
        assert server.get("/api/frontend/settings", auth=None).json()["anonymousEnabled"] is True
    finally:
        server.stop()


def test_anonymous_viewer_reads_but_cannot_write(tmp_path: Path) -> None:
    """The default anonymous role, Viewer: search answers; saving a dashboard is 403 "Access denied"."""
    server = fresh(tmp_path, GF_AUTH_ANONYMOUS_ENABLED="true")
    try:
        assert server.get("/api/search", auth=None).status_code == 200
        saved = httpx.post(f"http://{HOST}:{server.port}/api/dashboards/db", timeout=10,
                           json={"dashboard": {"title": "Nope"}})
        assert (saved.status_code, saved.json()["title"]) == (403, "Access denied")
    finally:
        server.stop()


def test_sign_up_refused_unless_allowed(grafana: Grafana, tmp_path: Path) -> None:
    """POST /api/user/signup is 401 "User signup is disabled" by default (pkg/api/signup.go); allowed, it starts."""
    body = {"email": "mallory@example.com"}
    refused = httpx.post(f"http://{HOST}:{grafana.port}/api/user/signup", json=body, timeout=10)
    assert (refused.status_code, refused.json()) == (401, {"message": "User signup is disabled"})
    server = fresh(tmp_path, GF_USERS_ALLOW_SIGN_UP="true")
    try:
        started = httpx.post(f"http://{HOST}:{server.port}/api/user/signup", json=body, timeout=10)
        assert (started.status_code, started.json()) == (200, {"status": "SignUpCreated"})
    finally:
        server.stop()
