"""Provisioned datasources and their API shapes (Grafana's dtos.DataSource and DataSourceListItemDTO)."""

from __future__ import annotations

from typing import Any

from gf_provisioning import DatasourceFiles
from gf_store import Store, new_uid

Row = dict[str, Any]
TYPES = {"prometheus": ("Prometheus", "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg")}
LIST_KEYS = ("id", "uid", "orgId", "name", "type", "typeName", "typeLogoUrl", "access", "url", "user", "database",
             "basicAuth", "isDefault", "jsonData", "readOnly")
DETAIL_KEYS = ("id", "uid", "orgId", "name", "type", "typeLogoUrl", "access", "url", "user", "database", "basicAuth",
               "basicAuthUser", "withCredentials", "isDefault", "jsonData", "secureJsonFields", "version", "readOnly")


class Datasources:
    """The datasources of org 1: those provisioning left at startup (read-only unless `editable`), then those
    made through the API (kept in the store's state file, as Grafana keeps them in its database)."""

    def __init__(self, files: DatasourceFiles, store: Store) -> None:
        deleted = set(files.delete)
        self.store = store
        self.rows: list[Row] = []
        for index, source in enumerate(s for s in files.datasources if (s["orgId"], s["name"]) not in deleted):
            type_name, logo = TYPES.get(source["type"], (source["type"], ""))
            uid = source["uid"] or store.datasource_uid(source["name"])
            self.rows.append(source | {"id": index + 1, "uid": uid, "typeName": type_name, "typeLogoUrl": logo})
        names = {row["name"] for row in self.rows}
        for row in store.api_datasources:
            if row["name"] not in names:
                self.rows.append(row | {"id": self._next_id()})

    def _next_id(self) -> int:
        return max((row["id"] for row in self.rows), default=0) + 1

    def _persist(self) -> None:
        with self.store.lock:
            self.store.api_datasources = [row for row in self.rows if row.get("api")]
            self.store.save()

    def add(self, body: Row) -> Row:
        """POST /api/datasources: a new, editable datasource (uid given or generated)."""
        type_name, logo = TYPES.get(str(body["type"]), (str(body["type"]), ""))
        row = {**_fields(body, {}), "id": self._next_id(), "uid": str(body.get("uid") or new_uid()),
               "orgId": 1, "typeName": type_name, "typeLogoUrl": logo, "version": 1, "readOnly": False, "api": True}
        self.rows.append(row)
        self._persist()
        return row

    def update(self, row: Row, body: Row) -> Row:
        row.update(_fields(body, row) | {"version": int(row.get("version") or 1) + 1, "api": True})
        self._persist()
        return row

    def remove(self, row: Row) -> None:
        self.rows.remove(row)
        self._persist()

    def listing(self) -> list[Row]:
        rows = sorted((r for r in self.rows if r["orgId"] == 1), key=lambda r: r["name"].lower())
        return [{key: row[key] for key in LIST_KEYS} for row in rows]

    def find(self, key: str, value: Any) -> Row | None:
        return next((r for r in self.rows if r["orgId"] == 1 and r[key] == value), None)

    @staticmethod
    def detail(row: Row) -> Row:
        return {key: row[key] for key in DETAIL_KEYS}


def _fields(body: Row, old: Row) -> Row:
    """The writable fields of a datasource from an API body; secureJsonData is kept, only its keys are shown."""
    secure = body.get("secureJsonData") if isinstance(body.get("secureJsonData"), dict) else None
    return {"name": str(body.get("name") or old.get("name", "")), "type": str(body.get("type") or old.get("type", "")),
            "access": str(body.get("access") or old.get("access") or "proxy"), "url": str(body.get("url") or ""),
            "user": str(body.get("user") or ""), "database": str(body.get("database") or ""),
            "basicAuth": bool(body.get("basicAuth")), "basicAuthUser": str(body.get("basicAuthUser") or ""),
            "withCredentials": bool(body.get("withCredentials")), "isDefault": bool(body.get("isDefault")),
            "jsonData": body.get("jsonData") if isinstance(body.get("jsonData"), dict) else {},
            "secureJsonData": secure if secure is not None else old.get("secureJsonData", {}),
            "secureJsonFields": dict.fromkeys(secure if secure is not None else old.get("secureJsonData", {}), True)}
