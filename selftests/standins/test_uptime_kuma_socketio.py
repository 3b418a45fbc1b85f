"""The Uptime Kuma stand-in's Socket.IO API, driven by the kept `uptime-kuma-api` library and by our client
(homelab/clients/uptimekuma.py): setup, login, monitors, tags, and the monitors' checks in /metrics."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio
from standin_helpers import HOST, FakeDocker, free_port, wait_until
from test_uptime_kuma import USER, Kuma, sample
from uptime_kuma_api import MonitorType, UptimeKumaApi, UptimeKumaException

from homelab.clients.uptimekuma import UptimeKuma, UptimeKumaAuthError, UptimeKumaUnreachable
from homelab.model.monitoring import MonitorSpec

TIMEOUT = 5.0
RUNNING = {"State": {"Running": True, "Status": "running"}}


@pytest.fixture(scope="module")
def docker() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="kd-")
    server = FakeDocker(os.path.join(folder, "docker.sock"), {"/containers/web/json": RUNNING})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield os.path.join(folder, "docker.sock")
    server.shutdown()
    server.server_close()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def kuma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kuma]:
    """A stand-in whose first user was made over Socket.IO."""
    server = Kuma(tmp_path_factory.mktemp("kuma-sio")).start()
    with UptimeKumaApi(server_url(server), timeout=TIMEOUT) as api:
        api.setup(*USER)
    yield server
    server.stop()


@pytest.fixture
def api(kuma: Kuma) -> Iterator[UptimeKumaApi]:
    with UptimeKumaApi(server_url(kuma), timeout=TIMEOUT, wait_events=0.05) as client:
        client.login(*USER)
        yield client


@pytest.fixture
def client(kuma: Kuma) -> Iterator[UptimeKuma]:
    with UptimeKuma(server_url(kuma), timeout=TIMEOUT) as ours:
        ours.login(*USER)
        yield ours


def server_url(kuma: Kuma) -> str:
    return f"http://{HOST}:{kuma.port}"


def status(kuma: Kuma, name: str) -> str | None:
    return sample(kuma.get("/metrics", auth=USER).text, "monitor_status", name)


def test_setup_over_socketio(tmp_path: Path) -> None:
    """needSetup is true on a fresh Kuma; setup refuses a weak password, creates the user once, then refuses."""
    server = Kuma(tmp_path).start()
    try:
        with UptimeKumaApi(server_url(server), timeout=TIMEOUT) as api:
            assert api.need_setup() is True
            with pytest.raises(UptimeKumaException, match="Password is too weak"):
                api.setup("admin", "abc")
            assert api.setup(*USER) == {"msg": "Added Successfully."}
            assert api.need_setup() is False
            with pytest.raises(UptimeKumaException, match="Uptime Kuma has been initialized"):
                api.setup("other", "other-password-2")
        assert server.get("/").headers["location"] == "/dashboard"
    finally:
        server.stop()


def test_wrong_password_is_refused_as_upstream(kuma: Kuma) -> None:
    """A wrong password gets Kuma's own answer, and the socket stays logged out."""
    with UptimeKumaApi(server_url(kuma), timeout=TIMEOUT) as api:
        with pytest.raises(UptimeKumaException, match=r"^Incorrect username or password\.$"):
            api.login(USER[0], "wrong-password-1")
        with pytest.raises(UptimeKumaException, match=r"^You are not logged in\.$"):
            api.get_tags()


def test_login_upgrades_to_websocket_and_pushes_version(api: UptimeKumaApi) -> None:
    """The library upgrades to WebSocket, and after login gets `info` with Kuma's version."""
    assert api.sio.transport() == "websocket"
    assert api.version == "1.23.16"


def test_monitor_types_are_added_and_listed(api: UptimeKumaApi, kuma: Kuma, docker: str) -> None:
    """http, keyword, port, dns, docker and push monitors are added and come back in the monitorList push."""
    url = f"{server_url(kuma)}/dashboard"
    host = api.add_docker_host(name="local", dockerType="socket", dockerDaemon=docker)["id"]
    added = [api.add_monitor(type=MonitorType.HTTP, name="t-http", url=url),
             api.add_monitor(type=MonitorType.KEYWORD, name="t-keyword", url=url, keyword="stand-in"),
             api.add_monitor(type=MonitorType.PORT, name="t-port", hostname=HOST, port=free_port()),
             api.add_monitor(type=MonitorType.DNS, name="t-dns", hostname="lab.test", dns_resolve_server=HOST),
             api.add_monitor(type=MonitorType.DOCKER, name="t-docker", docker_container="web", docker_host=host),
             api.add_monitor(type=MonitorType.PUSH, name="t-push")]
    assert all(a["msg"] == "Added Successfully." for a in added)
    listed = {m["name"]: m for m in api.get_monitors()}
    assert {"t-http", "t-keyword", "t-port", "t-dns", "t-docker", "t-push"} <= set(listed)
    assert listed["t-push"]["pushToken"]
    assert api.get_monitor(added[0]["monitorID"])["url"] == url


def test_added_monitors_are_checked_and_in_metrics(api: UptimeKumaApi, kuma: Kuma) -> None:
    """Monitors made over Socket.IO are the checked ones: UP/DOWN in /metrics, and `heartbeat` pushes."""
    wait_until("the Socket.IO monitors in /metrics",
               lambda: all(status(kuma, n) is not None for n in ("t-http", "t-keyword", "t-port", "t-docker")))
    assert [status(kuma, n) for n in ("t-http", "t-keyword", "t-docker", "t-port")] == ["1", "1", "1", "0"]
    http_id = next(m["id"] for m in api.get_monitors() if m["name"] == "t-http")
    wait_until("a heartbeat push", lambda: bool(api.get_heartbeats().get(http_id)))


