"""Edge jobs on the Portainer stand-in, as Portainer CE 2.23.0 serves them (api/http/handler/edgejobs: list,
create/string, inspect, delete; endpointedge_status_inspect.go buildSchedules): admin routes behind the Edge compute
gate, upstream's payload refusals and status codes, the script kept in <data>/edge_jobs/<id>/job_<id>.sh, and the
job handed to the agents of its environments and Edge groups in their poll's `schedules`.

The stand-in runs as a local process with `--edge-compute` (test_portainer_edge_stacks.EdgePortainer); agents are
played by plain HTTP polls with the Edge headers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from spec_project import REPO, spec_module
from standin_helpers import insecure
from test_portainer import PASSWORD
from test_portainer_edge_stacks import DISABLED, EdgePortainer, edge_portainer

from homelab.checks.portainer import PortainerView
from homelab.clients.portainer import Portainer, PortainerError
from homelab.clients.portainer_edge import EdgeApi
from homelab.model.inventory_loader import load_inventory
from homelab.specs.targets import select
from lab.faults import phase3

SCRIPT = "#!/bin/sh\nid > /tmp/owned\n"
JOB_KEYS = ["Id", "Created", "CronExpression", "Endpoints", "EdgeGroups", "Name", "ScriptPath", "Recurring", "Version",
            "GroupLogsCollection"]
META = {"LogsStatus": 0, "CollectLogs": False}
BAD = "Invalid request payload"


@dataclass
class JobLab:
    portainer: EdgePortainer
    api: httpx.Client  # the admin (JWT)
    agent: httpx.Client  # no credentials: the Edge agents' poll
    data: Path
    member: int  # Edge environment "gpu-a" (Edge ID "gpu-a-id")
    other: int  # Edge environment "gpu-b" (Edge ID "gpu-b-id")
    local: int  # a Docker environment: never given a job

    def create(self, **payload: Any) -> httpx.Response:
        return self.api.post("/api/edge_jobs/create/string", json=payload)

    def job(self, name: str, **payload: Any) -> dict[str, Any]:
        made = self.create(**{"Name": name, "CronExpression": "0 * * * *", "FileContent": SCRIPT,
                              "Endpoints": [self.member], **payload})
        assert made.status_code == 200, made.text
        return dict(made.json())

    def schedules(self, ident: int, edge_id: str) -> list[dict[str, Any]]:
        answer = self.agent.get(f"/api/endpoints/{ident}/edge/status", headers={
            "X-PortainerAgent-EdgeID": edge_id, "Portainer-Agent-Platform": "1", "Portainer-Agent": "2.23.0"})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()["schedules"]
        return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobLab]:
    work = tmp_path_factory.mktemp("portainer-edge-jobs")
    with edge_portainer(work, ("gpu-a", "gpu-b")) as (portainer, api, agent, ids, local):
        found = JobLab(portainer, api, agent, work / "data", ids[0], ids[1], local)
        for ident, edge_id in ((ids[0], "gpu-a-id"), (ids[1], "gpu-b-id")):  # the first poll binds the Edge ID
            assert found.schedules(ident, edge_id) == []
        yield found


ROUTES = (("GET", "/api/edge_jobs"), ("POST", "/api/edge_jobs/create/string"), ("POST", "/api/edge_jobs"),
          ("GET", "/api/edge_jobs/1"), ("DELETE", "/api/edge_jobs/1"))


def test_routes_need_a_token_then_edge_compute(lab: JobLab) -> None:
    """AdminAccess first (401 without a token or with an unknown API key), then EdgeComputeOperation: 503 on every
    route while EnableEdgeComputeFeatures is off."""
    with lab.portainer.client() as anonymous:
        for method, path in ROUTES:
            assert anonymous.request(method, path, json={}).status_code == 401, (method, path)
            refused = anonymous.request(method, path, json={}, headers={"X-API-Key": "ptr_not-a-key"})
            assert refused.status_code == 401, (method, path)
    lab.api.put("/api/settings", json={"EnableEdgeComputeFeatures": False})
    try:
        for method, path in ROUTES:
            answer = lab.api.request(method, path, json={})
            assert (answer.status_code, answer.json()) == (503, DISABLED), (method, path)
    finally:
        lab.api.put("/api/settings", json={"EnableEdgeComputeFeatures": True})
    assert lab.api.get("/api/edge_jobs").status_code == 200


def test_create_from_string_stores_the_job_and_its_script(lab: JobLab) -> None:
    """The answer is portainer.EdgeJob: a six-field cron loses its seconds, a Docker environment is dropped silently,
    EdgeGroups stays null when none was sent; the script is job_<id>.sh (0600) in the job's folder."""
    job = lab.job("nightly", CronExpression="0 0 3 * * *", Recurring=True, Endpoints=[lab.member, lab.local])
    ident = job["Id"]
    path = lab.data / "edge_jobs" / str(ident) / f"job_{ident}.sh"
    assert list(job) == JOB_KEYS
    assert job == {"Id": ident, "Created": job["Created"], "CronExpression": "0 3 * * *",
                   "Endpoints": {str(lab.member): META}, "EdgeGroups": None, "Name": "nightly",
                   "ScriptPath": str(path), "Recurring": True, "Version": 1, "GroupLogsCollection": {}}
    assert path.read_text() == SCRIPT
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    assert job in lab.api.get("/api/edge_jobs").json()
    inspected = lab.api.get(f"/api/edge_jobs/{ident}").json()
    assert list(inspected)[-1] == "Endpoints"  # the outer field of edgeJobInspectResponse: a list of ids
    assert inspected == {**job, "Endpoints": [lab.member]}
    assert lab.api.delete(f"/api/edge_jobs/{ident}").status_code == 204


