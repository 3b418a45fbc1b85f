"""Edge groups and Edge stacks on the Portainer stand-in, as Portainer CE 2.23.0 serves them
(docs/design/edge-stacks.md §1, §2.1, §2.2): the `--edge-compute` gate, groups, a stack cloned once from Git into
<data>/edge_stacks/<id>, the poll's `stacks`, the agent's fetch and status reports, update and delete.

The stand-in runs as a local process with `--edge-compute`; the repositories are served by `git http-backend`
(test_portainer_git_support). Agents are played by plain HTTP calls with the Edge headers."""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_helpers import FakeDocker
from test_portainer import DOCKER, PASSWORD, Portainer, login
from test_portainer_git_support import GitServer, git_server, make_repo

__all__ = ["git_server"]
COMPOSE = "services:\n  worker:\n    image: busybox:1.36\n    command: sleep 1d\n"
NEW = "services:\n  worker:\n    image: busybox:1.37\n    command: sleep 1d\n"
DISABLED = {"message": "Edge compute features are disabled", "details": "Edge compute features are disabled"}
STACK_KEYS = ["Id", "Name", "Status", "CreationDate", "EdgeGroups", "ProjectPath", "EntryPoint", "Version",
              "NumDeployments", "ManifestPath", "DeploymentType", "UseManifestNamespaces"]


class EdgePortainer(Portainer):
    """The stand-in started with `--edge-compute` (unless `edge_compute` is turned off before a restart)."""

    edge_compute = True

    def start(self) -> None:
        self.args = [a for a in self.args if a != "--edge-compute"] + (["--edge-compute"] if self.edge_compute else [])
        super().start()


@dataclass
class EdgeLab:
    portainer: EdgePortainer
    api: httpx.Client  # the admin (JWT)
    agent: httpx.Client  # no credentials: the Edge agent's public routes
    data: Path
    member: int  # Edge environment "edge-a" (Edge ID "edge-a-id")
    other: int  # Edge environment "edge-b" (Edge ID "edge-b-id")
    local: int  # a Docker environment, never part of an Edge group

    def poll(self, ident: int, edge_id: str, version: str = "2.23.0") -> httpx.Response:
        return self.agent.get(f"/api/endpoints/{ident}/edge/status", headers={
            "X-PortainerAgent-EdgeID": edge_id, "Portainer-Agent-Platform": "1", "Portainer-Agent": version})

    def polled_stacks(self, ident: int, edge_id: str) -> list[dict[str, Any]]:
        answer = self.poll(ident, edge_id)
        assert answer.status_code == 200, answer.text
        stacks: list[dict[str, Any]] = answer.json()["stacks"]
        return stacks

    def report(self, stack_id: int, endpoint_id: int, status: int, edge_id: str, **extra: Any) -> httpx.Response:
        return self.agent.put(f"/api/edge_stacks/{stack_id}/status", headers={"X-PortainerAgent-EdgeID": edge_id},
                              json={"Status": status, "EndpointID": endpoint_id, "Error": "", **extra})

    def group(self, name: str, *endpoints: int) -> int:
        made = self.api.post("/api/edge_groups", json={"Name": name, "Endpoints": list(endpoints)})
        assert made.status_code == 200, made.text
        return int(made.json()["Id"])


@contextmanager
def edge_portainer(work: Path, names: tuple[str, str]) -> Iterator[tuple[EdgePortainer, httpx.Client, httpx.Client,
                                                                          list[int], int]]:
    """The stand-in with Edge compute, its admin set up, over a fake Docker engine: (portainer, the admin's client,
    the agents' client without credentials, the ids of two Edge environments `names`, a local Docker one)."""
    engine = FakeDocker(os.path.join(tempfile.mkdtemp(prefix="fd-"), "docker.sock"), DOCKER)
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    (work / "data").mkdir()
    portainer = EdgePortainer(work / "data")
    try:
        with portainer.client() as client:
            client.post("/api/users/admin/init", json={"Username": "admin", "Password": PASSWORD})
        with portainer.client(login(portainer)) as api, portainer.client() as agent:
            ids = [api.post("/api/endpoints", data={"Name": name, "EndpointCreationType": "4",
                                                    "URL": portainer.base}).json()["Id"] for name in names]
            local = api.post("/api/endpoints", data={"Name": "local", "EndpointCreationType": "1",
                                                     "URL": f"unix://{engine.server_address}"}).json()["Id"]
            yield portainer, api, agent, ids, local
    finally:
        portainer.stop()
        engine.shutdown()
        engine.server_close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeLab]:
    work = tmp_path_factory.mktemp("portainer-edge")
    with edge_portainer(work, ("edge-a", "edge-b")) as (portainer, api, agent, ids, local):
        found = EdgeLab(portainer, api, agent, work / "data", ids[0], ids[1], local)
        for ident, edge_id in ((ids[0], "edge-a-id"), (ids[1], "edge-b-id")):  # the first poll binds the Edge ID
            assert found.poll(ident, edge_id).status_code == 200
        yield found


