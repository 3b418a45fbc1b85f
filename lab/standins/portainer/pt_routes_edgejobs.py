"""Edge jobs, admin side (api/http/handler/edgejobs/{handler,edgejob_list,edgejob_create,edgejob_inspect,
edgejob_delete}.go and portainer.EdgeJob in api/portainer.go at 2.23.0).

An Edge job is a script Portainer hands the agents of the chosen Edge environments (directly, or through Edge groups)
in their poll's `schedules`, to run as root on the host, once or on a cron schedule (pt_edgemodel.endpoint_jobs,
schedule). The script is kept where upstream keeps it: <data>/edge_jobs/<id>/job_<id>.sh. The agent stand-in does
not run it. Every route is an admin route behind the Edge compute gate (pt_routes_edge.gated)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pt_edgemodel as edge
from pt_routes_edge import gated
from pt_web import HttpError, Request, Response, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

JOB_NOT_FOUND = "Unable to find an Edge job with the specified identifier inside the database"
BAD_METHOD = "Invalid query parameter: method. Valid values are: file or string"
SCHEDULE_FAILED = "Unable to schedule Edge job"
NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # govalidator.Matches(`^...$`): the whole name
STRING = {"Name": "string", "CronExpression": "string", "Recurring": "bool", "Endpoints": "[]int",
          "EdgeGroups": "[]int", "FileContent": "string"}  # edgeJobCreateFromFileContentPayload


def _problem(payload: dict[str, Any]) -> str:
    """edgeJobCreateFromFileContentPayload.Validate, in its order. The cron expression is only required non-empty."""
    if not payload["Name"]:
        return "invalid Edge job name"
    if not NAME.fullmatch(payload["Name"]):
        return "invalid Edge job name format. Allowed characters are: [a-zA-Z0-9_.-]"
    if not payload["CronExpression"]:
        return "invalid cron expression"
    if not payload["Endpoints"] and not payload["EdgeGroups"]:
        return "no environments or groups have been provided"
    return "" if payload["FileContent"] else "invalid script file content"


def _cron(expression: str) -> str:
    """addAndPersistEdgeJob: a six-field expression (seconds first) loses its first field; split on single spaces."""
    fields = expression.split(" ")
    return " ".join(fields[1:] if len(fields) == 6 else fields)


def register(app: App) -> None:
    store = app.store

    def folder(ident: int) -> Path:
        return app.config.data_dir / "edge_jobs" / str(ident)  # GetEdgeJobFolder

    def job_id(req: Request) -> int:
        return int_param(req, "id", "Edge job identifier")

    def create(req: Request) -> Response:
        """edgejob_create.go: create/string only (create/file, a multipart upload, is not implemented)."""
        method = req.params["method"]
        if method == "file":
            raise HttpError(400, "Invalid request payload", "the stand-in implements only create/string")
        if method != "string":
            raise HttpError(400, BAD_METHOD, "invalid query parameter")
        try:
            payload = edge.go_decode(req.body, "edgejobs.edgeJobCreateFromFileContentPayload", STRING)
        except edge.DecodeError as exc:
            raise HttpError(400, "Invalid request payload", str(exc)) from exc
        problem = _problem(payload)
        if problem:
            raise HttpError(400, "Invalid request payload", problem)
        return json_response(build(payload))

    def build(payload: dict[str, Any]) -> dict[str, Any]:
        """createEdgeJob and addAndPersistEdgeJob in one transaction: on any failure nothing is stored and the id is
        not used up. Non-Edge environments are dropped silently; none left at all is a 500."""
        with store.tx() as db:
            ident = int(db["next_ids"].get("edge_jobs", 1))
            from_groups: list[int] = []
            if payload["EdgeGroups"]:
                try:
                    from_groups = edge.stack_endpoints(db, payload["EdgeGroups"])  # GetEndpointsFromEdgeGroups
                except edge.GroupNotFound as exc:
                    raise HttpError(500, "Unable to get Endpoints from EdgeGroups", edge.NOT_FOUND) from exc
            direct = {str(e): {"LogsStatus": 0, "CollectLogs": False} for e in payload["Endpoints"] or []
                      if is_edge(db, e)}
            if not direct and not [e for e in from_groups if is_edge(db, e)]:
                raise HttpError(500, SCHEDULE_FAILED, "environments or edge groups are mandatory for an Edge job")
            job = {"Id": ident, "Created": app.now(), "CronExpression": _cron(payload["CronExpression"]),
                   "Endpoints": direct, "EdgeGroups": payload["EdgeGroups"], "Name": payload["Name"],
                   "ScriptPath": store_script(ident, payload["FileContent"]), "Recurring": payload["Recurring"],
                   "Version": 1, "GroupLogsCollection": {}}
            db["next_ids"]["edge_jobs"] = ident + 1
            db["edge_jobs"][str(ident)] = job
        return job

    def is_edge(db: dict[str, Any], endpoint_id: int) -> bool:
        """tx.Endpoint().Endpoint(ID), then IsEdgeEndpoint; an environment that does not exist is a 500."""
        endpoint = db["endpoints"].get(str(endpoint_id))
        if endpoint is None:
            raise HttpError(500, SCHEDULE_FAILED, edge.NOT_FOUND)
        return endpoint["Type"] in edge.EDGE_TYPES

    def store_script(ident: int, content: str) -> str:
        """StoreEdgeJobFileFromBytes: <data>/edge_jobs/<id>/job_<id>.sh (folder 0700, file 0600), its full path."""
        path = folder(ident) / f"job_{ident}.sh"
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(content)
        except OSError as exc:
            raise HttpError(500, SCHEDULE_FAILED, str(exc)) from exc
        return str(path)

    def deprecated_create(req: Request) -> Response:
        """POST /api/edge_jobs?method=...: forwarded to /edge_jobs/create/{method}."""
        method = req.arg("method")
        if not method:
            raise HttpError(400, BAD_METHOD, "missing query parameter")
        req.params["method"] = method
        return create(req)

    def job_of(req: Request) -> dict[str, Any]:
        job = store.get("edge_jobs", job_id(req))
        if job is None:
            raise HttpError(404, JOB_NOT_FOUND, edge.NOT_FOUND)
        return job

    def inspect(req: Request) -> Response:
        """edgeJobInspectResponse: the job, its Endpoints map replaced by a list of ids (null when empty; sorted
        here, Go map order upstream), last as Go's encoder puts the outer field."""
        job = job_of(req)
        endpoints = sorted(int(e) for e in job.pop("Endpoints"))
        return json_response(job | {"Endpoints": endpoints or None})

    def delete(req: Request) -> Response:
        """edgejob_delete.go: 204; the job's folder (script and logs) is removed."""
        ident = job_id(req)
        with store.tx() as db:
            if db["edge_jobs"].pop(str(ident), None) is None:
                raise HttpError(404, JOB_NOT_FOUND, edge.NOT_FOUND)
        shutil.rmtree(folder(ident), ignore_errors=True)
        return no_content()

    add = app.router.add
    add("GET", "/api/edge_jobs", gated(app, lambda req: json_response(store.all("edge_jobs"))))
    add("POST", "/api/edge_jobs", gated(app, deprecated_create))
    add("POST", "/api/edge_jobs/create/{method}", gated(app, create))
    add("GET", "/api/edge_jobs/{id}", gated(app, inspect))
    add("DELETE", "/api/edge_jobs/{id}", gated(app, delete))
