"""Provisioned datasources and their API shapes (Grafana's dtos.DataSource and DataSourceListItemDTO)."""

from __future__ import annotations

from typing import Any

from gf_provisioning import DatasourceFiles
from gf_store import Store

Row = dict[str, Any]
TYPES = {"prometheus": ("Prometheus", "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg")}
LIST_KEYS = ("id", "uid", "orgId", "name", "type", "typeName", "typeLogoUrl", "access", "url", "user", "database",
             "basicAuth", "isDefault", "jsonData", "readOnly")
DETAIL_KEYS = ("id", "uid", "orgId", "name", "type", "typeLogoUrl", "access", "url", "user", "database", "basicAuth",
               "basicAuthUser", "withCredentials", "isDefault", "jsonData", "secureJsonFields", "version", "readOnly")


class Datasources:
    """The datasources of org 1, as provisioning left them at startup (the stand-in has no write API)."""

    def __init__(self, files: DatasourceFiles, store: Store) -> None:
        deleted = set(files.delete)
        self.rows: list[Row] = []
        for index, source in enumerate(s for s in files.datasources if (s["orgId"], s["name"]) not in deleted):
            type_name, logo = TYPES.get(source["type"], (source["type"], ""))
            uid = source["uid"] or store.datasource_uid(source["name"])
            self.rows.append(source | {"id": index + 1, "uid": uid, "typeName": type_name, "typeLogoUrl": logo})

    def listing(self) -> list[Row]:
        rows = sorted((r for r in self.rows if r["orgId"] == 1), key=lambda r: r["name"].lower())
        return [{key: row[key] for key in LIST_KEYS} for row in rows]

    def find(self, key: str, value: Any) -> Row | None:
        return next((r for r in self.rows if r["orgId"] == 1 and r[key] == value), None)

    @staticmethod
    def detail(row: Row) -> Row:
        return {key: row[key] for key in DETAIL_KEYS}
