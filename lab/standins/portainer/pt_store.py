"""The instance's state as one JSON document in the data directory (Portainer keeps portainer.db there)."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KINDS = ("users", "api_keys", "endpoints", "snapshots", "groups", "tags", "stacks", "edge_groups", "edge_stacks",
         "edge_jobs")


def unassigned_group() -> dict[str, Any]:
    return {"Id": 1, "Name": "Unassigned", "Description": "Unassigned environments", "UserAccessPolicies": {},
            "TeamAccessPolicies": {}, "TagIds": [], "Labels": [], "AuthorizedUsers": None, "AuthorizedTeams": None}


class Store:
    """A dict persisted atomically after every transaction; `lock` guards reads that must be consistent."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "portainer.json"
        self.lock = threading.RLock()
        if self.path.exists():
            self.data: dict[str, Any] = json.loads(self.path.read_text())
            for kind in KINDS:  # a state file written before a kind existed
                self.data.setdefault(kind, {})
        else:
            self.data = {"instance_id": str(uuid.uuid4()), "jwt_secret": secrets.token_hex(32),
                         "created": int(time.time()), "next_ids": {}, **{kind: {} for kind in KINDS}}
            self.data["groups"]["1"] = unassigned_group()
            self.data["next_ids"]["groups"] = 2
            self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        os.replace(tmp, self.path)

    @contextmanager
    def tx(self) -> Iterator[dict[str, Any]]:
        with self.lock:
            yield self.data
            self.save()

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = int(self.data["next_ids"].get(kind, 1))
            self.data["next_ids"][kind] = value + 1
            return value

    def get(self, kind: str, ident: int) -> dict[str, Any] | None:
        with self.lock:
            item = self.data[kind].get(str(ident))
            return json.loads(json.dumps(item)) if item is not None else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            items = sorted(self.data[kind].items(), key=lambda kv: int(kv[0]))
            copied: list[dict[str, Any]] = json.loads(json.dumps([item for _, item in items]))
            return copied

    def put(self, kind: str, ident: int, item: dict[str, Any]) -> None:
        with self.tx() as db:
            db[kind][str(ident)] = item

    def delete(self, kind: str, ident: int) -> bool:
        with self.tx() as db:
            return db[kind].pop(str(ident), None) is not None

    def has_admin(self) -> bool:
        with self.lock:
            return any(user.get("Role") == 1 for user in self.data["users"].values())
