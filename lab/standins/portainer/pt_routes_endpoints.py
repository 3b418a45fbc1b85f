"""Environments: list/inspect/create/update/delete, snapshots, Edge check-in, Docker proxy."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import pt_agentclient as agentclient
import pt_edgemodel as edgemodel
import pt_models as models
import pt_snapshots as snapshots
from pt_web import HttpError, Request, Response, ci_get, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

TYPE_ERROR = ("invalid environment type value. Value must be one of: 1 (Docker environment), 2 (Agent environment), "
              "3 (Azure environment), 4 (Edge Agent environment) or 5 (Local Kubernetes environment)")


def register(app: App) -> None:
    def rendered(endpoint: dict[str, Any], with_snapshot: bool = True) -> dict[str, Any]:
        snap = app.store.get("snapshots", endpoint["Id"]) if with_snapshot else None
        return models.render(endpoint, snap, app.now(), app.config.edge_checkin, app.config.heartbeat_slack,
                             with_snapshot)

    def endpoint_list(req: Request) -> Response:
        groups = {g["Id"]: g for g in app.store.all("groups")}
        tags = {t["ID"]: t["Name"] for t in app.store.all("tags")}
        every = [rendered(e, req.arg("excludeSnapshots") != "true") for e in app.store.all("endpoints")]
        found = [e for e in every if models.matches(e, req, groups, tags)]
        names = {ident: group["Name"] for ident, group in groups.items()}
        found.sort(key=models.sort_key(req.arg("sort"), names), reverse=req.arg("order") == "desc")
        start, limit = max(int(req.arg("start", "0") or 0) - 1, 0), int(req.arg("limit", "0") or 0)
        page = found[start:start + limit] if limit else found[start:]
        return json_response(page, headers=[("X-Total-Count", str(len(found))),
                                            ("X-Total-Available", str(len(every)))])

    def endpoint_inspect(req: Request) -> Response:
        endpoint = app.endpoint_or_404(int_param(req, "id"))
        return json_response(rendered(endpoint, req.arg("excludeSnapshot") != "true"))

    def endpoint_create(req: Request) -> Response:
        form = req.form()
        endpoint = _new_from_form(app, form)
        if endpoint["Type"] in snapshots.DIRECT_TYPES:
            try:
                snapshots.take(app, endpoint)
            except agentclient.TargetError as exc:
                reason = str(exc)
                if endpoint["Type"] == 2 and "Invalid request signature" in reason:
                    reason = "agent already paired with another Portainer instance"
                raise HttpError(500, "Unable to initiate communications with environment", reason) from exc
        with app.store.tx() as db:
            if any(e["Name"] == endpoint["Name"] for e in db["endpoints"].values()):
                raise HttpError(409, "Name is not unique")
            # As 2.23's endpointCreate (no transaction): the environment is saved, then its tags are updated
            # and its group read; a missing one fails the request and leaves the environment saved.
            db["endpoints"][str(endpoint["Id"])] = endpoint
            for tag_id in endpoint["TagIds"]:
                if str(tag_id) not in db["tags"]:
                    raise HttpError(500, "An error occurred while trying to create the environment",
                                    "Object not found inside the database")
                db["tags"][str(tag_id)]["Endpoints"][str(endpoint["Id"])] = True
            if str(endpoint["GroupId"]) not in db["groups"]:
                raise HttpError(500, "Unable to find an environment group inside the database",
                                "Object not found inside the database")
        return json_response(rendered(endpoint))

    def endpoint_update(req: Request) -> Response:
        ident = int_param(req, "id")
        payload = req.json()
        if not isinstance(payload, dict):
            raise HttpError(400, "Invalid request payload", "request body must be a JSON object")
        with app.store.tx() as db:
            endpoint = db["endpoints"].get(str(ident))
            if endpoint is None:
                app.endpoint_or_404(ident)
            name = ci_get(payload, "Name")
            if name and any(e["Name"] == name and e["Id"] != ident for e in db["endpoints"].values()):
                raise HttpError(409, "Name is not unique")
            for field, key in (("Name", "Name"), ("URL", "URL"), ("PublicURL", "PublicURL"), ("GroupID", "GroupId"),
                               ("Gpus", "Gpus"), ("EdgeCheckinInterval", "EdgeCheckinInterval"), ("Status", "Status"),
                               ("UserAccessPolicies", "UserAccessPolicies"),
                               ("TeamAccessPolicies", "TeamAccessPolicies")):
                value = ci_get(payload, field)
                if value is not None:
                    endpoint[key] = value
            tag_ids = ci_get(payload, "TagIDs")
            if tag_ids is not None:
                _retag(db, endpoint, [int(t) for t in tag_ids])
        return json_response(rendered(endpoint))

    def endpoint_delete(req: Request) -> Response:
        ident = int_param(req, "id")
        app.endpoint_or_404(ident)
        with app.store.tx() as db:
            endpoint = db["endpoints"].pop(str(ident))
            _retag(db, endpoint, [])
            edgemodel.forget_endpoint(db, ident)
            db["snapshots"].pop(str(ident), None)
        return no_content()

    def endpoint_snapshot(req: Request) -> Response:
        endpoint = app.endpoint_or_404(int_param(req, "id"))
        if not snapshots.supports_direct_snapshot(endpoint):
            raise HttpError(400, "Snapshots not supported for this environment",
                            "Snapshots not supported for this environment")
        snapshots.refresh(app, endpoint["Id"])
        return no_content()

    def snapshot_all(req: Request) -> Response:
        snapshots.refresh_all(app)
        return no_content()

    def agent_versions(req: Request) -> Response:
        versions = {e["Agent"]["Version"] for e in app.store.all("endpoints") if e["Agent"]["Version"]}
        return json_response(sorted(versions))

    def docker_proxy(req: Request) -> Response:
        endpoint = app.endpoint_or_404(int_param(req, "id"))
        if endpoint["Type"] in models.EDGE_TYPES:
            message = "Unable to get the active tunnel" if endpoint.get("EdgeID") else \
                "No Edge agent registered with the environment"
            raise HttpError(500, message, "edge tunnels are not implemented by the stand-in")
        path = "/" + req.params["rest"] + (f"?{req.raw_query}" if req.raw_query else "")
        headers = {k: v for k, v in req.headers.items() if k.lower() in ("content-type", "x-registry-auth")}
        try:
            reply = agentclient.call(endpoint, app.signer, req.method, path, req.body, headers)
        except agentclient.TargetError as exc:
            raise HttpError(502, "Unable to proxy the request to the environment", str(exc)) from exc
        kept = [(k, v) for k, v in reply.headers.items() if k.lower() in ("content-type", "api-version", "ostype")]
        return Response(reply.status, reply.body, kept)

    def settings_update(req: Request) -> Response:
        """settings_update.go: `EnforceEdgeID` and `EnableEdgeComputeFeatures` (bools) are kept; other keys are
        accepted and ignored."""
        payload = req.json()
        if not isinstance(payload, dict):
            raise HttpError(400, "Invalid request payload", "request body must be a JSON object")
        with app.store.tx() as db:
            current = db.setdefault("settings", settings_defaults())
            for key in ("EnforceEdgeID", "EnableEdgeComputeFeatures"):
                value = ci_get(payload, key)
                if isinstance(value, bool):
                    current[key] = value
        return json_response(settings_of(app) | {"EdgeAgentCheckinInterval": app.config.edge_checkin})

    add = app.router.add
    add("GET", "/api/settings", lambda req: json_response(
        settings_of(app) | {"EdgeAgentCheckinInterval": app.config.edge_checkin}))
    add("PUT", "/api/settings", settings_update)
    add("GET", "/api/endpoints", endpoint_list, "auth")
    add("POST", "/api/endpoints", endpoint_create)
    add("POST", "/api/endpoints/snapshot", snapshot_all)
    add("GET", "/api/endpoints/agent_versions", agent_versions, "auth")
    add("GET", "/api/endpoints/{id}", endpoint_inspect, "auth")
    add("PUT", "/api/endpoints/{id}", endpoint_update)
    add("DELETE", "/api/endpoints/{id}", endpoint_delete)
    add("POST", "/api/endpoints/{id}/snapshot", endpoint_snapshot)
    add("GET", "/api/endpoints/{id}/edge/status", lambda req: edge_status(app, req), "public")
    for prefix in ("docker", "agent/docker"):
        add("*", f"/api/endpoints/{{id}}/{prefix}/{{rest*}}", docker_proxy, "auth")


def _new_from_form(app: App, form: dict[str, str]) -> dict[str, Any]:
    """endpoint_create.go Validate + createEndpoint, minus the snapshot (done by the caller)."""
    name = form.get("Name", "")
    if not name:
        raise HttpError(400, "Invalid request payload", "invalid environment name")
    try:
        creation = int(form.get("EndpointCreationType", "0"))
    except ValueError:
        creation = 0
    if creation not in range(1, 6):
        raise HttpError(400, "Invalid request payload", TYPE_ERROR)
    engine = form.get("ContainerEngine", "")
    if engine not in ("docker", "podman", ""):
        raise HttpError(400, "Invalid request payload", "invalid container engine value. Value must be one of: "
                        "'docker' or 'podman'")
    try:
        tag_ids = [int(t) for t in json.loads(form.get("TagIds") or "[]")]
        gpus = json.loads(form.get("Gpus") or "[]")
    except (ValueError, TypeError) as exc:
        raise HttpError(400, "Invalid request payload", "invalid TagIds or Gpus parameter") from exc
    tls = models.parse_bool(form.get("TLS", ""))
    skip_verify, skip_client = (models.parse_bool(form.get(k, "")) for k in ("TLSSkipVerify", "TLSSkipClientVerify"))
    if tls and not skip_verify and "TLSCACertFile" not in form:
        raise HttpError(400, "Invalid request payload", "invalid CA certificate file. Ensure that the file is "
                        "uploaded correctly")
    if tls and not skip_client and not {"TLSCertFile", "TLSKeyFile"} <= form.keys():
        raise HttpError(400, "Invalid request payload", "invalid certificate file. Ensure that the file is "
                        "uploaded correctly")
    url = form.get("URL", "")
    if creation == 4 and not url.strip():
        raise HttpError(400, "Invalid request payload", "URL cannot be empty")
    if any(e["Name"] == name for e in app.store.all("endpoints")):
        raise HttpError(409, "Name is not unique")
    group_id = int(form.get("GroupID") or 0) or 1
    if creation == 3:
        raise HttpError(500, "Unable to authenticate against Azure", "Azure is not reachable from the stand-in")
    if creation == 5:
        raise HttpError(500, "Unable to initiate communications with environment",
                        "Kubernetes is not supported by the stand-in")
    kind, version = (2 if tls else 1), ""
    if creation == 2:
        try:
            version, platform = agentclient.ping_agent(url, verify=not tls)
        except agentclient.TargetError as exc:
            raise HttpError(500, "Unable to get environment type", str(exc)) from exc
        if platform != "1":
            raise HttpError(500, "Unable to get environment type", f"agent platform {platform} is not supported")
    elif creation == 1:
        kind = 1
        url = url or "unix:///var/run/docker.sock"
    endpoint = models.new_endpoint(app.store.next_id("endpoints"), name, kind, url)
    edge_interval = int(form.get("EdgeCheckinInterval") or form.get("CheckinInterval") or 0)
    endpoint.update({"ContainerEngine": engine, "GroupId": group_id, "PublicURL": form.get("PublicURL", ""),
                     "Gpus": gpus, "TagIds": tag_ids, "EdgeCheckinInterval": edge_interval,
                     "TLSConfig": {"TLS": tls, "TLSSkipVerify": skip_verify} if tls else {"TLS": False,
                                                                                             "TLSSkipVerify": False}})
    endpoint["Agent"]["Version"] = version
    if creation == 4 and settings_of(app)["EnforceEdgeID"]:
        endpoint["EdgeID"] = str(uuid.uuid4())  # createEdgeAgentEndpoint: bound at creation, not by the first poll
    if creation == 4:
        endpoint.update({"Type": 4, "URL": models.edge_host(url), "UserTrusted": True, "TLSConfig": {
            "TLS": False, "TLSSkipVerify": False}, "EdgeKey": models.edge_key(
            url, app.config.tunnel_port, app.signer.fingerprint, endpoint["Id"])})
    return endpoint


def settings_defaults() -> dict[str, Any]:
    """A new 2.23 instance: EnforceEdgeID off; EnableEdgeComputeFeatures follows --edge-compute (App applies it)."""
    return {"EnforceEdgeID": False, "EnableEdgeComputeFeatures": False}


def settings_of(app: App) -> dict[str, Any]:
    """The instance's settings (the part the stand-in keeps)."""
    with app.store.lock:
        return settings_defaults() | (app.store.data.get("settings") or {})