def test_edit_pause_resume_delete(api: UptimeKumaApi, kuma: Kuma) -> None:
    """editMonitor changes a field, pause/resume flip `active`, deleteMonitor removes it from list and /metrics."""
    monitor_id = api.add_monitor(type=MonitorType.HTTP, name="t-edit", url=f"{server_url(kuma)}/a")["monitorID"]
    assert api.edit_monitor(monitor_id, interval=30) == {"msg": "Saved.", "monitorID": monitor_id}
    assert api.get_monitor(monitor_id)["interval"] == 30
    api.pause_monitor(monitor_id)
    assert api.get_monitor(monitor_id)["active"] is False
    api.resume_monitor(monitor_id)
    assert api.get_monitor(monitor_id)["active"] is True
    wait_until("t-edit checked", lambda: status(kuma, "t-edit") is not None)
    assert api.delete_monitor(monitor_id) == {"msg": "Deleted Successfully."}
    assert "t-edit" not in [m["name"] for m in api.get_monitors()]
    assert status(kuma, "t-edit") is None


def test_tags(api: UptimeKumaApi, kuma: Kuma) -> None:
    """addTag, getTags and addMonitorTag: the tag shows in the monitor with its value."""
    tag = api.add_tag(name="lab", color="#2563eb")
    assert tag in api.get_tags()
    monitor_id = api.add_monitor(type=MonitorType.PUSH, name="t-tagged")["monitorID"]
    api.add_monitor_tag(tag_id=tag["id"], monitor_id=monitor_id, value="phase4")
    tags = api.get_monitor(monitor_id)["tags"]
    assert [(t["name"], t["value"]) for t in tags] == [("lab", "phase4")]


def test_logout_ends_the_session_rights(kuma: Kuma) -> None:
    """After logout, management events answer "You are not logged in."."""
    with UptimeKumaApi(server_url(kuma), timeout=TIMEOUT) as api:
        api.login(*USER)
        api.logout()
        with pytest.raises(UptimeKumaException, match=r"^You are not logged in\.$"):
            api.get_monitor(1)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_one_transport_alone(kuma: Kuma, transport: str) -> None:
    """A client that stays on long-polling, or opens a WebSocket at once (as Kuma's web UI does), logs in and
    gets its monitor list pushed."""
    lists: list[dict[str, object]] = []
    sio = socketio.Client()
    sio.on("monitorList", lists.append)
    sio.connect(f"{server_url(kuma)}/socket.io/", transports=[transport], wait_timeout=TIMEOUT)
    try:
        answer = sio.call("login", {"username": USER[0], "password": USER[1], "token": ""}, timeout=TIMEOUT)
        assert answer["ok"] is True
        wait_until(f"a monitorList over {transport}", lambda: bool(lists))
        assert sio.transport() == transport
    finally:
        sio.disconnect()


# --- homelab/clients/uptimekuma.py -----------------------------------------------------------------------------------
def test_client_wrong_password_names_url_not_password(kuma: Kuma) -> None:
    """Our client's error names the URL and says "wrong username or password"; the password is not in it."""
    with UptimeKuma(server_url(kuma), timeout=TIMEOUT) as ours, pytest.raises(UptimeKumaAuthError) as caught:
        ours.login(USER[0], "not-the-password-9")
    message = str(caught.value)
    assert server_url(kuma) in message
    assert "wrong username or password" in message
    assert "not-the-password-9" not in message


def test_client_ensure_creates_then_unchanged_then_updates(client: UptimeKuma, kuma: Kuma) -> None:
    """ensure_monitor creates once, is a no-op when nothing changed, updates in place; one monitor per name."""
    spec = MonitorSpec("c-web", url=f"{server_url(kuma)}/dashboard", interval=20)
    assert client.ensure_monitor(spec) == "created"
    assert client.ensure_monitor(spec) == "unchanged"
    moved = MonitorSpec("c-web", url=f"{server_url(kuma)}/status", interval=30)
    assert client.ensure_monitor(moved) == "updated"
    assert client.ensure_monitor(moved) == "unchanged"
    found = [m for m in client.monitors() if m.name == "c-web"]
    assert [(m.url, m.fields["interval"]) for m in found] == [(moved.url, 30)]
    wait_until("c-web UP in /metrics", lambda: status(kuma, "c-web") == "1")


def test_client_ensure_pauses_and_deletes(client: UptimeKuma) -> None:
    """active=False pauses an existing monitor; delete_monitor removes it by name, once."""
    spec = MonitorSpec("c-job", type="push")
    assert client.ensure_monitor(spec) == "created"
    assert client.ensure_monitor(MonitorSpec("c-job", type="push", active=False)) == "updated"
    paused = client.monitor("c-job")
    assert paused is not None
    assert paused.active is False
    assert client.delete_monitor("c-job") is True
    assert client.delete_monitor("c-job") is False


def test_client_needs_login_for_monitors(kuma: Kuma) -> None:
    """Listing monitors before login fails at once with a clear error, not after a timeout."""
    with UptimeKuma(server_url(kuma), timeout=TIMEOUT) as ours, pytest.raises(UptimeKumaAuthError, match="login"):
        ours.monitors()


def test_client_unreachable_is_bounded() -> None:
    """A port that accepts but never answers costs one timeout, and the error names the URL."""
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen()
        url = f"http://{HOST}:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(UptimeKumaUnreachable, match=url):
            UptimeKuma(url, timeout=1)
        assert time.monotonic() - started < 5
