"""Conformance: the Uptime Kuma stand-in driven by PyPI's `uptime-kuma-api` (1.2.x, written against Uptime Kuma
1.21-1.23), over what an operator's tooling does at 1.23.16: log in, list/add/edit/pause/resume/delete monitors,
read the settings, make and manage API keys, then read /metrics with a key. What the client has and the stand-in
does not serve is listed under "Out of scope" in lab/standins/uptime-kuma/README.md.

Also the project's own reader of /metrics (homelab.checks.observability.KumaView) against the API-key rule, and
its client made from the inventory (homelab.clients.connect.uptime_kuma) signing in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from standin_helpers import HOST, wait_until
from test_connect import pointed_at
from test_uptime_kuma import USER, Kuma
from uptime_kuma_api import MonitorType, UptimeKumaApi, UptimeKumaException

from homelab.checks.observability import KumaView
from homelab.clients import connect
from homelab.clients.uptimekuma import UptimeKuma, UptimeKumaAuthError
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.secrets import Secrets

TIMEOUT = 5.0
ROOT = REPO


@pytest.fixture
def kuma(tmp_path: Path) -> Iterator[Kuma]:
    """A fresh stand-in (API keys change it for good) whose first user was made by the client."""
    server = Kuma(tmp_path).start()
    with UptimeKumaApi(url(server), timeout=TIMEOUT) as api:
        api.setup(*USER)
    yield server
    server.stop()


@pytest.fixture
def api(kuma: Kuma) -> Iterator[UptimeKumaApi]:
    with UptimeKumaApi(url(kuma), timeout=TIMEOUT, wait_events=0.05) as client:
        client.login(*USER)
        yield client


def url(kuma: Kuma) -> str:
    return f"http://{HOST}:{kuma.port}"


def test_login_refuses_a_wrong_password(kuma: Kuma) -> None:
    """login with a wrong password raises the client's exception with Kuma's message; the right one gives a
    token that login_by_token accepts."""
    with UptimeKumaApi(url(kuma), timeout=TIMEOUT) as client:
        with pytest.raises(UptimeKumaException, match="Incorrect username or password"):
            client.login(USER[0], "wrong-password-1")
        token = client.login(*USER)["token"]
    with UptimeKumaApi(url(kuma), timeout=TIMEOUT) as again:
        again.login_by_token(token)
        assert again.get_monitors() == []


def test_monitor_lifecycle(api: UptimeKumaApi) -> None:
    """add_monitor, get_monitor(s), edit_monitor, pause/resume and delete_monitor work as on 1.23."""
    added = api.add_monitor(type=MonitorType.PORT, name="ssh@lab", hostname="127.0.0.1", port=22, interval=60)
    assert added["msg"] == "Added Successfully."
    monitor_id = added["monitorID"]
    assert [m["name"] for m in api.get_monitors()] == ["ssh@lab"]
    assert api.get_monitor(monitor_id)["port"] == 22
    assert api.edit_monitor(monitor_id, port=2222, interval=120)["msg"] == "Saved."
    edited = api.get_monitor(monitor_id)
    assert (edited["port"], edited["interval"], edited["type"]) == (2222, 120, MonitorType.PORT)
    assert api.pause_monitor(monitor_id)["msg"] == "Paused Successfully."
    assert api.get_monitor(monitor_id)["active"] is False
    assert api.resume_monitor(monitor_id)["msg"] == "Resumed Successfully."
    assert api.delete_monitor(monitor_id)["msg"] == "Deleted Successfully."
    assert api.get_monitors() == []


def test_get_settings(api: UptimeKumaApi) -> None:
    """get_settings answers the `general` settings with the server's time zone (no API-key flag among them)."""
    settings = api.get_settings()
    assert settings["serverTimezone"] == "UTC"
    assert settings["keepDataPeriodDays"] == 180
    assert "apiKeysEnabled" not in settings


def test_api_keys_and_metrics(kuma: Kuma, api: UptimeKumaApi) -> None:
    """add_api_key answers `uk<id>_<key>`; get_api_keys lists it without the key; from then on /metrics takes
    that key as the Basic password (any user) and refuses the admin password, even after every key is deleted
    (1.23.16: `apiKeysEnabled` is set by the first addAPIKey and never cleared, server/auth.js apiAuth)."""
    assert kuma.get("/metrics", auth=USER).status_code == 200
    added = api.add_api_key(name="metrics", expires=None, active=True)
    assert added["msg"] == "Added Successfully."
    key = added["key"]
    assert key.startswith(f"uk{added['keyID']}_")
    assert len(key.split("_", 1)[1]) == 40
    listed = api.get_api_keys()
    assert [(k["id"], k["name"], k["active"], k["status"], k["expires"]) for k in listed] == [
        (added["keyID"], "metrics", True, "active", None)]
    assert "key" not in listed[0]
    assert kuma.get("/metrics", auth=("", key)).status_code == 200
    assert kuma.get("/metrics", auth=("anyone", key)).status_code == 200
    refused = kuma.get("/metrics", auth=USER)
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Basic")
    assert kuma.get("/metrics", auth=("", key[:-1] + "x")).status_code == 401

    assert api.disable_api_key(added["keyID"])["msg"] == "Disabled Successfully."
    assert api.get_api_key(added["keyID"])["status"] == "inactive"
    assert kuma.get("/metrics", auth=("", key)).status_code == 401
    assert api.enable_api_key(added["keyID"])["msg"] == "Enabled Successfully"
    assert kuma.get("/metrics", auth=("", key)).status_code == 200
    assert api.delete_api_key(added["keyID"])["msg"] == "Deleted Successfully."
    assert api.get_api_keys() == []
    assert kuma.get("/metrics", auth=USER).status_code == 401  # apiKeysEnabled stays


