"""The Portainer CE stand-in (lab/standins/portainer), alone and with real agent stand-ins on loopback."""

from __future__ import annotations

import base64
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_helpers import FakeDocker, free_port, insecure, wait_until

from homelab.model.paths import REPO

STANDINS = REPO / "lab" / "standins"
SERVER, AGENT = STANDINS / "portainer" / "standin.py", STANDINS / "portainer-agent" / "standin.py"
SECRET, PASSWORD = "portainer-selftest-secret", "correct-horse-battery"
DOCKER: dict[str, Any] = {
    "/_ping": "OK",
    "/info": {"NCPU": 8, "MemTotal": 16_000_000_000, "Swarm": {"NodeID": ""}},
    "/version": {"Version": "27.3.1", "Components": [{"Name": "Engine"}]},
    "/containers/json": [{"Id": "a", "State": "running", "Status": "Up (healthy)",
                          "Labels": {"com.docker.compose.project": "agent"}},
                         {"Id": "b", "State": "exited", "Status": "Exited (1)", "Labels": {}}],
    "/images/json": [{"Id": "i1"}, {"Id": "i2"}, {"Id": "i3"}],
    "/volumes": {"Volumes": [{"Name": "v"}, {"Name": "w"}], "Warnings": None},
    "/networks": [{"Name": "bridge"}],
}
ENDPOINT_KEYS = {
    "Id", "Name", "Type", "ContainerEngine", "URL", "GroupId", "PublicURL", "Gpus", "TLSConfig", "TagIds", "Status",
    "Snapshots", "UserAccessPolicies", "TeamAccessPolicies", "EdgeKey", "EdgeCheckinInterval", "Kubernetes",
    "ComposeSyntaxMaxVersion", "SecuritySettings", "LastCheckInDate", "QueryDate", "Heartbeat", "PostInitMigrations",
    "Edge", "Agent", "AuthorizedUsers", "AuthorizedTeams", "Tags",
}


def answers(url: str) -> bool:
    try:
        httpx.get(url, verify=insecure(), timeout=1)
    except httpx.HTTPError:
        return False
    return True


class Process:
    """A stand-in run as `python3 <script>` on 127.0.0.1, stopped (and restartable) by the test."""

    def __init__(self, args: list[str], env: dict[str, str], ready_url: str, log: Path) -> None:
        self.args, self.env, self.ready_url, self.log = args, env, ready_url, log
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with self.log.open("ab") as out:
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **self.env}  # no __pycache__ in build contexts
            self.process = subprocess.Popen([sys.executable, *self.args], env=env, stdout=out, stderr=subprocess.STDOUT)
        if self.ready_url:
            wait_until(self.ready_url, lambda: answers(self.ready_url), 10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)


class Portainer(Process):
    def __init__(self, data: Path, **env: str) -> None:
        self.port, self.http_port, self.tunnel_port = free_port(), free_port(), free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        args = [str(SERVER), "--data", str(data), "--bind-https", f"127.0.0.1:{self.port}",
                "--bind", f"127.0.0.1:{self.http_port}", "--tunnel-port", str(self.tunnel_port),
                "--host-ip", "127.0.0.1"]
        super().__init__(args, {"AGENT_SECRET": "", **env}, f"{self.base}/api/system/status", data / "log")

    def client(self, jwt: str = "") -> httpx.Client:
        headers = {"Authorization": f"Bearer {jwt}"} if jwt else {}
        return httpx.Client(base_url=self.base, verify=insecure(), timeout=10, headers=headers)


def login(portainer: Portainer) -> str:
    with portainer.client() as client:
        return str(client.post("/api/auth", json={"Username": "admin", "Password": PASSWORD}).json()["jwt"])


def edge_key_parts(key: str) -> list[str]:
    return base64.b64decode(key + "=" * (-len(key) % 4)).decode().split("|")


@pytest.fixture(scope="module")
def docker_socket() -> Iterator[str]:
    path = os.path.join(tempfile.mkdtemp(prefix="fd-"), "docker.sock")
    server = FakeDocker(path, DOCKER)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path
    server.shutdown()
    server.server_close()


@pytest.fixture
def spawned() -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.stop()


