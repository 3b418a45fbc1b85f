"""The API calls an operator's tooling makes beyond dashboards and provisioned datasources, as Grafana 11.5
answers them: frontend settings (grafana-client's health check reads `buildInfo` there), the current org and
user, admin stats, users, datasource writes, and sign-up (refused unless `[users] allow_sign_up`:
pkg/api/signup.go, 401 "User signup is disabled", after the body is bound: bad JSON is 400 first).
"""

from __future__ import annotations

import re
from typing import Any

from gf_datasources import Datasources
from gf_settings import COMMIT, VERSION
from gf_store import now

Row = dict[str, Any]
Query = dict[str, list[str]]


class ApiError(Exception):
    """A handler's refusal: status and Grafana's `{"message": ...}` body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def frontend_settings(server: Any) -> Row:
    """GET /api/frontend/settings (a part of dtos.FrontendSettingsDTO: what clients read)."""
    settings = server.settings
    build = {"hideVersion": settings.hide_version, "version": "" if settings.hide_version else VERSION,
             "versionString": f"Grafana v{VERSION} ({COMMIT})", "commit": COMMIT, "commitShort": COMMIT,
             "buildstamp": 1737035000, "edition": "Open Source", "latestVersion": "", "hasUpdate": False,
             "env": "production"}
    sources = {row["name"]: {"id": row["id"], "uid": row["uid"], "type": row["type"], "name": row["name"],
                             "url": row["url"], "isDefault": row["isDefault"], "access": row["access"]}
               for row in server.datasources.listing()}
    default = next((row["name"] for row in server.datasources.listing() if row["isDefault"]), "")
    return {"anonymousEnabled": settings.anonymous, "disableLoginForm": False, "disableUserSignUp":
            not settings.allow_sign_up, "authProxyEnabled": False, "ldapEnabled": False, "allowOrgCreate": False,
            "verifyEmailEnabled": False, "appUrl": f"http://localhost:{settings.http_port}/", "appSubUrl": "",
            "defaultDatasource": default, "datasources": sources, "buildInfo": build,
            "licenseInfo": {"expiry": 0, "licenseUrl": "https://grafana.com/oss/grafana?utm_source=grafana_footer",
                            "stateInfo": "", "edition": "Open Source"},
            "featureToggles": {}, "oauth": {}, "samlEnabled": False, "unifiedAlertingEnabled": True}


def current_org(server: Any) -> Row:
    """GET /api/org: org 1 (its name is Grafana's default, "Main Org.")."""
    return {"id": 1, "name": "Main Org.", "address": {"address1": "", "address2": "", "city": "", "zipCode": "",
                                                      "state": "", "country": ""}}


def user_profile(server: Any) -> Row:
    """user.UserProfileDTO of the one user, the admin (id 1)."""
    user = server.store.user
    return {"id": 1, "uid": "admin-uid", "email": user.get("email", ""), "name": "", "login": user.get("login", ""),
            "theme": "", "orgId": 1, "isGrafanaAdmin": True, "isDisabled": False, "isExternal": False,
            "isExternallySynced": False, "isGrafanaAdminExternallySynced": False, "authLabels": [],
            "updatedAt": now(), "createdAt": now(), "avatarUrl": "/avatar/46d229b033af06a191ff2267bca9ae56",
            "isProvisioned": False}


def users(server: Any, query: Query) -> list[Row]:
    """GET /api/users (SearchUsers): a page of users matching `query` (login, email or name)."""
    profile = user_profile(server)
    text = (query.get("query") or [""])[0].lower()
    page = int((query.get("page") or ["1"])[0] or 1)
    matches = not text or any(text in str(profile[key]).lower() for key in ("login", "email", "name"))
    rows = [{key: profile[key] for key in ("id", "uid", "name", "login", "email", "avatarUrl", "isDisabled",
                                           "authLabels")} | {"isAdmin": True, "lastSeenAt": now(),
                                                             "lastSeenAtAge": "< 1 minute"}] if matches else []
    return rows if page == 1 else []


def user_by(server: Any, key: str, value: str) -> Row:
    profile = user_profile(server)
    found = str(profile["id"]) == value if key == "id" else value in (profile["login"], profile["email"])
    if not found:
        raise ApiError(404, "user not found")
    return profile


def admin_stats(server: Any) -> Row:
    """GET /api/admin/stats (stats.AdminStats)."""
    dashboards = server.store.dashboards.values()
    tags = {tag for dashboard in dashboards for tag in dashboard.tags}
    counts = {"orgs": 1, "dashboards": len(dashboards), "snapshots": 0, "tags": len(tags),
              "datasources": len(server.datasources.rows), "playlists": 0, "stars": 0, "alerts": 0, "users": 1,
              "admins": 1, "editors": 0, "viewers": 0, "activeUsers": 1, "activeAdmins": 1, "activeEditors": 0,
              "activeViewers": 0, "activeSessions": 0, "dailyActiveUsers": 1, "dailyActiveAdmins": 1,
              "dailyActiveEditors": 0, "dailyActiveViewers": 0, "dailyActiveSessions": 0, "monthlyActiveUsers": 1,
              "activeDevices": 0}
    return counts


def sign_up(server: Any, body: Any) -> Row:
    """POST /api/user/signup: refused unless sign-up is allowed; the stand-in sends no e-mail either way."""
    if not isinstance(body, dict):
        raise ApiError(400, "bad request data")
    if not server.settings.allow_sign_up:
        raise ApiError(401, "User signup is disabled")
    email = str(body.get("email") or "")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
        raise ApiError(400, "Invalid email address")
    if email == server.store.user.get("email"):
        raise ApiError(422, "User with same email address already exists")
    return {"status": "SignUpCreated"}


def create_datasource(datasources: Datasources, body: Any) -> Row:
    """POST /api/datasources: 409 on a name in use; 400 without name or type."""
    if not isinstance(body, dict) or not body.get("name") or not body.get("type"):
        raise ApiError(400, "Validation error, need to specify name and type" if isinstance(body, dict)
                       else "bad request data")
    if datasources.find("name", body["name"]) is not None:
        raise ApiError(409, "data source with the same name already exists")
    row = datasources.add(body)
    return {"datasource": Datasources.detail(row), "id": row["id"], "uid": row["uid"], "message": "Datasource added",
            "name": row["name"]}


def update_datasource(datasources: Datasources, key: str, value: Any, body: Any) -> Row:
    row = _writable(datasources, key, value, "update")
    if not isinstance(body, dict) or not body.get("name"):
        raise ApiError(400, "bad request data")
    other = datasources.find("name", body["name"])
    if other is not None and other is not row:
        raise ApiError(409, "data source with the same name already exists")
    row = datasources.update(row, body)
    return {"datasource": Datasources.detail(row), "id": row["id"], "message": "Datasource updated",
            "name": row["name"]}


def delete_datasource(datasources: Datasources, key: str, value: Any) -> Row:
    row = _writable(datasources, key, value, "delete")
    datasources.remove(row)
    return {"message": "Data source deleted", "id": row["id"]}


def _writable(datasources: Datasources, key: str, value: Any, verb: str) -> Row:
    row = datasources.find(key, value)
    if row is None:
        raise ApiError(404, "Data source not found")
    if row["readOnly"]:
        raise ApiError(403, f"Cannot {verb} read-only data source")
    return row
