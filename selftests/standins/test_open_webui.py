"""The Open WebUI v0.6.5 stand-in (lab/standins/open-webui): health, version, config, the Ollama proxy, the secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_helpers import HOST, free_port, wait_until

from homelab.model.paths import REPO

STANDINS = REPO / "lab" / "standins"
SERVER = STANDINS / "open-webui" / "standin.py"
OLLAMA_CLI = STANDINS / "ollama" / "ollama_cli.py"
SECRET = "webui-selftest-secret-value"


@dataclass
class WebUI:
    base: str
    log: Path
    data_dir: Path

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=15)


def up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(5)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., WebUI]]:
    """Start stand-ins in `tmp_path` (their working directory, where the key file goes) on free ports."""
    processes: list[subprocess.Popen[bytes]] = []

    def run(**env: str) -> WebUI:
        port = free_port()
        data_dir, log = tmp_path / "data", tmp_path / f"webui-{port}.log"
        full_env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "HOST": HOST, "PORT": str(port),
                    "DATA_DIR": str(data_dir), "OLLAMA_BASE_URL": f"http://{HOST}:{free_port()}", **env}
        with log.open("wb") as out:
            processes.append(subprocess.Popen([sys.executable, str(SERVER)], env=full_env, cwd=tmp_path,
                                              stdout=out, stderr=out))
        base = f"http://{HOST}:{port}"
        wait_until(f"the Open WebUI stand-in on {base}", lambda: up(base + "/health"))
        return WebUI(base, log, data_dir)

    yield run
    for process in processes:
        stop(process)


@pytest.fixture
def ollama_versions() -> Iterator[Callable[[str], str]]:
    """Fake Ollama servers answering GET /api/version with a given version; returns their base URL."""
    servers: list[ThreadingHTTPServer] = []

    def serve(version: str) -> str:
        class Answer(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"version": version}).encode()
                self.send_response(200 if self.path == "/api/version" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((HOST, 0), Answer)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://{HOST}:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_health_version_and_ready(start: Callable[..., WebUI]) -> None:
    """/health, /health/db and /ready are {"status": true}; /api/version is 0.6.5; uvicorn's server header."""
    webui = start(WEBUI_SECRET_KEY=SECRET)
    for path in ("/health", "/health/db", "/ready"):
        response = webui.get(path)
        assert (response.status_code, response.json()) == (200, {"status": True}), path
    assert webui.get("/api/version").json() == {"version": "0.6.5"}
    assert webui.get("/health").headers["server"] == "uvicorn"
    assert (webui.data_dir / "webui.db").is_file()


def test_database_gone_fails_db_health_and_readiness(start: Callable[..., WebUI]) -> None:
    """Without its database /health stays true, /health/db is a plain 500 and /ready a 503."""
    webui = start(WEBUI_SECRET_KEY=SECRET)
    (webui.data_dir / "webui.db").unlink()
    assert webui.get("/health").json() == {"status": True}
    assert webui.get("/health/db").status_code == 500
    assert (webui.get("/ready").status_code, webui.get("/ready").json()) == (503, {"detail": "Database not ready"})


def test_config_for_a_visitor(start: Callable[..., WebUI]) -> None:
    """/api/config without a session: name, version, onboarding (no account yet) and the public features."""
    config = start(WEBUI_SECRET_KEY=SECRET, WEBUI_NAME="Lab", ENABLE_SIGNUP="false").get("/api/config").json()
    assert (config["status"], config["name"], config["version"], config["onboarding"]) == (
        True, "Lab (Open WebUI)", "0.6.5", True)
    assert config["features"]["auth"] is True
    assert config["features"]["enable_signup"] is False


def test_ollama_version_is_the_lowest_answering_backend(start: Callable[..., WebUI],
                                                        ollama_versions: Callable[[str], str]) -> None:
    """/ollama/api/version asks every OLLAMA_BASE_URLS backend and gives the lowest version; a dead one is skipped."""
    dead = f"http://{HOST}:{free_port()}"
    urls = ";".join([ollama_versions("0.5.1"), dead, ollama_versions("0.4.7") + "/"])
    webui = start(WEBUI_SECRET_KEY=SECRET, OLLAMA_BASE_URLS=urls.replace("/;", ";"))
    assert webui.get("/ollama/api/version").json() == {"version": "0.4.7"}
    assert webui.get("/ollama/api/version/0").json() == {"version": "0.5.1"}
    assert webui.get("/ollama/api/version/1").json() == {"detail": "Open WebUI: Server Connection Error"}


def test_ollama_unreachable_or_disabled(start: Callable[..., WebUI]) -> None:
    """No backend answering: 500 "WebUI could not connect to Ollama"; ENABLE_OLLAMA_API=false: version false."""
    missing = start(WEBUI_SECRET_KEY=SECRET).get("/ollama/api/version")
    assert (missing.status_code, missing.json()) == (500, {"detail": "WebUI could not connect to Ollama"})
    disabled = start(WEBUI_SECRET_KEY=SECRET, ENABLE_OLLAMA_API="false").get("/ollama/api/version")
    assert disabled.json() == {"version": False}


def test_logs_whether_the_ollama_stand_in_answers(start: Callable[..., WebUI]) -> None:
    """With OLLAMA_BASE_URL at the Ollama stand-in, the log says it answers, and the proxy gives its version."""
    port = free_port()
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", "OLLAMA_HOST": f"{HOST}:{port}"}
    ollama = subprocess.Popen([sys.executable, str(OLLAMA_CLI), "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until("the Ollama stand-in", lambda: up(f"http://{HOST}:{port}/api/version"))
        webui = start(WEBUI_SECRET_KEY=SECRET, OLLAMA_BASE_URL=f"http://{HOST}:{port}/")
        wait_until("the Ollama log line", lambda: "answers: version 0.5.1" in webui.log.read_text())
        assert webui.get("/ollama/api/version").json() == {"version": "0.5.1"}
    finally:
        stop(ollama)


def test_secret_key_generated_once_and_never_logged(start: Callable[..., WebUI], tmp_path: Path) -> None:
    """Without WEBUI_SECRET_KEY a key file is generated (12 random bytes, base64, mode 600) and reused; no value
    is logged, neither generated nor given."""
    first = start()
    key_file = tmp_path / ".webui_secret_key"
    key = key_file.read_text().strip()
    assert len(key) == 16
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert "Generating WEBUI_SECRET_KEY" in first.log.read_text()
    second = start()
    assert key_file.read_text().strip() == key
    assert "Generating" not in second.log.read_text()
    given = start(WEBUI_SECRET_KEY=SECRET)
    assert all(value not in log.log.read_text() for value in (key, SECRET) for log in (first, second, given))


def test_prod_image_default_points_at_the_docker_host() -> None:
    """In the image (ENV=prod) OLLAMA_BASE_URL "/ollama" means host.docker.internal:11434, as upstream."""
    script = ("import sys, webui_settings as s; print(s.ollama_base_urls({'ENV': 'prod', "
              "'OLLAMA_BASE_URL': '/ollama'}), s.ollama_base_urls({'OLLAMA_BASE_URL': 'http://ollama:11434/'}))")
    done = subprocess.run([sys.executable, "-B", "-c", script], cwd=SERVER.parent, capture_output=True, text=True,
                          timeout=10, check=True)
    assert done.stdout.split("\n")[0] == "['http://host.docker.internal:11434'] ['http://ollama:11434']"