@pytest.fixture
def start_agent(docker_socket: str, tmp_path: Path, spawned: list[Process]) -> Callable[..., Process]:
    def start(**env: str) -> Process:
        port = free_port()
        agent_env = {"AGENT_HOST": "127.0.0.1", "AGENT_PORT": str(port), "DOCKER_SOCKET": docker_socket,
                     "AGENT_ADVERTISE_ADDR": "127.0.0.1", "AGENT_SECRET": SECRET, **env}
        ready = "" if env.get("EDGE") else f"https://127.0.0.1:{port}/ping"
        agent = Process([str(AGENT)], agent_env, ready, tmp_path / f"agent-{port}.log")
        agent.port = port  # type: ignore[attr-defined]
        spawned.append(agent)
        return agent
    return start


@pytest.fixture(scope="module")
def portainer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portainer]:
    instance = Portainer(tmp_path_factory.mktemp("portainer"), AGENT_SECRET=SECRET, SNAPSHOT_INTERVAL="1",
                         EDGE_CHECKIN_INTERVAL="1", HEARTBEAT_SLACK="1")
    with instance.client() as client:
        assert client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD}).status_code == 200
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def api(portainer: Portainer) -> Iterator[httpx.Client]:
    with portainer.client(login(portainer)) as client:
        yield client


def test_status_is_public_and_version_needs_auth(portainer: Portainer, api: httpx.Client) -> None:
    """/api/system/status (and /api/status) answer anonymously; /api/system/version needs a token."""
    with portainer.client() as anonymous:
        status = anonymous.get("/api/system/status").json()
        assert status["Version"] == "2.23.0"
        assert status == anonymous.get("/api/status").json()
        denied = anonymous.get("/api/system/version")
    assert (denied.status_code, denied.json()) == (
        401, {"message": "A valid authorization token is missing", "details": "Unauthorized"})
    version = api.get("/api/system/version").json()
    assert (version["ServerVersion"], version["ServerEdition"], version["LatestVersion"]) == ("2.23.0", "CE", "")
    assert any(e.startswith("PATH=") for e in version["Build"]["Env"]), "2.23 hands an admin its environment"


def test_the_client_never_asks_for_the_environment() -> None:
    """The project's Portainer client proves a token with /api/users/me, never /api/system/version (which
    answers an admin with Build.Env: the container's environment, AGENT_SECRET included)."""
    import inspect

    from bootstrap.services import portainer as phase1_portainer
    from homelab.clients import portainer as client

    for module in (client, phase1_portainer):
        code = inspect.getsource(module)
        assert '"/api/system/version"' not in code, module.__name__
        assert "/api/status/version" not in code, module.__name__


def test_only_https_and_the_tunnel_port_listen(portainer: Portainer) -> None:
    """HTTP :9000 is not served without --http-enabled; HTTPS negotiates HTTP/1.1 only; :8000 accepts TCP."""
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", portainer.http_port), 2):
        pass
    context = insecure()
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", portainer.port), 5) as raw, context.wrap_socket(raw) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"
    socket.create_connection(("127.0.0.1", portainer.tunnel_port), 2).close()


def test_first_run_admin_rules(tmp_path: Path, spawned: list[Process]) -> None:
    """admin/check is 404 then 204; a password under 12 characters is 400; a second init is 409."""
    fresh = Portainer(tmp_path)
    spawned.append(fresh)
    with fresh.client() as client:
        assert client.get("/api/users/admin/check").status_code == 404
        short = client.post("/api/users/admin/init", json={"Username": "admin", "Password": "short"})
        assert (short.status_code, short.json()["message"]) == (400, "Password does not meet the requirements")
        assert client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD}).status_code == 200
        assert client.get("/api/users/admin/check").status_code == 204
        assert client.post("/api/users/admin/init", json={"Username": "x", "Password": PASSWORD}).status_code == 409


def test_admin_init_timeout_locks_until_restart(tmp_path: Path, spawned: list[Process]) -> None:
    """No admin within the window: every request gets 303 + redirect-reason; a restart opens a new window."""
    fresh = Portainer(tmp_path, ADMIN_INIT_TIMEOUT="1")
    spawned.append(fresh)
    with fresh.client() as client:
        wait_until("the admin-init lock", lambda: client.get("/api/system/status").status_code == 303, 5)
        locked = client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD})
        assert (locked.status_code, locked.headers["redirect-reason"]) == (303, "AdminInitTimeout")
        assert locked.json() == {"message": "Administrator initialization timeout"}
        fresh.stop()
        fresh.start()
        assert client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD}).status_code == 200


