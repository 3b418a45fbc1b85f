"""Edge groups (api/http/handler/edgegroups/{handler,edgegroup_create,edgegroup_list,edgegroup_inspect,
edgegroup_update,edgegroup_delete}.go at 2.23.0) and the gate every admin Edge route sits behind
(api/http/security/bouncer.go EdgeComputeOperation). Edge stacks are in pt_routes_edgestacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pt_edgemodel as edge
from pt_routes_endpoints import settings_of
from pt_web import HttpError, Request, Response, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

GROUP_NOT_FOUND = "Unable to find an Edge group with the specified identifier inside the database"
GROUP_FIELDS = {"Name": "string", "Dynamic": "bool", "TagIDs": "[]int", "Endpoints": "[]int", "PartialMatch": "bool"}


def gated(app: App, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """EdgeComputeOperation: 503 unless Settings.EnableEdgeComputeFeatures (checked after AdminAccess)."""
    def run(req: Request) -> Response:
        if not settings_of(app).get("EnableEdgeComputeFeatures"):
            raise HttpError(503, edge.EDGE_DISABLED, edge.EDGE_DISABLED)
        return handler(req)
    return run


def register(app: App) -> None:
    store = app.store

    def payload_of(req: Request, update: bool) -> dict[str, Any]:
        """edgeGroupCreatePayload / edgeGroupUpdatePayload (PartialMatch is *bool there): 400 on any failure."""
        fields = GROUP_FIELDS | ({"PartialMatch": "*bool"} if update else {})
        struct = "edgegroups.edgeGroupUpdatePayload" if update else "edgegroups.edgeGroupCreatePayload"
        try:
            payload = edge.go_decode(req.body, struct, fields)
        except edge.DecodeError as exc:
            raise HttpError(400, "Invalid request payload", str(exc)) from exc
        problem = ("invalid Edge group name" if not payload["Name"] else
                   "tagIDs is mandatory for a dynamic Edge group" if payload["Dynamic"] and not payload["TagIDs"]
                   else "")
        if problem:
            raise HttpError(400, "Invalid request payload", problem)
        return payload

    def members(db: dict[str, Any], group: dict[str, Any], payload: dict[str, Any]) -> None:
        """calculateEndpointsOrTags: a dynamic group takes the tags; a static one keeps only Edge environments."""
        if group["Dynamic"]:
            group["TagIds"] = payload["TagIDs"] or []
            return
        kept: list[int] = []
        for ident in payload["Endpoints"] or []:
            endpoint = db["endpoints"].get(str(ident))
            if endpoint is None:
                raise HttpError(500, "Unable to retrieve environment from the database", edge.NOT_FOUND)
            if endpoint["Type"] in edge.EDGE_TYPES:
                kept.append(endpoint["Id"])
        group["Endpoints"] = kept

    def unique(db: dict[str, Any], name: str, ident: int = 0) -> None:
        """An exact (case-sensitive) match, answered 400 rather than 409."""
        if any(g["Name"] == name and g["Id"] != ident for g in db["edge_groups"].values()):
            raise HttpError(400, "Edge group name must be unique", "edge group name must be unique")

    def shown(db: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
        """getEdgeGroup: a dynamic group's Endpoints are resolved from its tags when read."""
        group = dict(group)
        if group["Dynamic"]:
            try:
                group["Endpoints"] = edge.endpoints_by_tags(db, group["TagIds"], group["PartialMatch"])
            except KeyError as exc:
                raise HttpError(500, "Unable to retrieve environments and environment groups for Edge group",
                                edge.NOT_FOUND) from exc
        return group

    def group_id(req: Request) -> int:
        return int_param(req, "id", "Edge group identifier")

    def create(req: Request) -> Response:
        payload = payload_of(req, update=False)
        with store.tx() as db:
            unique(db, payload["Name"])
            group = {"Id": 0, "Name": payload["Name"], "Dynamic": payload["Dynamic"], "TagIds": [],
                     "Endpoints": [], "PartialMatch": payload["PartialMatch"]}
            members(db, group, payload)
            group["Id"] = store.next_id("edge_groups")
            db["edge_groups"][str(group["Id"])] = group
        return json_response(group)

    def listing(req: Request) -> Response:
        """edgegroup_list.go: each group decorated with HasEdgeStack, HasEdgeJob, EndpointTypes (a set upstream, so
        unordered there; sorted here) and TrustedEndpoints."""
        with store.lock:
            db = store.data
            used = {g for s in db["edge_stacks"].values() for g in s["EdgeGroups"]}
            jobs = {g for j in db["edge_jobs"].values() for g in j["EdgeGroups"] or []}
            answer = []
            for key in sorted(db["edge_groups"], key=int):
                group = shown(db, db["edge_groups"][key])
                found = [db["endpoints"][str(e)] for e in group["Endpoints"] if str(e) in db["endpoints"]]
                trusted = group["Endpoints"] if group["Dynamic"] else [e["Id"] for e in found if e.get("UserTrusted")]
                answer.append(group | {"HasEdgeStack": group["Id"] in used,
                                       "HasEdgeJob": group["Id"] in jobs,
                                       "EndpointTypes": sorted({e["Type"] for e in found}),
                                       "TrustedEndpoints": trusted})
        return json_response(answer)

    def inspect(req: Request) -> Response:
        ident = group_id(req)
        with store.lock:
            group = store.data["edge_groups"].get(str(ident))
            if group is None:
                raise HttpError(404, GROUP_NOT_FOUND, edge.NOT_FOUND)
            return json_response(shown(store.data, group))

    def update(req: Request) -> Response:
        """edgegroup_update.go. The Edge stacks follow the new membership by themselves here (relations are
        computed when read), as upstream's updateEndpointStacks makes them follow."""
        ident = group_id(req)
        payload = payload_of(req, update=True)
        with store.tx() as db:
            group = db["edge_groups"].get(str(ident))
            if group is None:
                raise HttpError(404, GROUP_NOT_FOUND, edge.NOT_FOUND)
            unique(db, payload["Name"], ident)
            changed = dict(group, Name=payload["Name"], Dynamic=payload["Dynamic"])
            members(db, changed, payload)
            if payload["PartialMatch"] is not None:
                changed["PartialMatch"] = payload["PartialMatch"]
            group.update(changed)
        return json_response(group)

    def delete(req: Request) -> Response:
        ident = group_id(req)
        with store.tx() as db:
            if str(ident) not in db["edge_groups"]:
                raise HttpError(404, GROUP_NOT_FOUND, edge.NOT_FOUND)
            if any(ident in s["EdgeGroups"] for s in db["edge_stacks"].values()):
                raise HttpError(409, "Edge group is used by an Edge stack", "edge group is used by an Edge stack")
            if any(ident in (j["EdgeGroups"] or []) for j in db["edge_jobs"].values()):
                raise HttpError(409, "Edge group is used by an Edge job", "edge group is used by an Edge job")
            del db["edge_groups"][str(ident)]
        return no_content()

    add = app.router.add
    add("POST", "/api/edge_groups", gated(app, create))
    add("GET", "/api/edge_groups", gated(app, listing))
    add("GET", "/api/edge_groups/{id}", gated(app, inspect))
    add("PUT", "/api/edge_groups/{id}", gated(app, update))
    add("DELETE", "/api/edge_groups/{id}", gated(app, delete))
