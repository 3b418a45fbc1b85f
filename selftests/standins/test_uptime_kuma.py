"""The Uptime Kuma 1.23 stand-in (lab/standins/uptime-kuma): redirect, /metrics auth and content, push, status pages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_helpers import free_port, wait_until

from homelab.model.paths import REPO

SERVER = REPO / "lab" / "standins" / "uptime-kuma" / "standin.py"
HOST = "127.0.0.1"
TIMEOUT = 5.0
USER = ("admin", "lab-password-1")
PUSH_TOKEN = "pushtoken123"


@dataclass
class Kuma:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Kuma:
        self.port = self.port or free_port()
        env = os.environ | self.env | {"STANDIN_BIND": HOST, "UPTIME_KUMA_PORT": str(self.port),
                                       "STANDIN_DATA_DIR": str(self.data_dir)}
        self.process = subprocess.Popen([sys.executable, str(SERVER)], env=env)
        wait_until(f"the Uptime Kuma stand-in on port {self.port}", self._up)
        return self

    def _up(self) -> bool:
        try:
            return self.get("/").status_code == 302
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"http://{HOST}:{self.port}{path}", timeout=TIMEOUT, **kwargs)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"hello lab")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def kuma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kuma]:
    backend = ThreadingHTTPServer((HOST, 0), _Ok)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    directory = tmp_path_factory.mktemp("kuma")
    seed = {"monitors": [
        {"name": "web", "type": "http", "url": f"http://{HOST}:{backend.server_address[1]}/", "interval": 1},
        {"name": "word", "type": "keyword", "url": f"http://{HOST}:{backend.server_address[1]}/", "keyword": "lab",
         "interval": 1},
        {"name": "closed", "type": "port", "hostname": HOST, "port": free_port(), "interval": 1, "timeout": 1},
        {"name": "job", "type": "push", "pushToken": PUSH_TOKEN, "interval": 60}],
        "status_pages": [{"slug": "home", "title": "Home", "groups": [{"name": "Services", "monitorList": [1, 3]}]}]}
    (directory / "seed.json").write_text(json.dumps(seed))
    server = Kuma(directory / "data", {"UPTIME_KUMA_USERNAME": USER[0], "UPTIME_KUMA_PASSWORD": USER[1],
                                       "STANDIN_SEED": str(directory / "seed.json")}).start()
    yield server
    server.stop()
    backend.shutdown()


def sample(text: str, metric: str, name: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(metric + "{") and f'monitor_name="{name}"' in line:
            return line.rsplit(" ", 1)[1]
    return None


def test_root_redirects_to_setup_without_user(tmp_path: Path) -> None:
    """With no user, GET / answers 302 to /setup (the image's healthcheck wants a 302)."""
    server = Kuma(tmp_path).start()
    try:
        assert server.get("/").headers["location"] == "/setup"
    finally:
        server.stop()


def test_root_redirects_to_dashboard_with_user(kuma: Kuma) -> None:
    """Once the first user exists, GET / answers 302 to /dashboard."""
    response = kuma.get("/")
    assert (response.status_code, response.headers["location"]) == (302, "/dashboard")


def test_metrics_without_auth_is_401_with_challenge(kuma: Kuma) -> None:
    """/metrics without credentials answers 401 with a Basic challenge."""
    response = kuma.get("/metrics")
    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Basic")


def test_metrics_with_wrong_password_is_401(kuma: Kuma) -> None:
    """/metrics with a wrong password is refused."""
    assert kuma.get("/metrics", auth=(USER[0], "nope")).status_code == 401


def test_metrics_report_real_checks_with_123_labels(kuma: Kuma) -> None:
    """The http and keyword monitors are UP, the closed port DOWN, with the 1.23 label set."""
    def checked() -> bool:
        text = kuma.get("/metrics", auth=USER).text
        return all(sample(text, "monitor_status", n) is not None for n in ("web", "word", "closed"))

    wait_until("all three monitors checked", checked)
    text = kuma.get("/metrics", auth=USER).text
    assert (sample(text, "monitor_status", "web"), sample(text, "monitor_status", "word")) == ("1", "1")
    assert sample(text, "monitor_status", "closed") == "0"
    assert 'monitor_type="port",monitor_url="null",monitor_hostname="127.0.0.1"' in text
    assert "# TYPE monitor_response_time gauge" in text


def test_push_known_token_is_ok(kuma: Kuma) -> None:
    """A push to a push monitor's token answers {"ok":true} and shows in /metrics."""
    response = kuma.get(f"/api/push/{PUSH_TOKEN}?status=up&msg=OK&ping=12")
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert sample(kuma.get("/metrics", auth=USER).text, "monitor_response_time", "job") == "12.0"


def test_push_unknown_token_is_404(kuma: Kuma) -> None:
    """A push to an unknown token answers 404 with Uptime Kuma's message."""
    response = kuma.get("/api/push/unknown")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "msg": "Monitor not found or not active."}


def test_status_page_has_123_shape(kuma: Kuma) -> None:
    """The status page answers config, incident (1.23), publicGroupList and maintenanceList."""
    body = kuma.get("/api/status-page/home").json()
    assert set(body) == {"config", "incident", "publicGroupList", "maintenanceList"}
    assert body["publicGroupList"][0]["monitorList"][0] == {"id": 1, "name": "web", "sendUrl": 0, "type": "http"}


def test_status_page_heartbeats(kuma: Kuma) -> None:
    """The heartbeat list has the page's monitors, msg always empty, and a 24 h uptime ratio."""
    wait_until("a heartbeat for monitor 1", lambda: bool(kuma.get("/api/status-page/heartbeat/home")
                                                         .json()["heartbeatList"].get("1")))
    body = kuma.get("/api/status-page/heartbeat/home").json()
    assert body["heartbeatList"]["1"][-1]["msg"] == ""
    assert body["uptimeList"]["1_24"] == 1


def test_state_survives_restart(kuma: Kuma) -> None:
    """The user, monitors and heartbeats persist across a restart."""
    kuma.stop()
    kuma.start()
    response = kuma.get("/metrics", auth=USER)
    assert response.status_code == 200
    assert sample(response.text, "monitor_status", "job") == "1"
