"""Edge stacks, the agent's side: fetch a stack's files (api/http/handler/endpointedge/endpointedge_stack_inspect.go)
and report a status (api/http/handler/edgestacks/edgestack_status_update.go) at 2.23.0. Both are public routes; the
Edge ID header is checked as bouncer.go AuthorizedEdgeEndpointOperation does."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pt_edgemodel as edge
from pt_web import HttpError, Request, Response, int_param, json_response

if TYPE_CHECKING:
    from pt_app import App

STATUS = {"Error": "string", "Status": "*int", "EndpointID": "int", "Time": "int"}


def edge_problem(req: Request, endpoint: dict[str, Any]) -> str:
    """AuthorizedEdgeEndpointOperation's error, "" when authorized."""
    edge_id = req.headers.get("X-PortainerAgent-EdgeID", "")
    return ("Invalid environment type" if endpoint["Type"] not in edge.EDGE_TYPES else
            "missing Edge identifier" if not edge_id else
            "invalid Edge identifier" if endpoint["EdgeID"] and endpoint["EdgeID"] != edge_id else "")


def register(app: App) -> None:
    store = app.store

    def fetch(req: Request) -> Response:
        """GET /api/endpoints/{id}/edge/stacks/{stackId}: edge.StackPayload. `?version=` is ignored by CE."""
        endpoint = app.endpoint_or_404(int_param(req, "id"))  # middlewares.WithEndpoint
        name = endpoint["Name"]
        if problem := edge_problem(req, endpoint):
            raise HttpError(403, "Permission denied to access environment",
                            f"unauthorized edge endpoint operation: {problem}. Environment name: {name}")
        try:
            ident = int(req.params["stackId"])
        except ValueError as exc:
            raise HttpError(400, "Invalid edge stack identifier route variable",
                            f"invalid Edge stack route variable: {exc}. Environment name: {name}") from exc
        stack = store.get("edge_stacks", ident)
        if stack is None:
            raise HttpError(404, "Unable to find an edge stack with the specified identifier inside the database",
                            f"unable to find the Edge stack from database: {edge.NOT_FOUND}. Environment name: {name}")
        entry_file = stack["EntryPoint"]
        if endpoint["Type"] in edge.DOCKER_TYPES and not entry_file:
            raise HttpError(400, "Docker is not supported by this stack",
                            f"no filename is provided for the Docker endpoint. Environment name: {name}")
        if endpoint["Type"] in edge.KUBE_TYPES:
            entry_file = stack["ManifestPath"]
            if not entry_file:
                raise HttpError(400, "Kubernetes is not supported by this stack",
                                f"no filename is provided for the Kubernetes endpoint. Environment name: {name}")
        try:
            entries = edge.load_dir(Path(stack["ProjectPath"]))
        except OSError as exc:
            raise HttpError(500, "Unable to load repository",
                            f"failed to load project directory: {exc}. Environment name: {name}") from exc
        try:
            content = edge.compat_content(entries, entry_file, endpoint["Agent"]["Version"])
        except LookupError as exc:
            raise HttpError(500, "File not found", f"unable to find file: {exc}. Environment name: {name}") from exc
        return json_response(edge.stack_payload(stack, edge.filter_for_entry_file(entries, entry_file), entry_file,
                                                content))

    def status_update(req: Request) -> Response:
        """PUT /api/edge_stacks/{id}/status: append the report to the environment's history (Removed, 4, drops the
        entry). An unknown stack answers 200 `null`: the agent may report on a stack deleted meanwhile."""
        ident = int_param(req, "id", "stack identifier")
        try:
            payload = edge.go_decode(req.body, "edgestacks.updateStatusPayload", STATUS)
        except edge.DecodeError as exc:
            raise HttpError(400, "Invalid request payload", f"edge polling error: {exc}. Environment ID: 0") from exc
        endpoint_id = payload["EndpointID"]
        problem = ("invalid status" if payload["Status"] is None else
                   "invalid EnvironmentID" if endpoint_id == 0 else
                   "error message is mandatory when status is error" if payload["Status"] == 2 and not payload["Error"]
                   else "")
        if problem:
            raise HttpError(400, "Invalid request payload", f"edge polling error: {problem}. Environment ID: "
                            f"{endpoint_id}")
        with store.tx() as db:
            stack = db["edge_stacks"].get(str(ident))
            if stack is None:
                return json_response(None)
            endpoint = db["endpoints"].get(str(endpoint_id))
            if endpoint is None:
                raise HttpError(404, "unable to find the environment", "unable to find the environment from the "
                                f"database: {edge.NOT_FOUND}. Environment ID: {endpoint_id}")
            if problem := edge_problem(req, endpoint):
                raise HttpError(403, "Permission denied to access environment", "unauthorized edge endpoint "
                                f"operation: {problem}. Environment name: {endpoint['Name']}")
            edge.record_status(stack, endpoint_id, payload["Status"], payload["Error"], payload["Time"] or app.now())
            return json_response(stack)

    add = app.router.add
    add("GET", "/api/endpoints/{id}/edge/stacks/{stackId}", fetch, "public")
    add("PUT", "/api/edge_stacks/{id}/status", status_update, "public")
