"""Edge stacks, admin side (api/http/handler/edgestacks/{handler,edgestack_create,edgestack_create_git,
edgestack_create_string,edgestack_list,edgestack_inspect,edgestack_file,edgestack_update,
utils_update_stack_version,edgestack_delete,endpoints}.go and api/internal/edge/edgestacks/service.go at 2.23.0).

CE clones a Git repository once, at creation, into <data>/edge_stacks/<id>, and keeps no Git settings: the
repository, reference and credentials are used for that clone only. The agents' routes are in
pt_routes_edgeagent."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pt_edgemodel as edge
import pt_git as git
from pt_routes_edge import gated
from pt_web import HttpError, Request, Response, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

STACK_NOT_FOUND = "Unable to find an edge stack with the specified identifier inside the database"
CREATE_FAILED = "Unable to create Edge stack"
BAD_METHOD = "Invalid value for query parameter: method. Value must be one of: string, repository or file"
COMMON = {"Name": "string", "EdgeGroups": "[]int", "DeploymentType": "int", "Registries": "[]int",
          "UseManifestNamespaces": "bool"}
REPOSITORY = COMMON | {"RepositoryURL": "string", "RepositoryReferenceName": "string",
                       "RepositoryAuthentication": "bool", "RepositoryUsername": "string",
                       "RepositoryPassword": "string", "FilePathInRepository": "string", "TLSSkipVerify": "bool"}
STRING = COMMON | {"StackFileContent": "string"}
UPDATE = {"StackFileContent": "string", "UpdateVersion": "bool", "EdgeGroups": "[]int", "DeploymentType": "int",
          "UseManifestNamespaces": "bool"}


def _repository_problem(p: dict[str, Any]) -> str:
    """edgeStackFromGitRepositoryPayload.Validate (fills the default file path as a side effect, as upstream)."""
    if not p["Name"]:
        return "Invalid stack name"
    if not p["RepositoryURL"] or not edge.is_url(p["RepositoryURL"]):
        return "Invalid repository URL. Must correspond to a valid URL format"
    if p["RepositoryAuthentication"] and not p["RepositoryPassword"]:
        return "Invalid repository credentials. Password must be specified when authentication is enabled"
    if p["DeploymentType"] not in edge.DEFAULT_FILES:
        return "Invalid deployment type"
    p["FilePathInRepository"] = p["FilePathInRepository"] or edge.DEFAULT_FILES[p["DeploymentType"]]
    return "" if p["EdgeGroups"] else "Invalid edge groups. At least one edge group must be specified"


def _string_problem(p: dict[str, Any]) -> str:
    """edgeStackFromStringPayload.Validate."""
    return ("Invalid stack name" if not p["Name"] else "Invalid stack file content" if not p["StackFileContent"]
            else "Edge Groups are mandatory for an Edge stack" if not p["EdgeGroups"]
            else "Invalid deployment type" if p["DeploymentType"] not in edge.DEFAULT_FILES else "")


def register(app: App) -> None:
    store = app.store
    creating = threading.Lock()  # upstream creates inside one bolt write transaction: one create at a time

    def stack_id(req: Request, what: str = "edge stack identifier") -> int:
        return int_param(req, "id", what)

    def folder(ident: int) -> Path:
        return app.config.data_dir / "edge_stacks" / str(ident)  # GetEdgeStackProjectPath

    def create(req: Request) -> Response:
        """edgestack_create.go: an InvalidPayloadError is 400 "Invalid payload", a ConflictError 409 with the
        wrapped text, anything else (a body Go cannot decode included) 500 "Unable to create Edge stack"."""
        method = req.params["method"]
        if method not in ("repository", "string"):
            detail = BAD_METHOD if method != "file" else "the stand-in implements only string and repository"
            raise HttpError(400, "Invalid payload", detail)
        fields, struct = (REPOSITORY, "edgeStackFromGitRepositoryPayload") if method == "repository" else \
            (STRING, "edgeStackFromStringPayload")
        try:
            payload = edge.go_decode(req.body, f"edgestacks.{struct}", fields)
        except edge.DecodeError as exc:
            raise HttpError(500, CREATE_FAILED, str(exc)) from exc
        problem = _repository_problem(payload) if method == "repository" else _string_problem(payload)
        if problem:
            raise HttpError(400, "Invalid payload", problem)
        with creating:
            return json_response(build(payload, method, req.arg("dryrun") == "true"))

    def build(payload: dict[str, Any], method: str, dryrun: bool) -> dict[str, Any]:
        """BuildEdgeStack then PersistEdgeStack. The id is taken only when the stack is stored (or on a dry run):
        a failed create rolls back upstream's transaction and its sequence with it."""
        with store.lock:
            wrapper = "failed to create edge stack object" if method == "repository" else \
                "failed to create Edge stack object"  # the two upstream files differ in case
            if any(s["Name"].lower() == payload["Name"].lower() for s in store.data["edge_stacks"].values()):
                message = f"{wrapper}: Edge stack name must be unique"  # validateUniqueName: case-insensitive
                raise HttpError(409, message, message)
            ident = int(store.data["next_ids"].get("edge_stacks", 1))
            stack = edge.new_stack(ident, payload["Name"], payload["DeploymentType"], payload["EdgeGroups"],
                                   payload["UseManifestNamespaces"], app.now())
            if dryrun:
                store.next_id("edge_stacks")
                return stack
            try:
                related = edge.stack_endpoints(store.data, stack["EdgeGroups"])
            except edge.GroupNotFound as exc:
                raise HttpError(400, "Invalid payload", str(exc)) from exc
            try:
                wrong = edge.wrong_type(store.data, related, stack["DeploymentType"])
            except KeyError as exc:
                raise HttpError(500, CREATE_FAILED, "unable to store manifest: unable to check for existence of "
                                f"non fitting environments: {exc.args[0]}") from exc
            if wrong:
                raise HttpError(500, CREATE_FAILED,
                                "unable to store manifest: edge stack with config do not match the environment type")
        entry = store_manifest(stack, payload, method)
        key = "EntryPoint" if stack["DeploymentType"] == 0 else "ManifestPath"
        stack.update({key: entry, "ProjectPath": str(folder(ident)), "NumDeployments": len(related)})
        with store.tx() as db:
            db["next_ids"]["edge_stacks"] = ident + 1
            db["edge_stacks"][str(ident)] = stack
        return stack

    def store_manifest(stack: dict[str, Any], payload: dict[str, Any], method: str) -> str:
        """storeManifestFromGitRepository (GitService.CloneRepository: depth 1, no .git) or storeFileContent;
        nothing is stored and the folder is removed on failure."""
        target = folder(stack["Id"])
        try:
            if method == "string":
                entry = edge.DEFAULT_FILES[stack["DeploymentType"]]
                target.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_file(target / entry, payload["StackFileContent"])
                return entry
            auth = payload["RepositoryAuthentication"] and payload["RepositoryPassword"]
            git.clone(target, payload["RepositoryURL"], payload["RepositoryReferenceName"],
                      payload["RepositoryUsername"] if auth else "", payload["RepositoryPassword"] if auth else "",
                      payload["TLSSkipVerify"])
        except (git.GitError, OSError) as exc:
            shutil.rmtree(target, ignore_errors=True)
            reason = str(exc) if isinstance(exc, git.AuthenticationError | OSError) else \
                f"failed to clone git repository: {exc}"  # api/git/git.go download
            raise HttpError(500, CREATE_FAILED, f"unable to store manifest: {reason}") from exc
        return str(payload["FilePathInRepository"])

    def write_file(path: Path, content: str) -> None:
        """filesystem.CreateFile: O_TRUNC, mode 0600 for a new file; the parent folder must exist."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(content)

    def deprecated_create(req: Request) -> Response:
        """POST /api/edge_stacks?method=...: forwarded to /edge_stacks/create/{method}."""
        method = req.arg("method")
        if not method:
            message = "Invalid query parameter: method. Valid values are: file or string"
            raise HttpError(400, message, message)
        req.params["method"] = method
        return create(req)

    def stack_of(req: Request) -> dict[str, Any]:
        stack = store.get("edge_stacks", stack_id(req))
        if stack is None:  # handlerDBErr
            raise HttpError(404, STACK_NOT_FOUND, edge.NOT_FOUND)
        return stack

    def stack_file(req: Request) -> Response:
        stack = stack_of(req)
        name = stack["ManifestPath"] if stack["DeploymentType"] == 1 else stack["EntryPoint"]
        try:
            content = (Path(stack["ProjectPath"]) / name).read_text()
        except OSError as exc:
            raise HttpError(500, "Unable to retrieve stack file from disk", str(exc)) from exc
        return json_response({"StackFileContent": content})

    def update(req: Request) -> Response:
        """edgestack_update.go: re-targets the groups; UpdateVersion bumps Version, resets the statuses and writes
        StackFileContent over the entry file (no re-clone)."""
        ident = stack_id(req, "stack identifier")
        try:
            payload = edge.go_decode(req.body, "edgestacks.updateEdgeStackPayload", UPDATE)
        except edge.DecodeError as exc:
            raise HttpError(400, "Invalid request payload", str(exc)) from exc
        problem = ("invalid stack file content" if not payload["StackFileContent"] else
                   "edge Groups are mandatory for an Edge stack" if not payload["EdgeGroups"] else "")
        if problem:
            raise HttpError(400, "Invalid request payload", problem)
        with store.tx() as db:
            stack = db["edge_stacks"].get(str(ident))
            if stack is None:
                raise HttpError(404, "Unable to find a stack with the specified identifier inside the database",
                                edge.NOT_FOUND)
            try:
                edge.stack_endpoints(db, stack["EdgeGroups"])
            except edge.GroupNotFound as exc:
                raise HttpError(500, "Unable to retrieve edge stack related environments from database",
                                str(exc)) from exc
            try:
                related = edge.stack_endpoints(db, payload["EdgeGroups"])
            except edge.GroupNotFound as exc:
                raise HttpError(500, "Unable to handle edge groups change", "Unable to retrieve edge stack related "
                                f"environments from database: {exc}") from exc
            try:
                wrong = edge.wrong_type(db, related, payload["DeploymentType"])
            except KeyError as exc:  # upstream passes a literal "%w" in the message
                raise HttpError(400, "unable to check for existence of non fitting environments: %w",
                                exc.args[0]) from exc
            if wrong:
                message = "edge stack with config do not match the environment type"
                raise HttpError(400, message, message)
            changed = dict(stack, NumDeployments=len(related), UseManifestNamespaces=payload["UseManifestNamespaces"],
                           EdgeGroups=payload["EdgeGroups"])
            if payload["UpdateVersion"]:
                bump_version(changed, payload, related)
            stack.clear()
            stack.update(changed)
            return json_response(stack)

    def bump_version(stack: dict[str, Any], payload: dict[str, Any], related: list[int]) -> None:
        """updateStackVersion + storeStackFile (utils_update_stack_version.go)."""
        stack["Version"] += 1
        stack["Status"] = edge.reset_status(stack["Status"], related)
        kind = payload["DeploymentType"]
        if kind != stack["DeploymentType"]:  # a new deployment type drops the old files
            shutil.rmtree(stack["ProjectPath"], ignore_errors=True)
            stack.update(EntryPoint="", ManifestPath="", DeploymentType=kind)
        key = "EntryPoint" if kind == 0 else "ManifestPath"
        if kind in edge.DEFAULT_FILES and not stack[key]:
            stack[key] = edge.DEFAULT_FILES[kind]
        target = folder(stack["Id"])
        try:
            target.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_file(target / (stack[key] if kind in edge.DEFAULT_FILES else ""), payload["StackFileContent"])
        except OSError as exc:
            raise HttpError(500, "Unable to update stack version", "unable to persist updated Compose file with "
                            f"version on disk: {exc}") from exc

    def delete(req: Request) -> Response:
        """edgestack_delete.go: the stack and its relations go; the folder stays (no RemoveDirectory upstream)."""
        ident = stack_id(req)
        with store.tx() as db:
            if db["edge_stacks"].pop(str(ident), None) is None:
                raise HttpError(404, STACK_NOT_FOUND, edge.NOT_FOUND)
        return no_content()

    add = app.router.add
    add("POST", "/api/edge_stacks/create/{method}", gated(app, create))
    add("POST", "/api/edge_stacks", gated(app, deprecated_create))
    add("GET", "/api/edge_stacks", gated(app, lambda req: json_response(store.all("edge_stacks"))))
    add("GET", "/api/edge_stacks/{id}", gated(app, lambda req: json_response(stack_of(req))))
    add("PUT", "/api/edge_stacks/{id}", gated(app, update))
    add("DELETE", "/api/edge_stacks/{id}", gated(app, delete))
    add("GET", "/api/edge_stacks/{id}/file", gated(app, stack_file))