@pytest.mark.parametrize(("payload", "details"), [
    ({"Name": ""}, "Invalid Edge job name"),
    ({"Name": "-leading-dash"}, "Invalid Edge job name format. Allowed characters are: [a-zA-Z0-9_.-]"),
    ({"Name": "new\nline"}, "Invalid Edge job name format. Allowed characters are: [a-zA-Z0-9_.-]"),
    ({"CronExpression": ""}, "Invalid cron expression"),
    ({"Endpoints": [], "EdgeGroups": []}, "No environments or groups have been provided"),
    ({"FileContent": ""}, "Invalid script file content"),
])
def test_invalid_payloads_are_400(lab: JobLab, payload: dict[str, Any], details: str) -> None:
    """edgeJobCreateFromFileContentPayload.Validate: 400 "Invalid request payload", in upstream's words."""
    answer = lab.create(**{"Name": "ok", "CronExpression": "* * * * *", "FileContent": SCRIPT,
                           "Endpoints": [lab.member], **payload})
    assert (answer.status_code, answer.json()) == (400, {"message": BAD, "details": details})


def test_undecodable_bodies_and_methods_are_400(lab: JobLab) -> None:
    """A body Go cannot decode is 400 "Invalid request payload"; a method other than string or file is 400, as is
    the deprecated route without one."""
    wrong = lab.create(Name="ok", CronExpression="* * * * *", FileContent=SCRIPT, Endpoints="1")
    assert (wrong.status_code, wrong.json()["message"]) == (400, BAD)
    assert lab.api.post("/api/edge_jobs/create/string", content=b"").status_code == 400
    method = lab.api.post("/api/edge_jobs/create/url", json={})
    assert (method.status_code, method.json()["message"]) == (
        400, "Invalid query parameter: method. Valid values are: file or string")
    assert lab.api.post("/api/edge_jobs", json={}).status_code == 400
    assert lab.api.get("/api/edge_jobs/abc").json()["message"] == "Invalid Edge job identifier route variable"