def from_repository(lab: EdgeLab, **payload: Any) -> httpx.Response:
    return lab.api.post("/api/edge_stacks/create/repository", json=payload)


def edge_stack(lab: EdgeLab, git_server: GitServer, name: str, group: int) -> dict[str, Any]:
    """An Edge stack from a fresh repository whose entry file is stacks/<name>/compose.yaml."""
    repo = make_repo(git_server.root, name, git_server.base)
    repo.commit({f"stacks/{name}/compose.yaml": COMPOSE})
    made = from_repository(lab, Name=name, RepositoryURL=repo.url, RepositoryReferenceName="refs/heads/main",
                           FilePathInRepository=f"stacks/{name}/compose.yaml", EdgeGroups=[group], DeploymentType=0)
    assert made.status_code == 200, made.text
    return dict(made.json())


def test_edge_routes_answer_503_while_edge_compute_is_off(lab: EdgeLab) -> None:
    """EdgeComputeOperation: every admin Edge group/stack route is 503 until EnableEdgeComputeFeatures is set by
    PUT /api/settings; the agent's status route is public and not gated."""
    assert lab.api.get("/api/settings").json()["EnableEdgeComputeFeatures"] is True  # --edge-compute
    assert lab.api.put("/api/settings", json={"EnableEdgeComputeFeatures": False}).json()[
        "EnableEdgeComputeFeatures"] is False
    try:
        for method, path in (("GET", "/api/edge_groups"), ("POST", "/api/edge_groups"), ("GET", "/api/edge_stacks"),
                             ("POST", "/api/edge_stacks/create/repository"), ("GET", "/api/edge_stacks/1/file"),
                             ("DELETE", "/api/edge_stacks/1"), ("PUT", "/api/edge_groups/1")):
            answer = lab.api.request(method, path, json={})
            assert (answer.status_code, answer.json()) == (503, DISABLED), (method, path)
        assert lab.report(999, lab.member, 7, "edge-a-id").status_code == 200
    finally:
        lab.api.put("/api/settings", json={"EnableEdgeComputeFeatures": True})
    assert lab.api.get("/api/edge_groups").status_code == 200


def test_every_start_sets_edge_compute_from_the_flag(lab: EdgeLab) -> None:
    """updateSettingsFromFlags read literally: a start without `--edge-compute` turns the setting off even after
    PUT /api/settings turned it on; a start with the flag turns it on again."""
    lab.portainer.stop()
    lab.portainer.edge_compute = False
    try:
        lab.portainer.start()
        assert lab.api.get("/api/settings").json()["EnableEdgeComputeFeatures"] is False
        assert lab.api.get("/api/edge_stacks").status_code == 503
    finally:
        lab.portainer.stop()
        lab.portainer.edge_compute = True
        lab.portainer.start()
    assert lab.api.get("/api/settings").json()["EnableEdgeComputeFeatures"] is True


def test_edge_groups_create_list_and_refuse_duplicates(lab: EdgeLab) -> None:
    """A static group keeps only Edge environments (the Docker one is dropped silently); the exact same name again
    is 400; an empty name and an unknown environment are refused as upstream words them."""
    made = lab.api.post("/api/edge_groups", json={"Name": "static", "Endpoints": [lab.member, lab.local]})
    assert made.status_code == 200, made.text
    group = made.json()
    assert group == {"Id": group["Id"], "Name": "static", "Dynamic": False, "TagIds": [], "Endpoints": [lab.member],
                     "PartialMatch": False}
    again = lab.api.post("/api/edge_groups", json={"Name": "static", "Endpoints": []})
    assert (again.status_code, again.json()) == (400, {"message": "Edge group name must be unique",
                                                       "details": "Edge group name must be unique"})
    assert lab.api.post("/api/edge_groups", json={"Name": "Static"}).status_code == 200  # exact match only
    empty = lab.api.post("/api/edge_groups", json={"Name": ""})
    assert (empty.status_code, empty.json()) == (400, {"message": "Invalid request payload",
                                                       "details": "Invalid Edge group name"})
    unknown = lab.api.post("/api/edge_groups", json={"Name": "ghost", "Endpoints": [9999]})
    assert (unknown.status_code, unknown.json()["message"]) == (500, "Unable to retrieve environment from the database")
    listed = {g["Name"]: g for g in lab.api.get("/api/edge_groups").json()}["static"]
    assert (listed["HasEdgeStack"], listed["HasEdgeJob"], listed["EndpointTypes"], listed["TrustedEndpoints"]) == (
        False, False, [4], [lab.member])
    assert lab.api.get(f"/api/edge_groups/{group['Id']}").json() == group
    assert lab.api.get("/api/edge_groups/9999").status_code == 404


