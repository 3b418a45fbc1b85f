"""What a spec runs against, chosen from the inventory: `@pytest.mark.each(KIND, **filters)`.

KIND is `host`, `instance` (a service on one host), `vantage`, `fqdn` or `source` (every place connections
are tested from: this machine as `runner`, each host, each vantage; `homelab.model.policy.sources`) or `surface`
(what an attacker at the runner or a vantage can open on each host, or from the internet on the public
address: `homelab.checks.exposure.Surface`, ids `HOST<-SOURCE`) or `gitstack` (a stack Portainer deploys from
Git on one host: `homelab.model.gitops.GitStack`, ids `STACK@HOST`). Filters match:
`role="agent"`, `stack="platform"`, `service="portainer"`, `availability="always-on"`, `phase=1`. Each
parameter's id is a name from the inventory, so a report reads `test_agent_port_closed[unraid]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homelab.model.inventory import Host, Inventory, Service, Vantage
from homelab.model.policy import Source, sources

KINDS = ("host", "instance", "vantage", "fqdn", "source", "surface", "gitstack")


@dataclass(frozen=True)
class Instance:
    """One service as deployed on one host."""

    service: Service
    host: Host

    @property
    def id(self) -> str:
        return f"{self.service.name}@{self.host.name}"

    @property
    def phase(self) -> int:
        return self.service.phase

    @property
    def fqdn(self) -> str | None:
        return self.service.fqdn_for(self.host)


@dataclass(frozen=True)
class Fqdn:
    """A name NPM serves with TLS, and the service instance behind it."""

    name: str
    instance: Instance

    @property
    def id(self) -> str:
        return self.name

    @property
    def phase(self) -> int:
        return self.instance.service.phase


def _matches(obj: Any, filters: dict[str, Any]) -> bool:
    """`key=value` or `key=(values...)` must match; `key__not=(values...)` must not."""
    for key, wanted in filters.items():
        if key.endswith("__not"):
            excluded = wanted if isinstance(wanted, (tuple, list, set, frozenset)) else (wanted,)
            if getattr(obj, key.removesuffix("__not")) in excluded:
                return False
            continue
        value = getattr(obj, key)
        if isinstance(wanted, (tuple, list, set, frozenset)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def _host_filters(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in filters.items() if k.removesuffix("__not") in Host.__dataclass_fields__}


def select(inventory: Inventory, kind: str, filters: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The parameters of kind `kind` that pass `filters`, and their ids."""
    if kind == "host":
        stack = filters.pop("stack", None)
        hosts = [h for h in inventory.hosts.values() if _matches(h, filters) and (stack is None or stack in h.stacks)]
        return hosts, [h.name for h in hosts]
    if kind == "vantage":
        vantages: list[Vantage] = [v for v in inventory.vantages.values() if _matches(v, filters)]
        return vantages, [v.name for v in vantages]
    if kind == "source":
        found: list[Source] = [s for s in sources(inventory) if _matches(s, filters)]
        return found, [s.name for s in found]
    if kind in ("instance", "fqdn"):
        host_filters = _host_filters(filters)
        service_filters = {k: v for k, v in filters.items() if k not in host_filters}
        for key in ("service", "service__not"):
            if key in service_filters:
                service_filters[key.replace("service", "name")] = service_filters.pop(key)
        instances = [Instance(s, h) for s, h in inventory.instances()
                     if _matches(s, service_filters) and _matches(h, host_filters)]
        if kind == "instance":
            return instances, [i.id for i in instances]
        names = [Fqdn(i.fqdn, i) for i in instances if i.fqdn]
        return names, [n.name for n in names]
    if kind == "surface":
        from homelab.checks.exposure import surfaces

        origins = [s for s in sources(inventory) if s.origin in ("runner", "vantage") and _matches(s, filters)]
        found_surfaces = surfaces(inventory, origins)
        return found_surfaces, [s.id for s in found_surfaces]
    if kind == "gitstack":
        from homelab.model.gitops import git_stacks

        stacks = [s for s in git_stacks(inventory) if _matches(s, filters)]
        return stacks, [s.id for s in stacks]
    raise ValueError(f"unknown target kind {kind!r}; expected one of {', '.join(KINDS)}")
