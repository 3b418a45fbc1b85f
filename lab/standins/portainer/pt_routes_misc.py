"""Tags and environment groups (api/http/handler/{tags,endpointgroups}); stacks are in pt_routes_stacks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pt_web import HttpError, Request, Response, ci_get, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

NOT_FOUND = "Object not found inside the database"


def register(app: App) -> None:
    store = app.store

    def payload_of(req: Request) -> dict[str, Any]:
        payload = req.json()
        if not isinstance(payload, dict):
            raise HttpError(400, "Invalid request payload", "request body must be a JSON object")
        return payload

    def must(kind: str, ident: int, what: str) -> dict[str, Any]:
        item = store.get(kind, ident)
        if item is None:
            raise HttpError(404, f"Unable to find {what} with the specified identifier inside the database", NOT_FOUND)
        return item

    def tag_create(req: Request) -> Response:
        name = str(ci_get(payload_of(req), "Name") or "")
        if not name:
            raise HttpError(400, "Invalid request payload", "Invalid tag name")
        with store.tx() as db:
            if any(t["Name"] == name for t in db["tags"].values()):
                raise HttpError(409, "This name is already associated to a tag", "A tag already exists with this name")
            tag = {"ID": store.next_id("tags"), "Name": name, "Endpoints": {}, "EndpointGroups": {}}
            db["tags"][str(tag["ID"])] = tag
        return json_response(tag)

    def tag_delete(req: Request) -> Response:
        ident = int_param(req, "id", "tag identifier")
        must("tags", ident, "a tag")
        with store.tx() as db:
            db["tags"].pop(str(ident))
            for holder in (*db["endpoints"].values(), *db["groups"].values()):
                holder["TagIds"] = [t for t in holder["TagIds"] if t != ident]
        return no_content()

    def group_create(req: Request) -> Response:
        payload = payload_of(req)
        name = str(ci_get(payload, "Name") or "")
        if not name:
            raise HttpError(400, "Invalid request payload", "invalid environment group name")
        tag_ids = [int(t) for t in ci_get(payload, "TagIDs") or []]
        with store.tx() as db:
            if any(str(t) not in db["tags"] for t in tag_ids):
                raise HttpError(500, "Unable to find a tag inside the database", NOT_FOUND)
            group = {"Id": store.next_id("groups"), "Name": name,
                     "Description": str(ci_get(payload, "Description") or ""), "UserAccessPolicies": {},
                     "TeamAccessPolicies": {}, "TagIds": tag_ids, "Labels": [], "AuthorizedUsers": None,
                     "AuthorizedTeams": None}
            db["groups"][str(group["Id"])] = group
            for ident in ci_get(payload, "AssociatedEndpoints") or []:
                if str(ident) in db["endpoints"]:
                    db["endpoints"][str(ident)]["GroupId"] = group["Id"]
            for tag_id in tag_ids:
                db["tags"][str(tag_id)]["EndpointGroups"][str(group["Id"])] = True
        return json_response(group)

    def group_update(req: Request) -> Response:
        ident = int_param(req, "id", "environment group identifier")
        must("groups", ident, "an environment group")
        payload = payload_of(req)
        with store.tx() as db:
            group = db["groups"][str(ident)]
            for field in ("Name", "Description", "UserAccessPolicies", "TeamAccessPolicies"):
                value = ci_get(payload, field)
                if value not in (None, ""):
                    group[field] = value
            tag_ids = ci_get(payload, "TagIDs")
            if tag_ids is not None:
                for tag in db["tags"].values():
                    tag["EndpointGroups"].pop(str(ident), None)
                group["TagIds"] = [int(t) for t in tag_ids if str(t) in db["tags"]]
                for tag_id in group["TagIds"]:
                    db["tags"][str(tag_id)]["EndpointGroups"][str(ident)] = True
        return json_response(group)

    def group_delete(req: Request) -> Response:
        ident = int_param(req, "id", "environment group identifier")
        if ident == 1:
            raise HttpError(403, "Unable to remove the default 'Unassigned' group", "Permission denied")
        must("groups", ident, "an environment group")
        with store.tx() as db:
            db["groups"].pop(str(ident))
            for endpoint in db["endpoints"].values():
                if endpoint["GroupId"] == ident:
                    endpoint["GroupId"] = 1
            for tag in db["tags"].values():
                tag["EndpointGroups"].pop(str(ident), None)
        return no_content()

    def group_member(req: Request) -> Response:
        ident = int_param(req, "id", "environment group identifier")
        endpoint_id = int_param(req, "endpointId")
        must("groups", ident, "an environment group")
        app.endpoint_or_404(endpoint_id)
        with store.tx() as db:
            db["endpoints"][str(endpoint_id)]["GroupId"] = ident if req.method == "PUT" else 1
        return no_content()

    add = app.router.add
    add("GET", "/api/tags", lambda req: json_response(store.all("tags")), "auth")
    add("POST", "/api/tags", tag_create)
    add("DELETE", "/api/tags/{id}", tag_delete)
    add("GET", "/api/endpoint_groups", lambda req: json_response(store.all("groups")), "auth")
    add("POST", "/api/endpoint_groups", group_create)
    add("GET", "/api/endpoint_groups/{id}",
        lambda req: json_response(must("groups", int_param(req, "id", "environment group identifier"),
                                       "an environment group")), "auth")
    add("PUT", "/api/endpoint_groups/{id}", group_update)
    add("DELETE", "/api/endpoint_groups/{id}", group_delete)
    add("PUT", "/api/endpoint_groups/{id}/endpoints/{endpointId}", group_member)
    add("DELETE", "/api/endpoint_groups/{id}/endpoints/{endpointId}", group_member)

