"""Compose stacks from Git: create, inspect, list, file, Git settings, redeploy, editor update, delete
(api/http/handler/stacks/{create_compose_stack,stack_inspect,stack_list,stack_file,stack_update_git,
stack_update_git_redeploy,stack_update,stack_delete,handler}.go at 2.23.0)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pt_agentclient as agentclient
import pt_compose as compose
import pt_git as git
import pt_gitops as gitops
from pt_stackmodel import (
    DEPLOYABLE_TYPES,
    auto_update,
    auto_update_problem,
    credentials,
    git_stack,
    public,
    validate_git_payload,
)
from pt_web import HttpError, Request, Response, ci_get, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

NOT_FOUND = "Unable to find a stack with the specified identifier inside the database"
NO_ENV = "Unable to find the environment associated to the stack inside the database"


def register(app: App) -> None:
    store, scheduler = app.store, app.gitops

    def body(req: Request) -> dict[str, Any]:
        payload = req.json()
        if not isinstance(payload, dict):
            raise HttpError(400, "Invalid request payload", "request body must be a JSON object")
        return payload

    def stack_of(req: Request) -> dict[str, Any]:
        stack = store.get("stacks", int_param(req, "id", "stack identifier"))
        if stack is None:
            raise HttpError(404, NOT_FOUND, "Object not found inside the database")
        return stack

    def endpoint_for(req: Request, stack: dict[str, Any], required: bool = False) -> dict[str, Any]:
        """endpointId moves the stack to that environment when it differs (as upstream does)."""
        raw = req.arg("endpointId")
        if raw or required:
            try:
                stack["EndpointId"] = int(raw)
            except ValueError as exc:
                raise HttpError(400, "Invalid query parameter: endpointId", str(exc)) from exc
        endpoint = store.get("endpoints", stack["EndpointId"])
        if endpoint is None:
            raise HttpError(404, NO_ENV, "Object not found inside the database")
        return endpoint

    def username(req: Request) -> str:
        return str((req.user or {}).get("Username", ""))

    def save(stack: dict[str, Any]) -> Response:
        store.put("stacks", stack["Id"], stack)
        return json_response(public(stack))

    def restart_job(stack: dict[str, Any]) -> None:
        auto = stack.get("AutoUpdate")
        if auto and auto.get("Interval"):
            auto["JobID"] = scheduler.start(stack["Id"], auto["Interval"])

    def stop_job(stack: dict[str, Any]) -> None:
        if stack.get("AutoUpdate"):
            scheduler.stop(stack["AutoUpdate"].get("JobID", ""))

    def create(req: Request) -> Response:
        if (req.params["type"], req.params["method"]) != ("standalone", "repository"):
            raise HttpError(400, "Invalid value for query parameter: method",
                            "the stand-in implements only standalone stacks from a Git repository")
        try:
            endpoint = app.endpoint_or_404(int(req.arg("endpointId")))
        except ValueError as exc:
            raise HttpError(400, "Invalid query parameter: endpointId", str(exc)) from exc
        payload = body(req)
        validate_git_payload(payload)
        stack = git_stack(payload, endpoint["Id"], username(req), app.now())
        check_unique(endpoint, stack)
        stack["Id"] = store.next_id("stacks")
        stack["ProjectPath"] = str(app.config.data_dir / "compose" / str(stack["Id"]))
        stack["ResourceControl"]["Id"] = stack["Id"]
        if endpoint["Type"] in DEPLOYABLE_TYPES:
            try:
                stack["GitConfig"]["ConfigHash"] = gitops.download(stack, *credentials(stack))
                gitops.deploy(app, stack, endpoint, pull=False, recreate=False)
            except (git.GitError, HttpError) as exc:
                shutil.rmtree(stack["ProjectPath"], ignore_errors=True)  # StackBuilder.cleanUp
                raise exc if isinstance(exc, HttpError) else HttpError(500, str(exc), str(exc)) from exc
        restart_job(stack)
        return save(stack)

    def check_unique(endpoint: dict[str, Any], stack: dict[str, Any]) -> None:
        """checkUniqueStackNameInDocker, then 409 only when a stack of that name is in the database."""
        name, stacks = stack["Name"], store.all("stacks")
        unique = not any(s["Name"].lower() == name and s["EndpointId"] == endpoint["Id"] for s in stacks)
        if endpoint["Type"] in DEPLOYABLE_TYPES:
            try:
                containers = agentclient.docker_get(endpoint, app.signer, "/containers/json?all=1")
            except agentclient.TargetError as exc:
                raise HttpError(500, "Unable to check for name collision", str(exc)) from exc
            unique = unique and not any((c.get("Labels") or {}).get("com.docker.compose.project") == name
                                        for c in containers)
        if not unique and any(s["Name"] == name for s in stacks):
            message = f"A stack with the normalized name '{name}' already exists"
            raise HttpError(409, message, message)
        webhook = (stack.get("AutoUpdate") or {}).get("Webhook")
        if webhook and any((s.get("AutoUpdate") or {}).get("Webhook") == webhook for s in stacks):
            raise HttpError(409, f"Webhook ID: {webhook} already exists", "A webhook ID already exists")

    def listing(req: Request) -> Response:
        try:
            filters = json.loads(req.arg("filters") or "{}")
            endpoint_id, swarm_id = int(filters.get("EndpointID") or 0), str(filters.get("SwarmID") or "")
        except (ValueError, AttributeError, TypeError) as exc:
            raise HttpError(400, "Invalid query parameter: filters", str(exc)) from exc
        stacks = store.all("stacks")
        if endpoint_id or swarm_id:  # filterStacks
            known = {e["Id"] for e in store.all("endpoints")}
            kept = [s for s in stacks if (s["Type"] == 2 and s["EndpointId"] == endpoint_id)
                    or (s["Type"] == 1 and s["SwarmId"] == swarm_id)]
            names = {s["Name"] for s in kept}
            if filters.get("IncludeOrphanedStacks"):
                kept += [s for s in stacks if s["EndpointId"] not in known and s["Name"] not in names
                         and (s["Type"] == 2) == (not swarm_id)]
            stacks = kept
        return json_response([public(s) for s in stacks])

    def stack_file(req: Request) -> Response:
        stack = stack_of(req)
        try:
            content = (Path(stack["ProjectPath"]) / stack["EntryPoint"]).read_text()
        except OSError as exc:
            raise HttpError(500, "Unable to retrieve Compose file from disk", str(exc)) from exc
        return json_response({"StackFileContent": content})

    def update_git(req: Request) -> Response:
        payload = body(req)
        if problem := auto_update_problem(ci_get(payload, "AutoUpdate")):
            raise HttpError(400, "Invalid request payload", problem)
        stack = stack_of(req)
        if stack.get("GitConfig") is None:
            raise HttpError(500, "No Git config in the found stack", "No Git config in the found stack")
        endpoint_for(req, stack)
        stop_job(stack)
        cfg = stack["GitConfig"]
        cfg["ReferenceName"] = str(ci_get(payload, "RepositoryReferenceName") or "")
        cfg["TLSSkipVerify"] = bool(ci_get(payload, "TLSSkipVerify"))
        stack["AutoUpdate"], stack["Env"] = auto_update(ci_get(payload, "AutoUpdate")), ci_get(payload, "Env") or []
        stack["UpdatedBy"], stack["UpdateDate"] = username(req), app.now()
        if ci_get(payload, "RepositoryAuthentication"):
            password = str(ci_get(payload, "RepositoryPassword") or "") or credentials(stack)[1]
            cfg["Authentication"] = {"Username": str(ci_get(payload, "RepositoryUsername") or ""),
                                     "Password": password, "GitCredentialID": 0}
            try:
                git.latest_commit(cfg["URL"], cfg["ReferenceName"], *credentials(stack), cfg["TLSSkipVerify"])
            except git.GitError as exc:
                raise HttpError(500, "Unable to fetch git repository", str(exc)) from exc
        else:
            cfg["Authentication"] = None
        restart_job(stack)
        return save(stack)

    def redeploy(req: Request) -> Response:
        stack = stack_of(req)
        if stack.get("GitConfig") is None:
            raise HttpError(400, "Stack is not created from git")
        endpoint = endpoint_for(req, stack)
        payload = body(req)
        cfg = stack["GitConfig"]
        cfg["ReferenceName"], stack["Env"] = str(ci_get(payload, "RepositoryReferenceName") or ""), \
            ci_get(payload, "Env") or []
        user, password = "", ""
        if ci_get(payload, "RepositoryAuthentication"):
            password = str(ci_get(payload, "RepositoryPassword") or "") or credentials(stack)[1]
            user = str(ci_get(payload, "RepositoryUsername") or "")
        try:
            gitops.clone_with_backup(stack, user, password)
        except git.GitError as exc:
            raise HttpError(500, "Unable to clone git repository directory", str(exc)) from exc
        gitops.deploy(app, stack, endpoint, pull=bool(ci_get(payload, "PullImage")), recreate=True)
        try:
            cfg["ConfigHash"] = git.latest_commit(cfg["URL"], cfg["ReferenceName"], user, password,
                                                  cfg["TLSSkipVerify"])
        except git.GitError as exc:
            raise HttpError(500, "Unable get latest commit id",
                            f"failed to fetch latest commit id of the stack {stack['Id']}: {exc}") from exc
        stack["UpdatedBy"], stack["UpdateDate"], stack["Status"] = username(req), app.now(), 1
        return save(stack)

    def update(req: Request) -> Response:
        """PUT /api/stacks/{id}: new content from the editor detaches a Git stack (GitConfig and AutoUpdate
        dropped, FromAppTemplate set), then deploys it."""
        stack = stack_of(req)
        endpoint = endpoint_for(req, stack, required=True)
        stop_job(stack)
        stack["AutoUpdate"] = None
        if stack.get("GitConfig") is not None:
            stack["FromAppTemplate"] = True
        payload = body(req)
        content = str(ci_get(payload, "StackFileContent") or "")
        if not content:
            raise HttpError(400, "Invalid request payload", "Invalid stack file content")
        stack["Env"], stack["GitConfig"] = ci_get(payload, "Env") or [], None
        target = Path(stack["ProjectPath"]) / stack["EntryPoint"]
        previous = target.read_bytes() if target.is_file() else None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        except OSError as exc:
            raise HttpError(500, "Unable to persist updated Compose file on disk", str(exc)) from exc
        try:
            gitops.deploy(app, stack, endpoint, pull=bool(ci_get(payload, "PullImage")), recreate=False)
        except HttpError:
            if previous is not None:  # RollbackStackFile
                target.write_bytes(previous)
            raise
        stack["UpdatedBy"], stack["UpdateDate"], stack["Status"] = username(req), app.now(), 1
        return save(stack)

    def delete(req: Request) -> Response:
        """Deviation: without endpointId the stack's own environment is used (upstream looks up environment 0)."""
        stack = stack_of(req)
        endpoint = endpoint_for(req, dict(stack))
        stop_job(stack)
        if endpoint["Type"] in DEPLOYABLE_TYPES:
            try:
                compose.remove(stack, endpoint, app.signer)
            except compose.ComposeError as exc:
                raise HttpError(500, str(exc), str(exc)) from exc
        store.delete("stacks", stack["Id"])
        shutil.rmtree(stack["ProjectPath"], ignore_errors=True)
        return no_content()

    add = app.router.add
    add("POST", "/api/stacks/create/{type}/{method}", create, "auth")
    add("GET", "/api/stacks", listing, "auth")
    add("GET", "/api/stacks/{id}", lambda req: json_response(public(stack_of(req))), "auth")
    add("GET", "/api/stacks/{id}/file", stack_file, "auth")
    add("PUT", "/api/stacks/{id}/git", update_git, "auth")
    add("PUT", "/api/stacks/{id}/git/redeploy", redeploy, "auth")
    add("PUT", "/api/stacks/{id}", update, "auth")
    add("DELETE", "/api/stacks/{id}", delete, "auth")