def test_expired_key_is_refused(kuma: Kuma, api: UptimeKumaApi) -> None:
    """A key past its `expires` is listed as expired and refused by /metrics."""
    key = api.add_api_key(name="old", expires="2020-01-01 00:00:00", active=True)["key"]
    assert api.get_api_keys()[0]["status"] == "expired"
    assert kuma.get("/metrics", auth=("", key)).status_code == 401


def at_standin(kuma: Kuma) -> Inventory:
    """The shipped inventory with Uptime Kuma at the stand-in (its host on loopback, its upstream the stand-in's)."""
    return pointed_at(load_inventory(ROOT / "inventory.yaml"), kuma.port, "uptime-kuma", address=HOST)


def kuma_view(kuma: Kuma, tmp_path: Path, environ: dict[str, str]) -> KumaView:
    """The phase 4 specs' view of Kuma, pointed at the stand-in, with secrets from `environ` only."""
    inventory = at_standin(kuma)
    view = KumaView(inventory, Secrets(inventory.secrets, tmp_path / "absent.env", environ=environ))
    assert view.url == url(kuma)
    return view


def test_spec_view_reads_metrics_with_the_api_key(kuma: Kuma, api: UptimeKumaApi, tmp_path: Path) -> None:
    """Once Kuma has an API key, the specs read /metrics with UPTIME_KUMA_API_KEY (Basic, empty user); without
    it, the failure says that API keys are enabled and how to set the key."""
    api.add_monitor(type=MonitorType.PORT, name="kuma@lab", hostname=HOST, port=kuma.port, interval=20)
    key = api.add_api_key(name="specs", expires=None, active=True)["key"]
    password_only = kuma_view(kuma, tmp_path, {"UPTIME_KUMA_PASSWORD": USER[1]})
    with pytest.raises(pytest.fail.Exception) as refused:
        password_only.states()
    message = str(refused.value)
    assert "HTTP 401 for the admin password: API keys are enabled in Uptime Kuma" in message
    assert "set UPTIME_KUMA_API_KEY in the env file to a key from Kuma's Settings > API Keys" in message
    with_key = kuma_view(kuma, tmp_path, {"UPTIME_KUMA_PASSWORD": USER[1], "UPTIME_KUMA_API_KEY": key})
    wait_until("the kuma@lab monitor in /metrics", lambda: "kuma@lab" in kuma.get("/metrics", auth=("", key)).text)
    assert with_key.states()["kuma@lab"] == "up"


def test_spec_view_names_a_refused_key(kuma: Kuma, api: UptimeKumaApi, tmp_path: Path) -> None:
    """A key Kuma refuses (here: disabled) fails saying the key in UPTIME_KUMA_API_KEY was refused."""
    added = api.add_api_key(name="specs", expires=None, active=True)
    api.disable_api_key(added["keyID"])
    view = kuma_view(kuma, tmp_path, {"UPTIME_KUMA_PASSWORD": USER[1], "UPTIME_KUMA_API_KEY": added["key"]})
    with pytest.raises(pytest.fail.Exception, match="the API key in UPTIME_KUMA_API_KEY was refused"):
        view.states()


def test_spec_view_uses_the_password_while_kuma_has_no_key(kuma: Kuma, tmp_path: Path) -> None:
    """Without API keys in Kuma and without UPTIME_KUMA_API_KEY, the password still opens /metrics."""
    assert kuma_view(kuma, tmp_path, {"UPTIME_KUMA_PASSWORD": USER[1]}).states() == {}


# --- homelab.clients.connect and the specs' view of the monitors, signed in through it ---------------------------
def test_connect_signs_in_with_the_inventorys_secret(kuma: Kuma, api: UptimeKumaApi, tmp_path: Path) -> None:
    """connect.uptime_kuma: Kuma at the inventory's address, logged in as admin with UPTIME_KUMA_PASSWORD, bounded
    by the inventory's timeout; the specs' view lists the monitors through it."""
    api.add_monitor(type=MonitorType.PORT, name="kuma@lab", hostname=HOST, port=kuma.port, interval=20)
    inventory = at_standin(kuma)
    secrets = Secrets(inventory.secrets, tmp_path / "absent.env", environ={"UPTIME_KUMA_PASSWORD": USER[1]})
    with connect.uptime_kuma(inventory, secrets) as ours:
        assert ours.timeout == inventory.settings.connect_timeout * 3
        assert [m.name for m in ours.monitors()] == ["kuma@lab"]
    assert list(kuma_view(kuma, tmp_path, {"UPTIME_KUMA_PASSWORD": USER[1]}).monitors()) == ["kuma@lab"]


def test_connect_refused_password_is_the_clients_error(kuma: Kuma, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong UPTIME_KUMA_PASSWORD: UptimeKumaAuthError naming the URL, not the password, and the connection
    closed; the specs' view fails saying so."""
    closed: list[UptimeKuma] = []
    close = UptimeKuma.close
    monkeypatch.setattr(UptimeKuma, "close", lambda self: (closed.append(self), close(self))[1])
    inventory = at_standin(kuma)
    secrets = Secrets(inventory.secrets, tmp_path / "absent.env", environ={"UPTIME_KUMA_PASSWORD": "wrong-password-1"})
    with pytest.raises(UptimeKumaAuthError) as caught:
        connect.uptime_kuma(inventory, secrets)
    assert str(caught.value) == f"{url(kuma)}: wrong username or password for Uptime Kuma user 'admin'"
    assert len(closed) == 1
    with pytest.raises(pytest.fail.Exception, match="wrong username or password") as failed:
        kuma_view(kuma, tmp_path, {"UPTIME_KUMA_PASSWORD": "wrong-password-1"}).monitors()
    assert "wrong-password-1" not in str(failed.value)
