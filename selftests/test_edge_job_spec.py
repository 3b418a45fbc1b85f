"""P3-EDGE-007 (tests/phase3/test_edge_agent.py, imported from its file) run through the real PortainerView over a fake
Portainer client: it passes when Portainer holds no Edge job, fails naming each job (name, id, schedule, the
environments and Edge groups it runs on) with the fix, and fails as "could not observe", naming what to do, when
Portainer cannot be asked (no answer, token refused or missing, Edge compute off)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_project import REPO, spec_module

from homelab.checks.portainer import PortainerView
from homelab.clients.portainer import PortainerError, PortainerUnreachable
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.secrets import Secrets
from homelab.specs.targets import Instance, select

SPECS = spec_module("tests/phase3/test_edge_agent.py")
ENVIRONMENTS = [{"Id": 1, "Name": "platform"}, {"Id": 5, "Name": "gaming-pc-1"}, {"Id": 6, "Name": "gaming-pc-2"}]
GROUPS = [{"Id": 2, "Name": "homelab-gpu-worker"}]


class FakeClient:
    """The Portainer client as EdgeApi and the view use it: `_json` for the Edge routes, `endpoints()`."""

    def __init__(self, jobs: list[dict[str, Any]] | PortainerError) -> None:
        self.jobs = jobs
        self.asked: list[str] = []

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        self.asked.append(f"{method} {path}")
        if path == "/api/edge_groups":
            return GROUPS
        assert path == "/api/edge_jobs", path
        if isinstance(self.jobs, PortainerError):
            raise self.jobs
        return self.jobs

    def endpoints(self) -> list[dict[str, Any]]:
        return ENVIRONMENTS

    def close(self) -> None:
        pass


def job(ident: int, name: str, endpoints: tuple[int, ...] = (5,), groups: list[int] | None = None,
        recurring: bool = True) -> dict[str, Any]:
    """An Edge job as GET /api/edge_jobs lists it (portainer.EdgeJob)."""
    return {"Id": ident, "Created": 1_700_000_000, "CronExpression": "*/5 * * * *",
            "Endpoints": {str(e): {"LogsStatus": 0, "CollectLogs": False} for e in endpoints}, "EdgeGroups": groups,
            "Name": name, "ScriptPath": f"/data/edge_jobs/{ident}/job_{ident}.sh", "Recurring": recurring,
            "Version": 1, "GroupLogsCollection": {}}


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(REPO / "inventory.yaml")


@pytest.fixture(scope="module")
def instance(inventory: Inventory) -> Instance:
    instances, ids = select(inventory, "instance", {"service": "portainer"})
    return instances[ids.index("portainer@platform")]


def view(inventory: Inventory, jobs: list[dict[str, Any]] | PortainerError) -> PortainerView:
    found = PortainerView(inventory, secrets=None)  # type: ignore[arg-type]
    found._client = FakeClient(jobs)  # type: ignore[assignment]
    return found


def failure(instance: Instance, portainer: PortainerView) -> str:
    with pytest.raises(AssertionError) as caught:
        SPECS.test_no_edge_jobs(instance, portainer)
    return str(caught.value)


def unobserved(instance: Instance, portainer: PortainerView) -> str:
    with pytest.raises(pytest.fail.Exception) as caught:
        SPECS.test_no_edge_jobs(instance, portainer)
    return str(caught.value)


def test_passes_without_edge_jobs(inventory: Inventory, instance: Instance) -> None:
    """No Edge job: the spec passes, having asked GET /api/edge_jobs once."""
    portainer = view(inventory, [])
    assert SPECS.test_no_edge_jobs(instance, portainer) is None
    assert portainer._client.asked == ["GET /api/edge_jobs"]  # type: ignore[union-attr]


def test_fails_naming_each_job_its_schedule_and_targets(inventory: Inventory, instance: Instance) -> None:
    """Each job is named with its id, cron, once or recurring, and the environments and Edge groups it runs on;
    the failure says where and how to fix it."""
    jobs = [job(3, "owned", groups=[2]), job(4, "one-shot", endpoints=(6, 99), recurring=False)]
    message = failure(instance, view(inventory, jobs))
    assert message.startswith("expected no Edge jobs (the homelab plans none); found 2 Edge job(s): "
                              "'owned' (id 3, cron '*/5 * * * *' recurring, on gaming-pc-1, Edge group "
                              "homelab-gpu-worker); 'one-shot' (id 4, cron '*/5 * * * *' once, on gaming-pc-2, "
                              "environment 99); where: Portainer at https://"), message
    assert ":9443, Edge Jobs; fix: delete each in Portainer (Edge Jobs > select > Remove" in message


@pytest.mark.parametrize(("error", "why", "fix"), [
    (PortainerUnreachable("Portainer at https://198.51.100.10:9443 does not answer: ConnectError"),
     "Portainer at https://198.51.100.10:9443 does not answer: ConnectError",
     "start Portainer on the platform VM (`python -m bootstrap phase1`)"),
    (PortainerError("GET /api/edge_jobs: 401 Invalid JWT token Unauthorized", 401),
     "GET /api/edge_jobs: 401 Invalid JWT token Unauthorized", "PORTAINER_API_TOKEN is refused: run `python -m "
     "bootstrap phase1`"),
    (PortainerError("GET /api/edge_jobs: 503 Edge compute features are disabled", 503),
     "GET /api/edge_jobs: 503 Edge compute features are disabled", "turn Edge compute back on (`--edge-compute`"),
])
def test_portainer_not_answering_is_could_not_observe(inventory: Inventory, instance: Instance,
                                                      error: PortainerError, why: str, fix: str) -> None:
    """No answer, a refused token, or Edge compute off (the list answers 503, while the agents still get their jobs):
    could not observe, never a pass."""
    message = unobserved(instance, view(inventory, error))
    assert message.startswith(f"could not observe: Portainer did not list its Edge jobs ({why}) (on platform from "
                              "Portainer at https://"), message
    assert f"; fix: {fix}" in message


def test_a_missing_token_is_could_not_observe(inventory: Inventory, instance: Instance, tmp_path: Path) -> None:
    """PORTAINER_API_TOKEN not in the env file: could not observe, saying to run bootstrap phase 1."""
    portainer = PortainerView(inventory, Secrets(inventory.secrets, tmp_path / ".env", environ={}))
    message = unobserved(instance, portainer)
    assert message.startswith("could not observe: Portainer did not list its Edge jobs (secret PORTAINER_API_TOKEN "
                              "is not set"), message
    assert message.endswith("; fix: run `python -m bootstrap phase1` (it writes both to the env file)")


def test_the_spec_is_critical_and_phase3() -> None:
    """P3-EDGE-007, critical, in phase 3 beside the Edge agent's specs."""
    marks = {m.name: m for m in SPECS.test_no_edge_jobs.pytestmark}
    assert (marks["spec"].args, marks["spec"].kwargs["severity"]) == (("P3-EDGE-007",), "critical")
    assert SPECS.pytestmark.name == "phase3"