def test_state_persists_across_restarts(tmp_path: Path, spawned: list[Process]) -> None:
    """Same data directory, same instance: InstanceID, admin, tags and certificate survive a restart."""
    fresh = Portainer(tmp_path)
    spawned.append(fresh)
    with fresh.client() as client:
        client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD})
        before = client.get("/api/system/status").json()["InstanceID"]
    cert = (tmp_path / "certs" / "cert.pem").read_bytes()
    fresh.stop()
    fresh.start()
    with fresh.client(login(fresh)) as client:
        assert client.get("/api/system/status").json()["InstanceID"] == before
        assert client.get("/api/users/me").json()["Username"] == "admin"
    assert (tmp_path / "certs" / "cert.pem").read_bytes() == cert


def test_login_errors_and_cookie(portainer: Portainer) -> None:
    """Bad credentials are 422 (not 401), empty ones 400; success sets the HttpOnly SameSite=Strict cookie."""
    with portainer.client() as client:
        bad = client.post("/api/auth", json={"Username": "admin", "Password": "wrong-password!"})
        assert (bad.status_code, bad.json()) == (422, {"message": "Invalid credentials", "details": "Unauthorized"})
        assert client.post("/api/auth", json={"Username": "", "Password": ""}).status_code == 400
        good = client.post("/api/auth", json={"Username": "admin", "Password": PASSWORD})
    cookie = good.headers["set-cookie"]
    assert cookie.startswith(f"portainer_api_key={good.json()['jwt']};")
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie


def test_access_tokens_need_a_jwt_and_then_authenticate(portainer: Portainer, api: httpx.Client) -> None:
    """A JWT creates ptr_ keys (201); the key works as X-API-Key but cannot create keys; deleted keys fail."""
    created = api.post("/api/users/1/tokens", json={"password": PASSWORD, "description": "selftest"})
    assert created.status_code == 201
    raw, key = created.json()["rawAPIKey"], created.json()["apiKey"]
    assert raw.startswith("ptr_")
    assert len(base64.b64decode(raw[4:])) == 32
    assert key["prefix"] == raw[:7]
    with portainer.client() as client:
        headers = {"X-API-Key": raw}
        assert client.get("/api/endpoints", headers=headers).status_code == 200
        refused = client.post("/api/users/1/tokens", headers=headers, json={"password": PASSWORD, "description": "x"})
        assert (refused.status_code, refused.json()["message"]) == (401, "Auth not supported")
        assert api.delete(f"/api/users/1/tokens/{key['id']}").status_code == 204
        assert client.get("/api/endpoints", headers=headers).json()["message"] == "Invalid JWT token"


def test_header_rules_and_csrf_with_the_cookie(portainer: Portainer, api: httpx.Client) -> None:
    """Both X-API-Key and Authorization: 403; a cookie on POST without a CSRF token: 403 plain text."""
    both = api.get("/api/tags", headers={"X-API-Key": "ptr_x"})
    assert both.status_code == 403
    assert both.json()["message"] == "api key and auth header are not allowed at the same time"
    with portainer.client() as browser:
        browser.post("/api/auth", json={"Username": "admin", "Password": PASSWORD})
        forbidden = browser.post("/api/tags", json={"Name": "csrf"})
        assert forbidden.status_code == 403
        assert forbidden.text == "Forbidden - CSRF token not found in request\n"
        token = browser.get("/api/tags").headers["X-CSRF-Token"]
        assert browser.post("/api/tags", json={"Name": "csrf"}, headers={"X-CSRF-Token": token}).status_code == 200


def test_unknown_route_is_404_with_envelope(api: httpx.Client) -> None:
    """Unknown routes and objects answer the {message, details} envelope."""
    assert api.get("/api/nope").status_code == 404
    missing = api.get("/api/endpoints/999")
    assert (missing.status_code, set(missing.json())) == (404, {"message", "details"})


