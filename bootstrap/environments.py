"""Portainer environments from the inventory (homelab.clients.environments): one per host, named after it.

Idempotent by name: an environment is updated in place, never duplicated; a name held by an environment of
another kind is a clash the operator must resolve. Environments the inventory does not know are left alone
(the phase 2 specs name them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bootstrap.services.portainer import PortainerAccess
from bootstrap.steps import Step, StepFailed
from homelab.clients.environments import (
    AGENT,
    EDGE,
    UP,
    Wanted,
    edge_key_url,
    identity_differences,
    kind_name,
    placement_differences,
    wanted,
)
from homelab.clients.portainer import TOKEN_VAR, Portainer, PortainerError
from homelab.model.inventory import Host


@contextmanager
def portainer_api(access: PortainerAccess) -> Iterator[Portainer]:
    """The token-authenticated client; a refused token or an unreachable Portainer becomes one clear StepFailed."""
    try:
        with access.api() as portainer:
            yield portainer
    except PortainerError as exc:
        if exc.status in (401, 403):
            raise StepFailed(f"Portainer refuses {TOKEN_VAR} ({exc.status}): the token was revoked or belongs to "
                             "another Portainer; remove it from the env file and re-run `python -m bootstrap "
                             "phase1`, which makes a new one") from None
        raise StepFailed(str(exc)) from None


def by_name(portainer: Portainer) -> dict[str, dict[str, Any]]:
    return {e["Name"]: e for e in portainer.endpoints()}


def placement_ids(portainer: Portainer, host: Host, create: bool) -> tuple[int | None, list[int | None]]:
    """The ids of the host's group and tags in Portainer (None where missing, unless `create`)."""
    tags = {t["Name"]: t["ID"] for t in portainer.tags()}
    groups = {g["Name"]: g["Id"] for g in portainer.groups()}
    if create:
        for name in host.portainer.tags:
            if name not in tags:
                tags[name] = portainer.create_tag(name)["ID"]
        if host.portainer.group not in groups:
            groups[host.portainer.group] = portainer.create_group(
                host.portainer.group, "managed by bootstrap from inventory.yaml")["Id"]
    return groups.get(host.portainer.group), [tags.get(name) for name in host.portainer.tags]


def differences(portainer: Portainer, want: Wanted, found: dict[str, Any] | None) -> list[str]:
    """How Portainer's environment for `want.host` differs from the inventory; empty when it matches."""
    if found is None:
        return ["not registered"]
    groups = {g["Id"]: g["Name"] for g in portainer.groups()}
    tags = {t["ID"]: t["Name"] for t in portainer.tags()}
    return identity_differences(want, found) + placement_differences(want, found, groups, tags)


def _create(portainer: Portainer, want: Wanted, group: int, tags: list[int]) -> dict[str, Any]:
    try:
        if want.kind == AGENT:
            return portainer.create_endpoint(want.name, AGENT, want.url, group, tuple(tags), tls=True,
                                             tls_skip_verify=True)
        return portainer.create_endpoint(want.name, want.kind, want.url, group, tuple(tags))
    except PortainerError as exc:
        if exc.status == 500 and want.kind == AGENT:
            raise StepFailed(
                f"Portainer could not reach the agent of {want.name} at {want.url} ({exc}): check that the "
                f"portainer-agent container runs on {want.name}, that its firewall admits the platform VM on "
                f"{want.url.rsplit(':', 1)[1]}, and that both use the same AGENT_SECRET") from None
        raise


def ensure(portainer: Portainer, want: Wanted) -> dict[str, Any]:
    """Create or update the host's environment; return it."""
    found = by_name(portainer).get(want.name)
    if found is not None and found["Type"] != want.kind:
        raise StepFailed(
            f"name clash: Portainer already has an environment named {want.name} of type "
            f"{kind_name(found['Type'])} (id {found['Id']}), but the inventory makes "
            f"{want.name} a {kind_name(want.kind)} environment: rename or delete it in Portainer "
            "(Environments), then run again")
    group, tag_ids = placement_ids(portainer, want.host, create=True)
    tags = [t for t in tag_ids if t is not None]
    if group is None or len(tags) != len(tag_ids):
        raise StepFailed(f"Portainer did not keep the group or tags created for {want.name}; see its logs")
    if found is not None and want.kind == EDGE and edge_key_url(str(found.get("EdgeKey") or "")) != want.url:
        # Portainer never changes an Edge key: the environment is made again, and the agent redeployed with its key
        portainer.delete_endpoint(found["Id"])
        found = None
    if found is None:
        return _create(portainer, want, group, tags)
    fields: dict[str, Any] = {"GroupID": group, "TagIDs": tags}
    if want.kind != EDGE:
        fields["URL"] = want.url
    return portainer.update_endpoint(found["Id"], **fields)


def status_problem(portainer: Portainer, want: Wanted, endpoint: dict[str, Any]) -> str | None:
    """After a fresh snapshot: None when Portainer marks the environment up, else why not."""
    portainer.snapshot(endpoint["Id"])
    status = portainer.endpoint(endpoint["Id"]).get("Status")
    if status == UP:
        return None
    return (f"Portainer marks {want.name} down (Status {status}) after a snapshot: it cannot reach {want.url or 'it'}; "
            "check the agent container, the firewall (platform VM admitted) and AGENT_SECRET on both sides")


def placement_step(access: PortainerAccess, hosts: list[Host]) -> Step:
    """The Portainer groups and tags these hosts' environments are placed in, made first and once: hosts share
    them, and their environment steps, run at once, would otherwise race to create the same one twice."""
    def missing() -> list[str]:
        with portainer_api(access) as portainer:
            tags = {t["Name"] for t in portainer.tags()}
            groups = {g["Name"] for g in portainer.groups()}
        return sorted({f"group {h.portainer.group}" for h in hosts if h.portainer.group not in groups}
                      | {f"tag {name}" for h in hosts for name in h.portainer.tags if name not in tags})

    def make() -> None:
        with portainer_api(access) as portainer:
            for host in hosts:
                placement_ids(portainer, host, create=True)

    names = sorted({h.portainer.group for h in hosts}) + sorted({t for h in hosts for t in h.portainer.tags})
    return Step(f"Portainer groups and tags of the environments ({', '.join(names) or 'none'})",
                f"{access.platform.inventory.platform_host.name}/portainer", lambda: not missing(), make)


def steps(access: PortainerAccess, hosts: list[Host], ready: Callable[[], bool] = lambda: True) -> list[Step]:
    """One step per host: its environment registered as the inventory says, and up after a snapshot."""
    inventory = access.platform.inventory

    def step(host: Host) -> Step:
        want = wanted(inventory, host)

        def check() -> bool:
            with portainer_api(access) as portainer:
                found = by_name(portainer).get(want.name)
                if differences(portainer, want, found):
                    return False
                assert found is not None
                return want.kind == EDGE or status_problem(portainer, want, found) is None

        def apply() -> None:
            with portainer_api(access) as portainer:
                endpoint = ensure(portainer, want)
                if want.kind != EDGE:
                    problem = status_problem(portainer, want, endpoint)
                    if problem:
                        raise StepFailed(problem)

        label = f"Portainer environment {want.name} ({kind_name(want.kind)}{', ' + want.url if want.url else ''}), " \
                f"group {host.portainer.group}, tags {', '.join(host.portainer.tags) or 'none'}"
        return Step(label, f"{inventory.platform_host.name}/portainer", check, apply)

    return [step(h) for h in hosts]