def test_dynamic_group_resolves_its_environments_from_tags(lab: EdgeLab) -> None:
    """A dynamic group stores tags; reading it lists the trusted Edge environments carrying them."""
    tag = lab.api.post("/api/tags", json={"Name": "gpu"}).json()["ID"]
    assert lab.api.put(f"/api/endpoints/{lab.other}", json={"TagIDs": [tag]}).status_code == 200
    try:
        made = lab.api.post("/api/edge_groups", json={"Name": "by-tag", "Dynamic": True, "TagIDs": [tag]}).json()
        assert (made["TagIds"], made["Endpoints"]) == ([tag], [])
        assert lab.api.get(f"/api/edge_groups/{made['Id']}").json()["Endpoints"] == [lab.other]
        untagged = lab.api.post("/api/edge_groups", json={"Name": "no-tags", "Dynamic": True})
        assert untagged.json()["details"] == "TagIDs is mandatory for a dynamic Edge group"
    finally:
        lab.api.put(f"/api/endpoints/{lab.other}", json={"TagIDs": []})


def test_create_from_repository_clones_once_and_keeps_no_git_settings(lab: EdgeLab, git_server: GitServer) -> None:
    """The reference is cloned (no .git) into <data>/edge_stacks/<id>; Version 1, an empty Status, EntryPoint =
    FilePathInRepository, NumDeployments = the group's environments; the credentials are stored nowhere and
    the keys CE does not know (AutoUpdate...) are ignored."""
    group = lab.group("web-group", lab.member)
    repo = make_repo(git_server.root, "web", git_server.base)
    repo.commit({"stacks/web/compose.yaml": COMPOSE, "stacks/web/.env": "TAG=1\n", "README.md": "hi\n"})
    made = from_repository(lab, Name="web", RepositoryURL=repo.url, RepositoryReferenceName="refs/heads/main",
                           FilePathInRepository="stacks/web/compose.yaml", EdgeGroups=[group], DeploymentType=0,
                           RepositoryAuthentication=True, RepositoryUsername="ops", RepositoryPassword="s3cret-pw",
                           AutoUpdate={"Interval": "1m"}, Registries=[])
    assert made.status_code == 200, made.text
    stack = made.json()
    folder = lab.data / "edge_stacks" / str(stack["Id"])
    assert list(stack) == STACK_KEYS
    assert (stack["Name"], stack["Status"], stack["Version"], stack["EdgeGroups"]) == ("web", {}, 1, [group])
    assert (stack["EntryPoint"], stack["ProjectPath"], stack["NumDeployments"]) == (
        "stacks/web/compose.yaml", str(folder), 1)
    assert (folder / "stacks/web/compose.yaml").read_text() == COMPOSE
    assert not (folder / ".git").exists()
    assert "s3cret-pw" not in (lab.data / "portainer.json").read_text()
    assert "s3cret-pw" not in made.text
    assert "AutoUpdate" not in made.text
    assert lab.api.get(f"/api/edge_stacks/{stack['Id']}").json() == stack
    assert stack in lab.api.get("/api/edge_stacks").json()
    assert lab.api.get(f"/api/edge_stacks/{stack['Id']}/file").json() == {"StackFileContent": COMPOSE}
    used = {g["Id"]: g for g in lab.api.get("/api/edge_groups").json()}[group]
    assert used["HasEdgeStack"] is True


def test_duplicate_name_is_409_case_insensitive(lab: EdgeLab, git_server: GitServer) -> None:
    """validateUniqueName (strings.EqualFold) wrapped by BuildEdgeStack's caller, answered 409."""
    group = lab.group("dup-group", lab.member)
    edge_stack(lab, git_server, "dup", group)
    again = from_repository(lab, Name="DUP", RepositoryURL=f"{git_server.base}/dup.git", EdgeGroups=[group])
    message = "failed to create edge stack object: Edge stack name must be unique"
    assert (again.status_code, again.json()) == (409, {"message": message, "details": message[0].upper() + message[1:]})