def test_agent_endpoint_is_created_through_a_real_agent(api: httpx.Client, start_agent: Callable[..., Process]) -> None:
    """EndpointCreationType 2 (multipart) pings the agent, snapshots through it (signed) and is Status 1."""
    agent = start_agent()
    form = {"Name": "agent-1", "EndpointCreationType": "2", "URL": f"tcp://127.0.0.1:{agent.port}",  # type: ignore
            "TLS": "true", "TLSSkipVerify": "true", "TLSSkipClientVerify": "true", "TagIds": "[]",
            "ContainerEngine": "docker"}
    created = api.post("/api/endpoints", files={k: (None, v) for k, v in form.items()})
    assert created.status_code == 200, created.text
    endpoint = created.json()
    assert set(endpoint) == ENDPOINT_KEYS
    assert (endpoint["Type"], endpoint["Status"], endpoint["Agent"]["Version"]) == (2, 1, "2.23.0")
    snapshot = api.get(f"/api/endpoints/{endpoint['Id']}").json()["Snapshots"][0]
    assert (snapshot["DockerVersion"], snapshot["TotalCPU"], snapshot["ContainerCount"]) == ("27.3.1", 8, 2)
    assert (snapshot["RunningContainerCount"], snapshot["StoppedContainerCount"], snapshot["HealthyContainerCount"],
            snapshot["ImageCount"], snapshot["VolumeCount"], snapshot["StackCount"]) == (1, 1, 1, 3, 2, 1)
    assert api.post("/api/endpoints", data={"Name": "agent-1", "EndpointCreationType": "1"}).status_code == 409
    proxied = api.get(f"/api/endpoints/{endpoint['Id']}/docker/v1.41/containers/json", params={"all": "1"})
    assert [c["Id"] for c in proxied.json()] == ["a", "b"]


def test_stopped_agent_goes_down(api: httpx.Client, start_agent: Callable[..., Process]) -> None:
    """Agent gone: the background loop marks Status 2, and POST /snapshot still answers 204."""
    agent = start_agent()
    form = {"Name": "doomed", "EndpointCreationType": "2", "URL": f"tcp://127.0.0.1:{agent.port}",  # type: ignore
            "TLS": "true", "TLSSkipVerify": "true", "TLSSkipClientVerify": "true"}
    ident = api.post("/api/endpoints", data=form).json()["Id"]
    agent.stop()
    wait_until("the snapshot loop's Status 2", lambda: api.get(f"/api/endpoints/{ident}").json()["Status"] == 2, 6)
    assert api.post(f"/api/endpoints/{ident}/snapshot").status_code == 204
    assert api.get(f"/api/endpoints/{ident}").json()["Status"] == 2
    unreachable = api.post("/api/endpoints", data={**form, "Name": "never"})
    assert (unreachable.status_code, unreachable.json()["message"]) == (500, "Unable to get environment type")


def test_edge_endpoint_key_and_no_snapshots(api: httpx.Client) -> None:
    """Type 4 keeps the URL's hostname, builds the EdgeKey, starts Status 1 and trusted; snapshots are 400."""
    created = api.post("/api/endpoints", data={"Name": "edge-key", "EndpointCreationType": "4",
                                               "URL": "https://portainer.lan:9443"}).json()
    assert (created["URL"], created["Status"], created["UserTrusted"]) == ("portainer.lan", 1, True)
    url, tunnel, _fingerprint, ident = edge_key_parts(created["EdgeKey"])
    assert (url, ident) == ("https://portainer.lan:9443", str(created["Id"]))
    assert tunnel.startswith("portainer.lan:")
    assert "=" not in created["EdgeKey"]
    assert api.post(f"/api/endpoints/{created['Id']}/snapshot").status_code == 400


def test_edge_agent_checks_in_and_heartbeat_expires(portainer: Portainer, api: httpx.Client,
                                                    start_agent: Callable[..., Process]) -> None:
    """A polling edge agent sets LastCheckInDate and Heartbeat; once it stops, Heartbeat goes false, Status stays 1."""
    created = api.post("/api/endpoints", data={"Name": "edge-live", "EndpointCreationType": "4",
                                               "URL": portainer.base, "EdgeCheckinInterval": "1"}).json()
    ident = created["Id"]
    agent = start_agent(EDGE="1", EDGE_ID="edge-live-id", EDGE_KEY=created["EdgeKey"], EDGE_INSECURE_POLL="1",
                        EDGE_POLL_INTERVAL="0.2")
    wait_until("the first edge check-in", lambda: api.get(f"/api/endpoints/{ident}").json()["Heartbeat"], 5)
    live = api.get(f"/api/endpoints/{ident}").json()
    assert live["LastCheckInDate"] > 0
    assert (live["EdgeID"], live["Agent"]["Version"]) == ("edge-live-id", "2.23.0")
    with portainer.client() as impostor:
        wrong = impostor.get(f"/api/endpoints/{ident}/edge/status",
                             headers={"X-PortainerAgent-EdgeID": "other", "Portainer-Agent-Platform": "1"})
    assert wrong.status_code == 403
    agent.stop()
    wait_until("the heartbeat to expire", lambda: not api.get(f"/api/endpoints/{ident}").json()["Heartbeat"], 6)
    assert api.get(f"/api/endpoints/{ident}").json()["Status"] == 1