def test_targets_that_are_not_edge_environments_are_500_and_store_nothing(lab: JobLab) -> None:
    """An unknown Edge group or environment, or only non-Edge environments: 500, nothing stored, no id used up."""
    first = lab.job("before-refusals")
    before = lab.api.get("/api/edge_jobs").json()
    for payload, message, details in (
            ({"EdgeGroups": [999]}, "Unable to get Endpoints from EdgeGroups", "Object not found inside the database"),
            ({"Endpoints": [999]}, "Unable to schedule Edge job", "Object not found inside the database"),
            ({"Endpoints": [lab.local]}, "Unable to schedule Edge job",
             "Environments or edge groups are mandatory for an Edge job")):
        answer = lab.create(**{"Name": "refused", "CronExpression": "* * * * *", "FileContent": SCRIPT, **payload})
        assert (answer.status_code, answer.json()) == (500, {"message": message, "details": details}), payload
    assert lab.api.get("/api/edge_jobs").json() == before
    assert lab.job("after-refusals")["Id"] == first["Id"] + 1
    for job in lab.api.get("/api/edge_jobs").json():
        assert lab.api.delete(f"/api/edge_jobs/{job['Id']}").status_code == 204


def test_the_poll_hands_the_job_to_its_environments_agents_only(lab: JobLab) -> None:
    """A job aimed at an Edge group reaches its members' polls (script base64 without padding), not the others';
    the group lists HasEdgeJob and cannot be deleted while the job uses it."""
    group = lab.api.post("/api/edge_groups", json={"Name": "gpu-job-group", "Endpoints": [lab.other]}).json()["Id"]
    job = lab.job("by-group", Endpoints=[], EdgeGroups=[group], CronExpression="*/5 * * * *")
    assert (job["Endpoints"], job["EdgeGroups"]) == ({}, [group])
    assert lab.schedules(lab.other, "gpu-b-id") == [
        {"Id": job["Id"], "CollectLogs": False, "CronExpression": "*/5 * * * *",
         "Script": base64.b64encode(SCRIPT.encode()).decode().rstrip("="), "Version": 1}]
    assert lab.schedules(lab.member, "gpu-a-id") == []
    assert lab.api.get(f"/api/edge_jobs/{job['Id']}").json()["Endpoints"] is None
    listed = {g["Name"]: g for g in lab.api.get("/api/edge_groups").json()}["gpu-job-group"]
    assert (listed["HasEdgeStack"], listed["HasEdgeJob"]) == (False, True)
    used = lab.api.delete(f"/api/edge_groups/{group}")
    assert (used.status_code, used.json()) == (409, {"message": "Edge group is used by an Edge job",
                                                     "details": "Edge group is used by an Edge job"})
    assert lab.api.delete(f"/api/edge_jobs/{job['Id']}").status_code == 204
    assert lab.schedules(lab.other, "gpu-b-id") == []
    assert lab.api.delete(f"/api/edge_groups/{group}").status_code == 204


def test_delete_removes_the_job_and_its_folder(lab: JobLab) -> None:
    """DELETE is 204 then 404 (inspect too); the script's folder goes with it; the agents stop getting it."""
    job = lab.job("deleted")
    assert [s["Id"] for s in lab.schedules(lab.member, "gpu-a-id")] == [job["Id"]]
    assert lab.api.delete(f"/api/edge_jobs/{job['Id']}").status_code == 204
    assert not Path(job["ScriptPath"]).parent.exists()
    assert lab.schedules(lab.member, "gpu-a-id") == []
    missing = {"message": "Unable to find an Edge job with the specified identifier inside the database",
               "details": "Object not found inside the database"}
    for method in ("GET", "DELETE"):
        answer = lab.api.request(method, f"/api/edge_jobs/{job['Id']}")
        assert (answer.status_code, answer.json()) == (404, missing), method