def test_invalid_payloads(lab: EdgeLab, git_server: GitServer) -> None:
    """Validation and an unknown group are 400 "Invalid payload"; a body Go cannot decode is 500."""
    url = f"{git_server.base}/none.git"
    for payload, reason in (({"Name": "", "RepositoryURL": url, "EdgeGroups": [1]}, "Invalid stack name"),
                            ({"Name": "x", "RepositoryURL": "nope", "EdgeGroups": [1]},
                             "Invalid repository URL. Must correspond to a valid URL format"),
                            ({"Name": "x", "RepositoryURL": url},
                             "Invalid edge groups. At least one edge group must be specified"),
                            ({"Name": "x", "RepositoryURL": url, "EdgeGroups": [1], "DeploymentType": 2},
                             "Invalid deployment type"),
                            ({"Name": "x", "RepositoryURL": url, "EdgeGroups": [9999]}, "Edge group was not found")):
        answer = from_repository(lab, **payload)
        assert (answer.status_code, answer.json()) == (400, {"message": "Invalid payload", "details": reason}), payload
    undecodable = from_repository(lab, Name="x", RepositoryURL=url, EdgeGroups="1")
    assert (undecodable.status_code, undecodable.json()["message"]) == (500, "Unable to create Edge stack")


def test_clone_failure_is_500_and_stores_nothing(lab: EdgeLab, git_server: GitServer) -> None:
    """A reference the remote lacks: 500 "Unable to create Edge stack" with go-git's reason; no stack, no folder."""
    group = lab.group("broken-group", lab.member)
    repo = make_repo(git_server.root, "broken", git_server.base)
    repo.commit({"docker-compose.yml": COMPOSE})
    folders = set(os.listdir(lab.data / "edge_stacks"))
    before = lab.api.get("/api/edge_stacks").json()
    failed = from_repository(lab, Name="broken", RepositoryURL=repo.url, RepositoryReferenceName="refs/heads/nope",
                             EdgeGroups=[group])
    assert (failed.status_code, failed.json()) == (500, {
        "message": "Unable to create Edge stack",
        "details": "Unable to store manifest: failed to clone git repository: reference not found"})
    assert lab.api.get("/api/edge_stacks").json() == before
    assert set(os.listdir(lab.data / "edge_stacks")) == folders


def test_poll_lists_the_stack_for_members_only(lab: EdgeLab, git_server: GitServer) -> None:
    """buildEdgeStacks: {ID, Version} for each Edge stack related to the environment, none for the others."""
    stack = edge_stack(lab, git_server, "polled", lab.group("polled-group", lab.member))
    mine = lab.polled_stacks(lab.member, "edge-a-id")
    assert {"ID": stack["Id"], "Version": 1} in mine
    assert mine == sorted(mine, key=lambda s: s["ID"])
    assert stack["Id"] not in [s["ID"] for s in lab.polled_stacks(lab.other, "edge-b-id")]


