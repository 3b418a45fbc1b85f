"""Portainer as the specs see it: its environments, groups and tags, read once per run over the pinned client.

The client is the one bootstrap uses: Portainer's self-signed certificate pinned by PORTAINER_TLS_FINGERPRINT,
authenticated by PORTAINER_API_TOKEN (both in the env file, written by bootstrap phase 1).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import pytest

from homelab.checks import could_not_observe, problem
from homelab.clients import connect
from homelab.clients.environments import Endpoint
from homelab.clients.portainer import TOKEN_VAR, Json, Portainer, PortainerError
from homelab.clients.portainer_edge import EdgeApi
from homelab.model.inventory import Inventory
from homelab.model.secrets import SecretError, Secrets

DIRECT_TYPES = (1, 2)  # Docker (socket) and Agent environments: Portainer snapshots them; Edge ones check in
PHASE1 = "run `python -m bootstrap phase1` (it writes both to the env file)"
EDGE_COMPUTE_OFF = ("turn Edge compute back on (`--edge-compute` in stacks/platform/compose.yaml's portainer command, "
                    "bootstrap phase 1; or Settings > Edge Compute): while it is off Portainer answers its Edge routes "
                    "503, and the agents' polls still get every Edge job")


def snapshot_each(portainer: Portainer, ids: list[int]) -> tuple[dict[int, int], dict[int, PortainerError]]:
    """Snapshot every environment of `ids` at once, each bounded by the client's own timeout; then their statuses.
    A snapshot that fails or times out is kept apart with its error, so one hung engine fails only its host."""
    def one(ident: int) -> PortainerError | None:
        try:
            portainer.snapshot(ident)
        except PortainerError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(16, len(ids)))) as pool:
        failed = {ident: exc for ident, exc in zip(ids, pool.map(one, ids), strict=True) if exc is not None}
    statuses = {e["Id"]: int(e.get("Status", 0)) for e in portainer.endpoints() if e["Id"] in ids}
    return statuses, failed


def _unobserved_fix(exc: PortainerError | SecretError) -> str:
    """What makes Portainer answer again: the env file, the token, Edge compute, or Portainer itself."""
    if isinstance(exc, SecretError):
        return PHASE1
    if exc.status == 503:
        return EDGE_COMPUTE_OFF
    if exc.status in (401, 403):
        return f"{TOKEN_VAR} is refused: {PHASE1}"
    return "start Portainer on the platform VM (`python -m bootstrap phase1`)"


class PortainerView:
    """One run's view of Portainer; every failure to ask it becomes one readable spec failure."""

    def __init__(self, inventory: Inventory, secrets: Secrets) -> None:
        self.inventory = inventory
        self.secrets = secrets
        address, port = connect.address(inventory, "portainer")
        self.where = f"Portainer at https://{address}:{port}"
        self._client: Portainer | None = None
        self._cache: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _fail(self, found: str, fix: str) -> NoReturn:
        __tracebackhide__ = True
        pytest.fail(problem(expected="Portainer answering the API token", found=found, where=self.where,
                            fix=fix), pytrace=False)

    def client(self) -> Portainer:
        __tracebackhide__ = True
        try:
            return self._connected()
        except SecretError as exc:
            self._fail(str(exc), PHASE1)

    def _connected(self) -> Portainer:
        if self._client is None:
            self._client = connect.portainer(self.inventory, self.secrets)
        return self._client

    def _ask(self, what: str, call: Any) -> Any:
        __tracebackhide__ = True
        with self._lock:
            if what not in self._cache:
                try:
                    self._cache[what] = call(self.client())
                except PortainerError as exc:
                    fix = (f"{TOKEN_VAR} is refused: {PHASE1}" if exc.status in (401, 403)
                           else "start Portainer on the platform VM (`python -m bootstrap phase1`)")
                    self._fail(str(exc), fix)
            return self._cache[what]

    def environments(self) -> dict[str, Endpoint]:
        """Portainer's environments by name (snapshots left out: they are large)."""
        found: dict[str, Endpoint] = self._ask("endpoints", lambda p: {e["Name"]: e for e in p.endpoints()})
        return found

    def groups(self) -> dict[int, str]:
        found: dict[int, str] = self._ask("groups", lambda p: {g["Id"]: g["Name"] for g in p.groups()})
        return found

    def tags(self) -> dict[int, str]:
        found: dict[int, str] = self._ask("tags", lambda p: {t["ID"]: t["Name"] for t in p.tags()})
        return found

    # -- Edge compute (homelab.clients.portainer_edge): read once per run ----------------------------------------------
    def edge_enabled(self) -> bool:
        return bool(self._ask("settings", lambda p: EdgeApi(p).settings()).get("EnableEdgeComputeFeatures"))

    def edge_groups(self) -> dict[str, Json]:
        found: dict[str, Json] = self._ask("edge_groups", lambda p: {g["Name"]: g for g in EdgeApi(p).groups()})
        return found

    def edge_stacks(self) -> list[Json]:
        found: list[Json] = self._ask("edge_stacks", lambda p: EdgeApi(p).stacks())
        return found

    def edge_file(self, stack_id: int) -> str:
        found: str = self._ask(f"edge_file-{stack_id}", lambda p: EdgeApi(p).file(stack_id))
        return found

    def edge_jobs(self) -> list[Json]:
        """Portainer's Edge jobs. A list that cannot be read is not an empty one: no token, a refused one, no answer
        or Edge compute off (503) fails the spec as could not observe, saying which."""
        __tracebackhide__ = True
        with self._lock:
            if "edge_jobs" not in self._cache:
                try:
                    self._cache["edge_jobs"] = EdgeApi(self._connected()).jobs()
                except (PortainerError, SecretError) as exc:
                    pytest.fail(could_not_observe(f"Portainer did not list its Edge jobs ({exc})",
                                                  self.inventory.platform_host.name, self.where) +
                                f"; fix: {_unobserved_fix(exc)}", pytrace=False)
            found: list[Json] = self._cache["edge_jobs"]
            return found

    def status_after_snapshot(self, endpoint: Endpoint, among: set[str]) -> int:
        """Portainer's status of an environment after asking for a snapshot (else it is up to 5 minutes old).
        The first ask snapshots the environments of all hosts `among` (those that answer) at once: one wait,
        not one each, and none for a host that is down (its specs meet the host-down policy). Each snapshot is
        bounded on its own by the client's timeout: Portainer waits up to 60 s on a hung dockerd, and that host's
        spec fails naming it while the others get their status."""
        __tracebackhide__ = True
        ids = [e["Id"] for e in self.environments().values() if e["Name"] in among and e.get("Type") in DIRECT_TYPES]
        key = "statuses"
        if endpoint["Id"] not in ids:  # not among those snapshotted at once: asked alone
            ids, key = [endpoint["Id"]], f"status-{endpoint['Id']}"
        statuses, failed = self._ask(key, lambda portainer: snapshot_each(portainer, ids))
        if endpoint["Id"] in failed:
            self._snapshot_failed(endpoint, failed[endpoint["Id"]])
        return int(statuses.get(endpoint["Id"], 0))

    def _snapshot_failed(self, endpoint: Endpoint, exc: PortainerError) -> NoReturn:
        __tracebackhide__ = True
        if exc.status in (401, 403):
            self._fail(str(exc), f"{TOKEN_VAR} is refused: {PHASE1}")
        timeout = self.inventory.settings.connect_timeout * 3
        pytest.fail(problem(expected=f"Portainer to snapshot environment {endpoint['Name']} within {timeout:g} s",
                            found=str(exc), where=f"{self.where}, environment {endpoint['Name']}",
                            fix=f"Portainer waits up to 60 s on an engine that does not answer: check Docker on "
                            f"{endpoint['Name']} (`docker info` there) and its portainer-agent "
                            "(`docker logs portainer-agent`)"), pytrace=False)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
