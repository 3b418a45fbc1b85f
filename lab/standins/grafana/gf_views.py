"""The JSON shapes of Grafana's dashboard, search and folder endpoints, rendered from the store."""

from __future__ import annotations

from typing import Any

from gf_store import Dashboard, DashboardError, Folder, Store

Row = dict[str, Any]
MAX_LIMIT = 5000
PERMISSIONS = {"canAdd": True, "canEdit": True, "canDelete": True}


def dashboard_with_meta(store: Store, dashboard: Dashboard) -> Row:
    folder = store.folders.get(dashboard.folder_uid)
    record = dashboard.provisioned or {}
    meta = {"isStarred": False, "type": "db", "canSave": True, "canEdit": True, "canAdmin": True, "canStar": True,
            "canDelete": True, "slug": dashboard.slug, "url": dashboard.url, "expires": "0001-01-01T00:00:00Z",
            "created": dashboard.created, "updated": dashboard.updated, "updatedBy": dashboard.updated_by,
            "createdBy": dashboard.created_by, "version": dashboard.version, "hasAcl": False, "isFolder": False,
            "folderId": folder.id if folder else 0, "folderUid": folder.uid if folder else "",
            "folderTitle": folder.title if folder else "General", "folderUrl": folder.url if folder else "",
            "provisioned": bool(record) and not record.get("allow_ui_updates"),
            "provisionedExternalId": record.get("external_id", ""),
            "annotationsPermissions": {"dashboard": PERMISSIONS, "organization": PERMISSIONS}}
    return {"dashboard": dashboard.data, "meta": meta}


def saved(dashboard: Dashboard) -> Row:
    return {"id": dashboard.id, "uid": dashboard.uid, "url": dashboard.url, "status": "success",
            "version": dashboard.version, "slug": dashboard.slug, "folderUid": dashboard.folder_uid}


def folder_dto(folder: Folder) -> Row:
    return {"id": folder.id, "uid": folder.uid, "orgId": 1, "title": folder.title, "url": folder.url,
            "hasAcl": False, "canSave": True, "canEdit": True, "canAdmin": True, "canDelete": True,
            "createdBy": folder.created_by, "created": folder.created, "updatedBy": folder.created_by,
            "updated": folder.updated, "version": folder.version}


def _folder_hit(folder: Folder) -> Row:
    return {"id": folder.id, "uid": folder.uid, "title": folder.title, "uri": f"db/{folder.url.rsplit('/', 1)[1]}",
            "url": folder.url, "slug": "", "type": "dash-folder", "tags": [], "isStarred": False, "sortMeta": 0}


def _dashboard_hit(store: Store, dashboard: Dashboard) -> Row:
    hit: Row = {"id": dashboard.id, "uid": dashboard.uid, "title": dashboard.title, "uri": f"db/{dashboard.slug}",
                "url": dashboard.url, "slug": "", "type": "dash-db", "tags": dashboard.tags, "isStarred": False}
    folder = store.folders.get(dashboard.folder_uid)
    if folder:
        hit |= {"folderId": folder.id, "folderUid": folder.uid, "folderTitle": folder.title, "folderUrl": folder.url}
    return hit | {"sortMeta": 0}


def _number(text: str, name: str, default: int) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError as error:
        raise DashboardError(400, f"invalid {name}") from error


def search(store: Store, params: dict[str, list[str]]) -> list[Row]:
    """GET /api/search: folders first, then dashboards, each by title; filters as Grafana's legacy search."""
    one = {key: values[-1] for key, values in params.items() if values}
    limit = _number(one.get("limit", ""), "limit", 1000)
    if limit > MAX_LIMIT:
        raise DashboardError(422, "Limit is above maximum allowed (5000), use page parameter to access hits "
                                  "beyond limit")
    page = max(_number(one.get("page", ""), "page", 1), 1)
    query, kind, tags = one.get("query", "").lower(), one.get("type", ""), params.get("tag", [])
    uids = set(params.get("dashboardUIDs") or params.get("dashboardUID") or [])
    ids = {_number(i, "dashboardIds", 0) for i in params.get("dashboardIds", [])}
    folders = set(params.get("folderUIDs", []))
    hits: list[Row] = []
    with store.lock:
        if kind in ("", "dash-folder") and not tags and one.get("starred") != "true":
            hits += [_folder_hit(f) for f in sorted(store.folders.values(), key=lambda f: f.title.lower())
                     if query in f.title.lower() and (not uids or f.uid in uids) and (not ids or f.id in ids)
                     and (not folders or "general" in folders)]
        if kind in ("", "dash-db") and one.get("starred") != "true":
            hits += [_dashboard_hit(store, d) for d in sorted(store.dashboards.values(), key=lambda d: d.title.lower())
                     if query in d.title.lower() and all(t in d.tags for t in tags)
                     and (not uids or d.uid in uids) and (not ids or d.id in ids)
                     and (not folders or (d.folder_uid or "general") in folders)]
    return hits[(page - 1) * limit: page * limit]