def test_heartbeat_formula() -> None:
    """Heartbeat = QueryDate - LastCheckInDate <= 2*checkin + 20, and false before any check-in."""
    spec = importlib.util.spec_from_file_location("pt_models_under_test", STANDINS / "portainer" / "pt_models.py")
    assert spec is not None
    assert spec.loader is not None
    sys.path.insert(0, str(STANDINS / "portainer"))
    sys.dont_write_bytecode, before = True, sys.dont_write_bytecode
    try:
        models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(models)
    finally:
        sys.path.remove(str(STANDINS / "portainer"))
        sys.dont_write_bytecode = before
    assert [models.heartbeat(1000, last, 5) for last in (970, 969, 0)] == [True, False, False]


def test_endpoint_list_bracket_filters(api: httpx.Client) -> None:
    """types[]/tagIds[]/groupIds[]/name filter (plain `types=` is ignored); totals are in headers."""
    tag = api.post("/api/tags", json={"Name": "filter-tag"}).json()["ID"]
    group = api.post("/api/endpoint_groups", json={"Name": "filter-group"}).json()["Id"]
    ident = api.post("/api/endpoints", data={"Name": "filter-edge", "EndpointCreationType": "4",
                                             "URL": "https://p.lan", "TagIds": f"[{tag}]"}).json()["Id"]
    assert api.put(f"/api/endpoint_groups/{group}/endpoints/{ident}").status_code == 204
    everything = api.get("/api/endpoints")
    assert everything.headers["X-Total-Available"] == everything.headers["X-Total-Count"]
    assert len(api.get("/api/endpoints", params={"types": "4"}).json()) == len(everything.json())
    for params in ({"tagIds[]": tag}, {"groupIds[]": group}, {"name": "filter-edge"}, {"search": "FILTER-ED"}):
        found = api.get("/api/endpoints", params=params)
        assert ([e["Id"] for e in found.json()], found.headers["X-Total-Count"]) == ([ident], "1"), params
    assert all(e["Type"] == 4 for e in api.get("/api/endpoints", params={"types[]": "4"}).json())
    assert all(e["Snapshots"] == [] for e in api.get("/api/endpoints", params={"excludeSnapshots": "true"}).json())


def test_tags_groups_and_conflicts(api: httpx.Client) -> None:
    """Tags use the `ID` key and refuse duplicates (409); group 1 is Unassigned; group names may repeat."""
    tag = api.post("/api/tags", json={"Name": "dup"}).json()
    assert set(tag) == {"ID", "Name", "Endpoints", "EndpointGroups"}
    duplicate = api.post("/api/tags", json={"Name": "dup"})
    assert (duplicate.status_code, duplicate.json()["message"]) == (409, "This name is already associated to a tag")
    assert api.get("/api/endpoint_groups").json()[0]["Name"] == "Unassigned"
    assert api.post("/api/endpoint_groups", json={"Name": "twice"}).status_code == 200
    assert api.post("/api/endpoint_groups", json={"Name": "twice"}).status_code == 200
    assert api.delete(f"/api/tags/{tag['ID']}").status_code == 204


def test_git_stack_is_recorded_with_normalized_name(api: httpx.Client) -> None:
    """A standalone repository stack is returned as Stack JSON; its name normalized; a duplicate is 409."""
    ident = api.post("/api/endpoints", data={"Name": "stack-host", "EndpointCreationType": "4",
                                             "URL": "https://p.lan"}).json()["Id"]
    payload = {"Name": "Ollama Stack!", "RepositoryURL": "https://github.com/me/homelab",
               "RepositoryReferenceName": "refs/heads/main", "ComposeFile": "stacks/ollama/docker-compose.yml"}
    path = "/api/stacks/create/standalone/repository"
    stack = api.post(path, params={"endpointId": ident}, json=payload).json()
    assert (stack["Name"], stack["Type"], stack["EndpointId"]) == ("ollamastack", 2, ident)
    assert (stack["GitConfig"]["URL"], stack["EntryPoint"]) == (payload["RepositoryURL"], payload["ComposeFile"])
    assert api.post(path, params={"endpointId": ident}, json=payload).status_code == 409
    assert api.post(path, json=payload).status_code == 400
    assert api.delete(f"/api/stacks/{stack['Id']}").status_code == 204