def _retag(db: dict[str, Any], endpoint: dict[str, Any], tag_ids: list[int]) -> None:
    for tag in db["tags"].values():
        tag["Endpoints"].pop(str(endpoint["Id"]), None)
    for tag_id in tag_ids:
        if str(tag_id) not in db["tags"]:
            raise HttpError(404, "Unable to find a tag inside the database", "Object not found inside the database")
        db["tags"][str(tag_id)]["Endpoints"][str(endpoint["Id"])] = True
    endpoint["TagIds"] = tag_ids


def edge_status(app: App, req: Request) -> Response:
    """endpointedge_status_inspect.go: check the Edge ID, bind it on first poll, record the check-in."""
    ident = int_param(req, "id")
    edge_id = req.headers.get("X-PortainerAgent-EdgeID", "")
    with app.store.tx() as db:
        endpoint = db["endpoints"].get(str(ident))
        if endpoint is None:
            raise HttpError(403, "Permission denied to access environment. The device has not been trusted yet",
                            f"unable to retrieve endpoint from database. Environment ID: {ident}")
        problem = ("Invalid environment type" if endpoint["Type"] not in models.EDGE_TYPES else
                   "missing Edge identifier" if not edge_id else
                   "invalid Edge identifier" if endpoint["EdgeID"] and endpoint["EdgeID"] != edge_id else "")
        if problem:  # bouncer.go AuthorizedEdgeEndpointOperation, as endpointedge_status_inspect.go reports it
            raise HttpError(403, "Permission denied to access environment. The device has not been trusted yet",
                            f"unauthorized Edge endpoint operation: {problem}. Environment name: {endpoint['Name']}")
        platform = req.headers.get("Portainer-Agent-Platform", "")
        if platform not in ("1", "2"):
            raise HttpError(400, "agent platform header is not valid", "agent platform header is missing or invalid")
        endpoint["EdgeID"] = endpoint["EdgeID"] or edge_id
        endpoint["Type"] = 4 if platform == "1" else 7
        endpoint["Agent"]["Version"] = req.headers.get("Portainer-Agent", "")
        endpoint["LastCheckInDate"] = app.now()
        checkin = models.checkin_interval(endpoint, app.config.edge_checkin)
        # buildEdgeStacks: {ID, Version} only (stackStatusResponse has no json tags); Go map order upstream
        stacks = [{"ID": s["Id"], "Version": s["Version"]} for s in edgemodel.endpoint_stacks(db, endpoint)]
        schedules = _schedules(db, endpoint)
    body = {"status": "IDLE", "port": 0, "schedules": schedules, "checkin": checkin, "credentials": "",
            "stacks": stacks}
    encoded = json.dumps(body, separators=(",", ":")).encode()
    etag = f"{_fnv32a(encoded):x}"
    if etag in [tag.strip() for tag in req.headers.get("If-None-Match", "").split(",")]:
        return Response(304, b"", [("ETag", etag)])
    return Response(200, encoded, [("Content-Type", "application/json"), ("ETag", etag)])


def _schedules(db: dict[str, Any], endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """buildSchedules: the Edge jobs that reach the environment, each with its script (the agent runs it as root)."""
    try:
        return [edgemodel.schedule(job, endpoint["Id"]) for job in edgemodel.endpoint_jobs(db, endpoint)]
    except edgemodel.GroupNotFound as exc:
        raise HttpError(500, "Unable to retrieve relations", str(exc)) from exc
    except OSError as exc:
        raise HttpError(500, "Unable to retrieve Edge job script file", str(exc)) from exc


def _fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value
