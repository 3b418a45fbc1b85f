"""Phase 1, DNS: Technitium on the platform host serves the inventory's names and is no open resolver.

Steps, in order, each checked against the live API (settings/get, zones/list, records/get):
1. recursion `UseSpecifiedNetworkACL` with the inventory's LAN and VPN networks (guest and WAN are refused);
2. the primary zone `inventory.domain`;
3. one A record per host (`<hostname>.<domain>` → its address) and per service name (`fqdn_for(host)` → the
   host that runs NPM, which serves every name), and the Git server's name when the inventory gives its
   `git.address`; written with `overwrite` and the comment `MANAGED`;
4. A records the inventory no longer has: removed when they carry `MANAGED` (bootstrap wrote them),
   reported and left alone otherwise (someone added them by hand).
The API is Technitium's plain HTTP on 5380, reached from the LAN, logged in as admin for each run.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address

from bootstrap.services.apiclients import TechnitiumSession, applied, checked
from bootstrap.steps import Step
from homelab.clients.technitium import RECURSION_ACL, Record, acl_list
from homelab.model.inventory import Inventory
from homelab.model.policy import allowed_networks
from homelab.model.redact import REDACTOR
from homelab.model.secrets import Secrets
from homelab.transport.ssh import SSHPool

MANAGED = "managed by homelab bootstrap (inventory.yaml)"
RECORD_TTL = 300
PROXY_SERVICE = "npm"


@dataclass(frozen=True)
class ARecord:
    name: str
    address: str
    why: str  # "host platform", "service npm on platform"


class PlanError(ValueError):
    """The inventory asks for one name with two addresses."""


def proxy_address(inventory: Inventory) -> IPv4Address:
    """Where service names point: the host running NPM (the platform host if no service is called npm)."""
    service = inventory.services.get(PROXY_SERVICE)
    hosts = inventory.hosts_of(service) if service else []
    return hosts[0].address if hosts else inventory.platform_host.address


def record_plan(inventory: Inventory) -> list[ARecord]:
    """Every A record the zone must hold, sorted by name."""
    wanted: dict[str, ARecord] = {}
    candidates = [ARecord(f"{h.hostname}.{inventory.domain}", str(h.address), f"host {h.name}")
                  for h in inventory.hosts.values()]
    npm = str(proxy_address(inventory))
    for service, host in inventory.instances():
        fqdn = service.fqdn_for(host)
        if fqdn:
            candidates.append(ARecord(fqdn.lower(), npm, f"service {service.name} on {host.name}"))
    git = inventory.git
    if git is not None and git.address is not None and in_zone(git.host_name, inventory.domain):
        candidates.append(ARecord(git.host_name.lower(), str(git.address), "the Git server (git.address)"))
    for record in candidates:
        other = wanted.setdefault(record.name, record)
        if other.address != record.address:
            raise PlanError(f"{record.name} would point at {other.address} ({other.why}) and at {record.address} "
                            f"({record.why}); expected one address per name: rename the host or the service fqdn")
    return sorted(wanted.values(), key=lambda r: r.name)


def recursion_acl(inventory: Inventory) -> list[str]:
    """The networks allowed to recurse: those of exposure `vpn` (LAN and VPN)."""
    return [str(n) for n in allowed_networks(inventory, "vpn") or []]


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def steps(inventory: Inventory, secrets: Secrets, pool: SSHPool | None = None) -> list[Step]:
    """The DNS steps of phase 1 (`pool` is unused: everything goes through Technitium's API)."""
    api = TechnitiumSession(inventory, secrets)
    zone = inventory.domain
    plan = record_plan(inventory)
    acl = recursion_acl(inventory)
    target = f"{inventory.platform_host.name}/technitium"
    reported: set[str] = set()
    # The zone's records, read once and again only after a change: 14 checks asking one name each cost a round
    # trip each (two with the zone lookup), where one listing answers them all. None: not read since.
    cached: list[Record] | None = None

    def zone_records() -> list[Record] | None:
        """Every record of the zone; None while there is no zone."""
        nonlocal cached
        if cached is None:
            client = api.get(wait=False)
            if client.zone(zone) is None:
                return None
            cached = client.records(zone, zone=zone, list_zone=True)
        return cached

    def changing(change: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            nonlocal cached
            try:
                change()
            finally:
                cached = None
        return run

    def recursion_done() -> bool:
        settings = api.get(wait=False).settings()
        return (settings.get("recursion") == RECURSION_ACL
                and sorted(acl_list(settings.get("recursionNetworkACL"))) == sorted(acl))

    def set_recursion() -> None:
        api.get(wait=True).set_settings(recursion=RECURSION_ACL, recursionNetworkACL=",".join(acl))

    def zone_done() -> bool:
        found = api.get(wait=False).zone(zone)
        return found is not None and found.type == "Primary"

    def create_zone() -> None:
        api.get(wait=True).create_zone(zone)

    def record_step(record: ARecord) -> Step:
        def done() -> bool:
            records = zone_records()
            if records is None:
                return False
            found = [r for r in records if r.type == "A" and r.name.lower() == record.name]
            return [r.address for r in found] == [record.address]

        def add() -> None:
            api.get(wait=True).add_a(record.name, record.address, zone=zone, ttl=RECORD_TTL, overwrite=True,
                                     comments=MANAGED)

        return Step(f"A {record.name} -> {record.address} ({record.why})", target, checked(done),
                    applied(changing(add)))

    def leftovers() -> tuple[list[Record], list[Record]]:
        """(managed records to remove, hand-made records to report) that the plan does not have."""
        records = zone_records()
        if records is None:
            return [], []
        names = {r.name for r in plan}
        extra = [r for r in records if r.type == "A" and r.name not in names and in_zone(r.name, zone)]
        for record in extra:
            if record.comments != MANAGED and record.name not in reported:
                reported.add(record.name)
                print(REDACTOR(f"  note     {target}: A {record.name} -> {record.address} is not in the inventory "
                               "and was not made by bootstrap: left alone"), file=sys.stdout)
        return [r for r in extra if r.comments == MANAGED], [r for r in extra if r.comments != MANAGED]

    def prune() -> None:
        client = api.get(wait=True)
        for record in leftovers()[0]:
            client.delete_record(record.name, "A", zone=zone, ipAddress=record.address or "")

    return [
        Step(f"recursion only for {', '.join(acl)} ({RECURSION_ACL})", target, checked(recursion_done),
             applied(set_recursion)),
        Step(f"primary zone {zone}", target, checked(zone_done), applied(changing(create_zone))),
        *[record_step(r) for r in plan],
        Step("remove A records bootstrap made that the inventory no longer has", target,
             checked(lambda: not leftovers()[0]), applied(changing(prune))),
    ]