def test_enforce_edge_id_binds_at_creation_and_refuses_another(portainer: Portainer, api: httpx.Client) -> None:
    """With the EnforceEdgeID setting an Edge environment gets its Edge ID at creation (endpoint_create.go); an
    agent polling with any other is refused 403 as bouncer.go words it, the bound one is let in."""
    assert api.put("/api/settings", json={"EnforceEdgeID": True}).json()["EnforceEdgeID"] is True
    try:
        created = api.post("/api/endpoints", data={"Name": "edge-enforced", "EndpointCreationType": "4",
                                                   "URL": portainer.base}).json()
    finally:
        api.put("/api/settings", json={"EnforceEdgeID": False})
    bound, ident = created["EdgeID"], created["Id"]
    poll = {"Portainer-Agent-Platform": "1"}
    with portainer.client() as agent:
        wrong = agent.get(f"/api/endpoints/{ident}/edge/status", headers={**poll, "X-PortainerAgent-EdgeID": "mine"})
        right = agent.get(f"/api/endpoints/{ident}/edge/status", headers={**poll, "X-PortainerAgent-EdgeID": bound})
    assert (wrong.status_code, wrong.json()) == (403, {
        "message": "Permission denied to access environment. The device has not been trusted yet",
        "details": "Unauthorized Edge endpoint operation: invalid Edge identifier. Environment name: edge-enforced"})
    assert right.status_code == 200
    later = api.post("/api/endpoints", data={"Name": "edge-free", "EndpointCreationType": "4", "URL": portainer.base})
    assert "EdgeID" not in later.json()


def test_inspect_returns_the_stored_checkin_interval(portainer: Portainer, api: httpx.Client) -> None:
    """An Edge environment made without EdgeCheckinInterval shows 0 (the global interval applies), not a default."""
    created = api.post("/api/endpoints", data={"Name": "edge-default-interval", "EndpointCreationType": "4",
                                               "URL": portainer.base}).json()
    assert api.get(f"/api/endpoints/{created['Id']}").json()["EdgeCheckinInterval"] == 0


def test_create_saves_before_checking_tags_and_group(portainer: Portainer, api: httpx.Client) -> None:
    """As 2.23 (no transaction): an unknown tag or group fails the request with 500 after the environment is saved,
    so it is listed afterwards."""
    form = {"EndpointCreationType": "4", "URL": portainer.base}
    bad_tag = api.post("/api/endpoints", data={**form, "Name": "half-tag", "TagIds": "[9999]"})
    bad_group = api.post("/api/endpoints", data={**form, "Name": "half-group", "GroupID": "9999"})
    assert (bad_tag.status_code, bad_tag.json()["message"]) == (
        500, "An error occurred while trying to create the environment")
    assert (bad_group.status_code, bad_group.json()["message"]) == (
        500, "Unable to find an environment group inside the database")
    names = {e["Name"] for e in api.get("/api/endpoints", params={"excludeSnapshots": "true"}).json()}
    assert {"half-tag", "half-group"} <= names


def test_failed_snapshot_part_is_logged_not_down(api: httpx.Client) -> None:
    """api/docker/snapshot.go: only a failed Ping marks an environment down; an engine whose image list fails
    (here: 404) stays up with the rest of its snapshot, and one that does not answer /_ping goes down."""
    folder = tempfile.mkdtemp(prefix="fd-")
    partial = FakeDocker(os.path.join(folder, "partial.sock"), {k: v for k, v in DOCKER.items() if k != "/images/json"})
    dead = FakeDocker(os.path.join(folder, "dead.sock"), {k: v for k, v in DOCKER.items() if k != "/_ping"})
    for server in (partial, dead):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        made = api.post("/api/endpoints", data={"Name": "partial-engine", "EndpointCreationType": "1",
                                                "URL": f"unix://{partial.server_address}"})
        assert made.status_code == 200
        (snapshot,) = made.json()["Snapshots"]
        assert (made.json()["Status"], snapshot["ImageCount"], snapshot["ContainerCount"]) == (1, 0, 2)
        refused = api.post("/api/endpoints", data={"Name": "dead-engine", "EndpointCreationType": "1",
                                                   "URL": f"unix://{dead.server_address}"})
        assert refused.status_code == 500
    finally:
        for server in (partial, dead):
            server.shutdown()
            server.server_close()
