"""System status, first-run admin, login, users and their access tokens (api/http/handler/{system,users,auth})."""

from __future__ import annotations

import os
import time
import uuid
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from pt_keys import JWT_LIFETIME, check_password, hash_password, jwt_encode, new_api_key
from pt_web import HttpError, Request, Response, ci_get, int_param, json_response, no_content

if TYPE_CHECKING:
    from pt_app import App

MIN_PASSWORD_LENGTH = 12  # InternalAuthSettings.RequiredPasswordLength


def user_json(user: dict[str, Any]) -> dict[str, Any]:
    return {"Id": user["Id"], "Username": user["Username"], "Role": user["Role"], "TokenIssueAt": 0,
            "ThemeSettings": {"color": ""}, "UseCache": True, "EndpointAuthorizations": {},
            "PortainerAuthorizations": {}}


def register(app: App) -> None:
    version = "2.23.0"

    def status(req: Request) -> Response:
        return json_response({"Version": version, "InstanceID": app.store.data["instance_id"]})

    def version_info(req: Request) -> Response:
        # As 2.23 does (api/http/handler/system/version.go): Build.Env is the container's whole environment,
        # secrets included; the lab shows the leak, so the project must never ask for it.
        build = {"BuildNumber": "", "ImageTag": "", "NodejsVersion": "", "YarnVersion": "", "WebpackVersion": "",
                 "GoVersion": "", "GitCommit": "", "Env": [f"{k}={v}" for k, v in sorted(os.environ.items())]}
        return json_response({"UpdateAvailable": False, "LatestVersion": "", "ServerVersion": version,
                              "ServerEdition": "CE", "DatabaseVersion": version, "Build": build})

    def info(req: Request) -> Response:
        types = [e["Type"] for e in app.store.all("endpoints")]
        return json_response({"platform": "Docker Standalone", "edgeAgents": sum(t in (4, 7) for t in types),
                              "agents": sum(t in (2, 6) for t in types)})

    def nodes(req: Request) -> Response:
        return json_response({"nodes": len(app.store.all("endpoints"))})

    def admin_check(req: Request) -> Response:
        if app.store.has_admin():
            return no_content()
        raise HttpError(404, "No administrator account found inside the database",
                        "Object not found inside the database")

    def admin_init(req: Request) -> Response:
        payload = _object(req)
        username, password = str(ci_get(payload, "Username") or ""), str(ci_get(payload, "Password") or "")
        if not username:
            raise HttpError(400, "Invalid request payload", "Invalid username")
        if not password:
            raise HttpError(400, "Invalid request payload", "Invalid password")
        if app.store.has_admin():
            raise HttpError(409, "Unable to create administrator user", "An administrator user already exists")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise HttpError(400, "Password does not meet the requirements")
        user: dict[str, Any] = {"Id": app.store.next_id("users"), "Username": username, "Role": 1,
                "PasswordHash": hash_password(password)}
        app.store.put("users", user["Id"], user)
        return json_response(user_json(user))

    def authenticate(req: Request) -> Response:
        payload = _object(req)
        username, password = str(ci_get(payload, "Username") or ""), str(ci_get(payload, "Password") or "")
        if not username or not password:
            raise HttpError(400, "Invalid request payload", "Invalid username" if not username else "Invalid password")
        user = next((u for u in app.store.all("users") if u["Username"] == username), None)
        if user is None or not check_password(user["PasswordHash"], password):
            raise HttpError(422, "Invalid credentials", "Unauthorized")
        now = int(time.time())
        claims = {"id": user["Id"], "username": username, "role": user["Role"], "scope": "default",
                  "forceChangePassword": False, "exp": now + JWT_LIFETIME, "iat": now, "jti": str(uuid.uuid4())}
        token = jwt_encode(app.jwt_secret, claims)
        cookie = (f"portainer_api_key={token}; Path=/; Expires={formatdate(now + JWT_LIFETIME, usegmt=True)}; "
                  "HttpOnly; SameSite=Strict")
        return json_response({"jwt": token}, headers=[("Set-Cookie", cookie)])

    def logout(req: Request) -> Response:
        expired = ("portainer_api_key=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; "
                   "SameSite=Strict")
        return Response(204, headers=[("Set-Cookie", expired)])

    def users(req: Request) -> Response:
        return json_response([user_json(u) for u in app.store.all("users")])

    def me(req: Request) -> Response:
        assert req.user is not None
        return json_response(user_json(req.user))

    def user_inspect(req: Request) -> Response:
        user = app.store.get("users", int_param(req, "id", "user identifier"))
        if user is None:
            raise HttpError(404, "Unable to find a user with the specified identifier inside the database",
                            "Object not found inside the database")
        return json_response(user_json(user))

    def token_create(req: Request) -> Response:
        if req.auth_kind != "jwt":
            raise HttpError(401, "Auth not supported", "JWT Authentication required")
        payload = _object(req)
        description = str(payload.get("description") or "")
        if not description.strip() or len(description) > 128:
            raise HttpError(400, "Invalid request payload",
                            "invalid description: cannot be empty or longer than 128 characters")
        user_id = int_param(req, "id", "user identifier")
        assert req.user is not None
        if req.user["Id"] != user_id:
            raise HttpError(403, "Permission denied to create user access token", "Unauthorized")
        password = str(payload.get("password") or "")
        if not password:
            raise HttpError(400, "Invalid request payload", "invalid password: cannot be empty")
        if not check_password(req.user["PasswordHash"], password):
            raise HttpError(403, "Current password doesn't match",
                            "Current password does not match the password provided. Please try again")
        raw, digest = new_api_key()
        key: dict[str, Any] = {"id": app.store.next_id("api_keys"), "userId": user_id, "description": description,
               "prefix": raw[:7], "dateCreated": int(time.time()), "lastUsed": 0, "digest": digest}
        app.store.put("api_keys", key["id"], key)
        return json_response({"rawAPIKey": raw, "apiKey": key}, 201)

    def token_list(req: Request) -> Response:
        user_id = int_param(req, "id", "user identifier")
        _own_user(req, user_id)
        keys = [{**k, "digest": ""} for k in app.store.all("api_keys") if k["userId"] == user_id]
        return json_response(keys)

    def token_delete(req: Request) -> Response:
        user_id = int_param(req, "id", "user identifier")
        _own_user(req, user_id)
        key = app.store.get("api_keys", int_param(req, "keyID", "API Key identifier"))
        if key is None or key["userId"] != user_id:
            raise HttpError(404, "Unable to find an api-key with the specified identifier inside the database",
                            "Object not found inside the database")
        app.store.delete("api_keys", key["id"])
        return no_content()

    add = app.router.add
    add("GET", "/api/system/status", status, "public")
    add("GET", "/api/status", status, "public")
    add("GET", "/api/system/version", version_info, "auth")
    add("GET", "/api/status/version", version_info, "auth")
    add("GET", "/api/system/info", info, "auth")
    add("GET", "/api/system/nodes", nodes, "auth")
    add("GET", "/api/users/admin/check", admin_check, "public")
    add("POST", "/api/users/admin/init", admin_init, "public")
    add("POST", "/api/auth", authenticate, "public")
    add("POST", "/api/auth/logout", logout, "public")
    add("GET", "/api/users", users, "admin")
    add("GET", "/api/users/me", me, "auth")
    add("GET", "/api/users/{id}", user_inspect, "auth")
    add("POST", "/api/users/{id}/tokens", token_create, "auth")
    add("GET", "/api/users/{id}/tokens", token_list, "auth")
    add("DELETE", "/api/users/{id}/tokens/{keyID}", token_delete, "auth")


def _object(req: Request) -> dict[str, Any]:
    payload = req.json()
    if not isinstance(payload, dict):
        raise HttpError(400, "Invalid request payload", "request body must be a JSON object")
    return payload


def _own_user(req: Request, user_id: int) -> None:
    assert req.user is not None
    if req.user["Id"] != user_id and req.user["Role"] != 1:
        raise HttpError(403, "Permission denied to get user access tokens", "Unauthorized")
