"""The Grafana stand-in driven by `grafana-client` (PyPI), a client written against the real Grafana HTTP API.

Each test is one area an operator's own tooling uses, through the client's public API, no mocks: if the
stand-in drifts from Grafana 11.5's paths or shapes, the client (not code written here) fails. What the client
offers that the stand-in leaves out is listed in lab/standins/grafana/README.md ("Out of scope"), with reasons.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaUnauthorizedError
from standin_helpers import HOST, free_port, wait_until

from homelab.model.paths import REPO

SERVER = REPO / "lab" / "standins" / "grafana" / "standin.py"
ADMIN = ("admin", "conformance-pw")
DATASOURCE = {"name": "Extra Prometheus", "type": "prometheus", "url": "http://prometheus:9090", "access": "proxy"}


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://{HOST}:{port}/api/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrafanaApi]:
    """A fresh stand-in (no provisioning) and grafana-client signed in as its admin with Basic auth."""
    root = tmp_path_factory.mktemp("grafana-conformance")
    (root / "provisioning" / "datasources").mkdir(parents=True)
    (root / "provisioning" / "dashboards").mkdir()
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "GF_SERVER_HTTP_ADDR": HOST, "GF_SERVER_HTTP_PORT": str(port),
           "GF_PATHS_PROVISIONING": str(root / "provisioning"), "GF_PATHS_DATA": str(root / "data"),
           "GF_SECURITY_ADMIN_PASSWORD": ADMIN[1]}
    process = subprocess.Popen([sys.executable, str(SERVER)], env=env, stdout=subprocess.DEVNULL)
    try:
        wait_until(f"the Grafana stand-in on port {port}", lambda: _up(port))
        yield GrafanaApi(auth=ADMIN, host=HOST, port=port, protocol="http", timeout=10)
    finally:
        process.terminate()
        process.wait(5)


def test_health_and_version(api: GrafanaApi) -> None:
    """`connect()` and `version` read /api/frontend/settings' buildInfo, as against Grafana (or AMG)."""
    assert api.connect()["version"] == "11.5.0"
    assert api.version == "11.5.0"


def test_current_user_and_org(api: GrafanaApi) -> None:
    """The signed-in user (/api/user) is the server admin; the current org is 1, "Main Org."."""
    user = api.user.get_actual_user()
    assert (user["login"], user["isGrafanaAdmin"], user["orgId"]) == ("admin", True, 1)
    assert api.organization.get_current_organization()["name"] == "Main Org."


def test_admin_stats_and_users(api: GrafanaApi) -> None:
    """Admin stats count the users; the users API lists, finds and gets the admin."""
    assert api.admin.stats()["users"] == 1
    assert [u["login"] for u in api.users.search_users()] == ["admin"]
    assert api.users.find_user("admin")["id"] == 1
    assert api.users.get_user(1)["login"] == "admin"
    with pytest.raises(GrafanaClientError) as missing:
        api.users.get_user(99)
    assert missing.value.status_code == 404


def test_datasources_crud(api: GrafanaApi) -> None:
    """Create, read by id, uid and name, list, update (by id and uid), delete; a duplicate name is 409."""
    created = api.datasource.create_datasource(DATASOURCE)
    ident, uid = created["id"], created["uid"]
    assert api.datasource.get_datasource_by_id(ident)["name"] == "Extra Prometheus"
    assert api.datasource.get_datasource_by_uid(uid)["url"] == "http://prometheus:9090"
    assert api.datasource.get_datasource_by_name("Extra Prometheus")["uid"] == uid
    with pytest.raises(GrafanaClientError) as duplicate:
        api.datasource.create_datasource(DATASOURCE)
    assert duplicate.value.status_code == 409
    api.datasource.update_datasource(ident, {**DATASOURCE, "url": "http://prom:9090"})
    api.datasource.update_datasource_by_uid(uid, {**DATASOURCE, "url": "http://prom2:9090"})
    assert [d["url"] for d in api.datasource.list_datasources()] == ["http://prom2:9090"]
    assert api.datasource.delete_datasource_by_uid(uid)["message"] == "Data source deleted"
    assert api.datasource.list_datasources() == []


def test_datasource_delete_by_id_and_name(api: GrafanaApi) -> None:
    """Both other delete forms work; a missing datasource is 404."""
    first = api.datasource.create_datasource({**DATASOURCE, "name": "One"})
    api.datasource.create_datasource({**DATASOURCE, "name": "Two"})
    api.datasource.delete_datasource_by_id(first["id"])
    api.datasource.delete_datasource_by_name("Two")
    with pytest.raises(GrafanaClientError) as missing:
        api.datasource.get_datasource_by_name("Two")
    assert missing.value.status_code == 404


def test_folders(api: GrafanaApi) -> None:
    """Create a folder, list it, get it by uid."""
    folder = api.folder.create_folder("Operators", uid="operators")
    assert folder["uid"] == "operators"
    assert "operators" in [f["uid"] for f in api.folder.get_all_folders()]
    assert api.folder.get_folder("operators")["title"] == "Operators"


def test_dashboards_create_search_get_delete(api: GrafanaApi) -> None:
    """Save a dashboard into a folder, find it by search and tag, read it back, delete it."""
    api.folder.create_folder("Boards", uid="boards")
    saved = api.dashboard.update_dashboard({"dashboard": {"uid": "ops-1", "title": "Ops One", "tags": ["ops"]},
                                            "folderUid": "boards", "overwrite": False})
    assert (saved["status"], saved["uid"]) == ("success", "ops-1")
    hits = api.search.search_dashboards(query="Ops", tag="ops")
    assert [(h["uid"], h["folderUid"]) for h in hits] == [("ops-1", "boards")]
    assert api.dashboard.get_dashboard("ops-1")["dashboard"]["title"] == "Ops One"
    assert api.dashboard.delete_dashboard("ops-1")["title"] == "Ops One"
    with pytest.raises(GrafanaClientError) as gone:
        api.dashboard.get_dashboard("ops-1")
    assert gone.value.status_code == 404


def test_wrong_password_is_refused(api: GrafanaApi) -> None:
    """A client with a wrong password gets the client's own 401 error, as from Grafana."""
    other = GrafanaApi(auth=("admin", "not-the-password"), host=HOST, port=api.client.url_port,
                       protocol="http", timeout=10)
    with pytest.raises(GrafanaUnauthorizedError):
        other.user.get_actual_user()