def test_fetch_sends_the_entry_file_and_its_env_only(lab: EdgeLab, git_server: GitServer) -> None:
    """endpointedge_stack_inspect.go: LoadDir + FilterDirForEntryFile (the entry file, the .env beside it, the
    folders above them), base64 contents, numeric Permissions; StackFileContent only for agents < 2.19.0."""
    group = lab.group("fetch-group", lab.member)
    repo = make_repo(git_server.root, "fetched", git_server.base)
    repo.commit({"stacks/fetched/compose.yaml": COMPOSE, "stacks/fetched/.env": "TAG=2\n",
                 "stacks/fetched/prometheus.yml": "scrape_configs: []\n", "stacks/other/compose.yaml": COMPOSE,
                 "README.md": "hi\n"})
    stack = from_repository(lab, Name="fetched", RepositoryURL=repo.url, EdgeGroups=[group],
                            FilePathInRepository="stacks/fetched/compose.yaml").json()
    path = f"/api/endpoints/{lab.member}/edge/stacks/{stack['Id']}"
    answer = lab.agent.get(path, params={"version": 1}, headers={"X-PortainerAgent-EdgeID": "edge-a-id"})
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    entries = {e["Name"]: e for e in payload["DirEntries"]}
    assert list(entries) == ["stacks", "stacks/fetched", "stacks/fetched/.env", "stacks/fetched/compose.yaml"]
    compose = entries["stacks/fetched/compose.yaml"]
    assert (base64.b64decode(compose["Content"]).decode(), compose["IsFile"], compose["Permissions"]) == (
        COMPOSE, True, 0o644)
    assert (entries["stacks"]["IsFile"], entries["stacks"]["Content"]) == (False, "")
    assert {k: v for k, v in payload.items() if k != "DirEntries"} == {
        "ID": 0, "Name": "fetched", "StackFileContent": "", "EntryFileName": "stacks/fetched/compose.yaml",
        "Namespace": "default", "Version": 0, "RollbackTo": None, "RegistryCredentials": None, "PrePullImage": False,
        "RePullImage": False, "RetryDeploy": False, "EdgeUpdateID": 0, "SupportRelativePath": False,
        "FilesystemPath": "", "EnvVars": None, "ReadyRePullImage": False}
    try:
        assert lab.poll(lab.member, "edge-a-id", version="2.18.4").status_code == 200
        old = lab.agent.get(path, headers={"X-PortainerAgent-EdgeID": "edge-a-id"}).json()
        assert old["StackFileContent"] == COMPOSE
    finally:
        lab.poll(lab.member, "edge-a-id")
    missing = lab.agent.get(f"/api/endpoints/{lab.member}/edge/stacks/9999",
                            headers={"X-PortainerAgent-EdgeID": "edge-a-id"})
    assert (missing.status_code, missing.json()["message"]) == (
        404, "Unable to find an edge stack with the specified identifier inside the database")


def test_wrong_edge_id_is_403_on_fetch_and_status(lab: EdgeLab, git_server: GitServer) -> None:
    """AuthorizedEdgeEndpointOperation: a missing or different Edge ID is refused on both agent routes."""
    stack = edge_stack(lab, git_server, "guarded", lab.group("guarded-group", lab.member))
    fetch = f"/api/endpoints/{lab.member}/edge/stacks/{stack['Id']}"
    wrong = lab.agent.get(fetch, headers={"X-PortainerAgent-EdgeID": "impostor"})
    assert (wrong.status_code, wrong.json()) == (403, {
        "message": "Permission denied to access environment",
        "details": "Unauthorized edge endpoint operation: invalid Edge identifier. Environment name: edge-a"})
    assert lab.agent.get(fetch).json()["details"].startswith("Unauthorized edge endpoint operation: missing Edge")
    report = lab.report(stack["Id"], lab.member, 3, "impostor")
    assert (report.status_code, report.json()["message"]) == (403, "Permission denied to access environment")
    local = lab.report(stack["Id"], lab.local, 3, "edge-a-id")
    assert local.json()["details"] == "Unauthorized edge endpoint operation: Invalid environment type. " \
                                      "Environment name: local"
    assert lab.api.get(f"/api/edge_stacks/{stack['Id']}").json()["Status"] == {}


def test_status_reports_append_and_removed_deletes(lab: EdgeLab, git_server: GitServer) -> None:
    """updateEnvStatus: each report is appended to Status[<env>].Status (3, 8, 1, 7 on the happy path); type 4
    drops the entry; a report on an unknown stack is 200 null; type 2 needs an Error."""
    stack = edge_stack(lab, git_server, "reported", lab.group("reported-group", lab.member))
    for kind in (3, 8, 1, 7):
        answer = lab.report(stack["Id"], lab.member, kind, "edge-a-id", Time=1730000000 + kind)
        assert answer.status_code == 200, answer.text
    entry = answer.json()["Status"][str(lab.member)]
    assert [(s["Type"], s["Time"], s["Error"], s["RollbackTo"]) for s in entry["Status"]] == [
        (3, 1730000003, "", None), (8, 1730000008, "", None), (1, 1730000001, "", None), (7, 1730000007, "", None)]
    assert (entry["EndpointID"], entry["DeploymentInfo"], entry["Type"]) == (
        lab.member, {"Version": 0, "FileVersion": 0, "ConfigHash": ""}, 0)
    no_error = lab.report(stack["Id"], lab.member, 2, "edge-a-id")
    assert (no_error.status_code, no_error.json()) == (400, {
        "message": "Invalid request payload",
        "details": f"Edge polling error: error message is mandatory when status is error. Environment ID: "
                   f"{lab.member}"})
    removed = lab.report(stack["Id"], lab.member, 4, "edge-a-id")
    assert removed.json()["Status"] == {}
    gone = lab.report(9999, lab.member, 7, "edge-a-id")
    assert (gone.status_code, gone.text) == (200, "null")
    nobody = lab.report(stack["Id"], 9999, 7, "edge-a-id")
    assert (nobody.status_code, nobody.json()["message"]) == (404, "unable to find the environment")