def test_deprecated_create_forwards_to_the_method(lab: JobLab) -> None:
    """POST /api/edge_jobs?method=string is create/string."""
    made = lab.api.post("/api/edge_jobs", params={"method": "string"}, json={
        "Name": "old-style", "CronExpression": "* * * * *", "FileContent": SCRIPT, "Endpoints": [lab.member]})
    assert made.status_code == 200, made.text
    assert lab.api.delete(f"/api/edge_jobs/{made.json()['Id']}").status_code == 204


def test_deleting_an_environment_takes_it_out_of_its_jobs(lab: JobLab) -> None:
    """endpoint_delete.go: an Edge environment leaves every Edge job's Endpoints."""
    spare = lab.api.post("/api/endpoints", data={"Name": "spare", "EndpointCreationType": "4",
                                                 "URL": lab.portainer.base}).json()["Id"]
    job = lab.job("two-hosts", Endpoints=[lab.member, spare])
    assert lab.api.delete(f"/api/endpoints/{spare}").status_code == 204
    assert lab.api.get(f"/api/edge_jobs/{job['Id']}").json()["Endpoints"] == [lab.member]
    assert lab.api.delete(f"/api/edge_jobs/{job['Id']}").status_code == 204


def test_the_projects_client_makes_lists_and_deletes_a_job(lab: JobLab) -> None:
    """homelab.clients.portainer_edge.EdgeApi (what the spec reads and the lab fault writes) against the stand-in: a
    job on one environment is listed, deleted, and a second delete is refused with 404."""
    with Portainer(lab.portainer.base, verify=insecure()) as client:
        client.login(PASSWORD)
        edge = EdgeApi(client)
        job = edge.create_job_from_string("client-job", "*/10 * * * *", SCRIPT, endpoints=[lab.member], recurring=True)
        assert [(j["Name"], j["Endpoints"], j["Recurring"]) for j in edge.jobs()] == [
            ("client-job", {str(lab.member): META}, True)]
        edge.delete_job(int(job["Id"]))
        assert edge.jobs() == []
        with pytest.raises(PortainerError) as gone:
            edge.delete_job(int(job["Id"]))
        assert gone.value.status == 404


def test_the_lab_fault_is_caught_by_p3_edge_007_and_undone(lab: JobLab) -> None:
    """lab/faults/phase3.py `edge-job-created` against the stand-in, with P3-EDGE-007 reading it through the real
    PortainerView: green before, failing on the job made for gaming-pc-1, green again after undo (twice: it is safe
    to repeat)."""
    def client() -> Portainer:
        made = Portainer(lab.portainer.base, verify=insecure())
        made.login(PASSWORD)
        return made

    inventory = load_inventory(REPO / "inventory.yaml")
    instance = select(inventory, "instance", {"service": "portainer"})[0][0]
    spec = spec_module("tests/phase3/test_edge_agent.py").test_no_edge_jobs
    fault_lab = SimpleNamespace(portainer=client)

    def verdict() -> str:
        view = PortainerView(inventory, secrets=None)  # type: ignore[arg-type]
        view._client = client()
        try:
            spec(instance, view)
        except AssertionError as failed:
            return str(failed)
        finally:
            view.close()
        return "passed"

    worker = lab.api.post("/api/endpoints", data={"Name": phase3.WORKER, "EndpointCreationType": "4",
                                                  "URL": lab.portainer.base}).json()["Id"]
    try:
        assert verdict() == "passed"
        phase3._edge_job(fault_lab, create=True)  # type: ignore[arg-type]
        assert f"found 1 Edge job(s): '{phase3.EDGE_JOB}' (id " in verdict()
        assert f"cron '{phase3.EDGE_JOB_CRON}' once, on {phase3.WORKER})" in verdict()
        for _ in range(2):
            phase3._edge_job(fault_lab, create=False)  # type: ignore[arg-type]
        assert verdict() == "passed"
    finally:
        lab.api.delete(f"/api/endpoints/{worker}")
