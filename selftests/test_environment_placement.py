"""bootstrap.environments.placement_step: the Portainer groups and tags that hosts share are made once, first, so
that the hosts' environment steps can run at once (phase 2's agents, phase 3's workers) without racing to create
the same group or tag twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bootstrap.environments import placement_ids, placement_step
from bootstrap.steps import Parallel, Step, run_steps
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO


class FakePortainer:
    """Portainer's tags and groups; creating one takes a moment, as a round trip would (a race shows)."""

    def __init__(self) -> None:
        self.tags_held: list[dict[str, Any]] = []
        self.groups_held: list[dict[str, Any]] = [{"Id": 1, "Name": "Unassigned"}]
        self.created: list[str] = []
        self._lock = threading.Lock()

    def tags(self) -> list[dict[str, Any]]:
        return list(self.tags_held)

    def groups(self) -> list[dict[str, Any]]:
        return list(self.groups_held)

    def create_tag(self, name: str) -> dict[str, Any]:
        time.sleep(0.02)
        with self._lock:
            self.created.append(f"tag {name}")
            self.tags_held.append({"ID": len(self.tags_held) + 1, "Name": name})
            return self.tags_held[-1]

    def create_group(self, name: str, description: str) -> dict[str, Any]:
        time.sleep(0.02)
        with self._lock:
            self.created.append(f"group {name}")
            self.groups_held.append({"Id": len(self.groups_held) + 1, "Name": name})
            return self.groups_held[-1]


class FakeAccess:
    def __init__(self, portainer: FakePortainer, inventory: Any) -> None:
        self.portainer = portainer
        self.platform = type("Platform", (), {"inventory": inventory})()

    @contextmanager
    def api(self) -> Iterator[FakePortainer]:
        yield self.portainer


def test_shared_groups_and_tags_are_made_once_before_the_hosts_run_at_once() -> None:
    inventory = load_inventory(REPO / "inventory.yaml")
    hosts = [inventory.platform_host, *inventory.hosts_with_stack("agent")]
    portainer = FakePortainer()
    access: Any = FakeAccess(portainer, inventory)
    step = placement_step(access, hosts)
    assert not step.check(), "nothing made yet, yet the step says done"

    def environment(host: Any) -> Step:  # what each environment step does first: its group and tags, by name
        placed: set[str] = set()

        def place() -> None:
            placement_ids(portainer, host, create=True)
            placed.add(host.name)

        return Step(f"environment {host.name}", host.name, lambda: host.name in placed, place)

    run_steps([step, Parallel(tuple((environment(h),) for h in hosts))], dry_run=False, out=_Sink())
    wanted = {f"group {h.portainer.group}" for h in hosts} | {f"tag {t}" for h in hosts for t in h.portainer.tags}
    assert sorted(portainer.created) == sorted(wanted), "a group or tag was made twice, or not at all"
    assert step.check(), "made, yet the step says not done"


class _Sink:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