def test_update_version_bumps_resets_and_rewrites_the_entry_file(lab: EdgeLab, git_server: GitServer) -> None:
    """PUT /api/edge_stacks/{id}: new groups take effect in the poll; UpdateVersion adds 1 to Version, gives every
    related environment an empty history and writes StackFileContent over the entry file (no re-clone)."""
    first = lab.group("update-a", lab.member)
    stack = edge_stack(lab, git_server, "updated", first)
    lab.report(stack["Id"], lab.member, 7, "edge-a-id")
    second = lab.group("update-b", lab.other)
    path = f"/api/edge_stacks/{stack['Id']}"
    same = lab.api.put(path, json={"StackFileContent": NEW, "EdgeGroups": [first, second]})
    assert same.status_code == 200, same.text
    assert (same.json()["Version"], same.json()["NumDeployments"]) == (1, 2)
    assert lab.api.get(f"{path}/file").json() == {"StackFileContent": COMPOSE}  # nothing written without UpdateVersion
    assert {"ID": stack["Id"], "Version": 1} in lab.polled_stacks(lab.other, "edge-b-id")
    bumped = lab.api.put(path, json={"StackFileContent": NEW, "EdgeGroups": [first, second], "UpdateVersion": True})
    assert bumped.status_code == 200, bumped.text
    body = bumped.json()
    assert body["Version"] == 2
    assert {k: v["Status"] for k, v in body["Status"].items()} == {str(lab.member): [], str(lab.other): []}
    assert lab.api.get(f"{path}/file").json() == {"StackFileContent": NEW}
    assert {"ID": stack["Id"], "Version": 2} in lab.polled_stacks(lab.member, "edge-a-id")
    invalid = lab.api.put(path, json={"StackFileContent": "", "EdgeGroups": [first]})
    assert (invalid.status_code, invalid.json()) == (400, {"message": "Invalid request payload",
                                                           "details": "Invalid stack file content"})


def test_delete_removes_the_stack_from_the_poll(lab: EdgeLab, git_server: GitServer) -> None:
    """DELETE is 204 then 404; the agents stop seeing the stack; its group can be deleted only once it is unused;
    the clone folder stays on disk, as upstream leaves it."""
    group = lab.group("deleted-group", lab.member)
    stack = edge_stack(lab, git_server, "deleted", group)
    used = lab.api.delete(f"/api/edge_groups/{group}")
    assert (used.status_code, used.json()) == (409, {"message": "Edge group is used by an Edge stack",
                                                     "details": "Edge group is used by an Edge stack"})
    assert lab.api.delete(f"/api/edge_stacks/{stack['Id']}").status_code == 204
    assert stack["Id"] not in [s["ID"] for s in lab.polled_stacks(lab.member, "edge-a-id")]
    assert lab.api.get(f"/api/edge_stacks/{stack['Id']}").status_code == 404
    assert lab.api.delete(f"/api/edge_stacks/{stack['Id']}").status_code == 404
    assert Path(stack["ProjectPath"]).is_dir()
    assert lab.api.delete(f"/api/edge_groups/{group}").status_code == 204


def test_create_from_string_stores_docker_compose_yml(lab: EdgeLab) -> None:
    """create/string: the content becomes <data>/edge_stacks/<id>/docker-compose.yml, served to the agent."""
    group = lab.group("string-group", lab.member)
    made = lab.api.post("/api/edge_stacks/create/string", json={"Name": "inline", "StackFileContent": COMPOSE,
                                                                "EdgeGroups": [group]})
    assert made.status_code == 200, made.text
    stack = made.json()
    assert (stack["EntryPoint"], stack["Version"]) == ("docker-compose.yml", 1)
    fetched = lab.agent.get(f"/api/endpoints/{lab.member}/edge/stacks/{stack['Id']}",
                            headers={"X-PortainerAgent-EdgeID": "edge-a-id"}).json()
    assert [(e["Name"], e["Permissions"]) for e in fetched["DirEntries"]] == [("docker-compose.yml", 0o600)]
    assert lab.api.get(f"/api/edge_stacks/{stack['Id']}/file").json() == {"StackFileContent": COMPOSE}
