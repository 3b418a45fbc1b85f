"""The lab inventory: the seed inventory's schema and services, with the lab's addresses, keys and users.

Written to .lab/inventory.yaml and validated with `homelab.model.inventory_loader.load_inventory` before anyone sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from lab.keys import CA_CERT, CA_KEY, ENV_FILE, SSH_KEY, ensure_env
from lab.topology import (
    GIT_ADDRESS,
    LAB_DIR,
    NETWORKS,
    PUBLIC_ADDRESS,
    SEED_INVENTORY,
    VANTAGES,
    Machine,
    hosts,
    machine,
)

LAB_INVENTORY = LAB_DIR / "inventory.yaml"
GIT_POLL = "20s"  # GitOps polling (a homelab: 5m): the drift proof waits for Portainer's poll
HEADER = """\
# The LAB's inventory, written by `lab up` (do not edit: the next `lab up` rewrites it).
# Same schema and services as inventory.yaml; addresses, keys and host keys are the lab's own.
# SSH users: root on unraid; `admin` (passwordless sudo, group docker) on the other hosts; `probe` on vantages.
"""


def seed() -> dict[str, Any]:
    data = yaml.safe_load(SEED_INVENTORY.read_text())
    assert isinstance(data, dict)
    return data


def _rel(path: Path) -> str:
    return str(path.relative_to(LAB_DIR))


def _ssh(m: Machine, host_keys: dict[str, str]) -> dict[str, str]:
    return {"user": m.user or "root", "key": _rel(SSH_KEY), "host_key": host_keys[m.name]}


def _hosts(seed_hosts: dict[str, Any], host_keys: dict[str, str]) -> dict[str, Any]:
    entries = {}
    for m in hosts():
        entry = {k: v for k, v in seed_hosts[m.like or m.name].items() if k not in ("address", "ssh", "hostname")}
        entry["os"] = "unraid" if m.image == "unraid" else "debian"  # what the lab container really runs
        entries[m.name] = {"address": m.address, **entry, "ssh": _ssh(m, host_keys)}
    return entries


def _services(seed_services: dict[str, Any]) -> dict[str, Any]:
    """The seed's services, narrowed to the lab's hosts where a service names hosts."""
    lab_hosts = {m.name for m in hosts()}
    services = {}
    for name, service in seed_services.items():
        service = dict(service)
        if "hosts" in service:
            service["hosts"] = [h for h in service["hosts"] if h in lab_hosts]
            if not service["hosts"]:
                continue
        services[name] = service
    return services


def build(host_keys: dict[str, str], image_map: dict[str, str]) -> dict[str, Any]:
    data = seed()
    settings = {**data.get("settings", {}), "env_file": _rel(ENV_FILE), "ca_bundle": _rel(CA_CERT),
                "known_hosts": None, "trust_on_first_use": False, "runner_network": "lan", "image_map": image_map,
                "monitor_interval": 20}  # Uptime Kuma's shortest: the faults it must notice are noticed sooner
    return {
        "name": "lab",
        "domain": data["domain"],
        "public_address": PUBLIC_ADDRESS,
        "settings": settings,
        # The lab's Git server (lab.gitserver) serves the seed's repository URL; Technitium resolves its name.
        **({"git": {**data["git"], "address": GIT_ADDRESS, "poll": GIT_POLL}} if "git" in data else {}),
        # The lab cannot reach Let's Encrypt: bootstrap issues NPM's certificates from the lab CA.
        "tls": {"issuer": "ca", "ca_cert": _rel(CA_CERT), "ca_key": _rel(CA_KEY)},
        "networks": {n.name: {"cidr": n.cidr, "kind": n.kind, "description": n.description}
                     for n in NETWORKS.values()},
        "hosts": _hosts(data["hosts"], host_keys),
        "services": _services(data["services"]),
        "vantages": {m.name: {"address": m.address, "ssh": _ssh(m, host_keys)} for m in VANTAGES},
        "router": {"address": machine("router").address, "ssh": _ssh(machine("router"), host_keys)},
        "secrets": data.get("secrets", {}),
    }


def write(host_keys: dict[str, str], image_map: dict[str, str]) -> Inventory:
    """Write .lab/inventory.yaml and .lab/.env, then load them back through the project's own loader."""
    data = build(host_keys, image_map)
    ensure_env(data["secrets"], data["domain"])
    LAB_DIR.mkdir(exist_ok=True)
    partial = LAB_INVENTORY.with_suffix(".partial")
    partial.write_text(HEADER + yaml.safe_dump(data, sort_keys=False, width=120))
    load_inventory(partial)  # raises InventoryError on a mistake: the previous file stays
    partial.replace(LAB_INVENTORY)
    return load_inventory(LAB_INVENTORY)


def public_forwards() -> list[tuple[str, int, str]]:
    """(protocol, port, lab address) for every port the seed inventory marks `exposure: public`."""
    seed_inventory = load_inventory(SEED_INVENTORY)
    addresses = {m.name: m.address for m in hosts()}
    forwards = set()
    for service, host in seed_inventory.instances():
        for port in service.ports:
            if port.exposure == "public" and host.name in addresses:
                forwards.add((port.protocol, port.port, addresses[host.name]))
    return sorted(forwards)


def known_hosts(host_keys: dict[str, str]) -> Path:
    """.lab/known_hosts for OpenSSH (`lab ssh`), from the same recorded host keys."""
    path = LAB_DIR / "known_hosts"
    path.write_text("".join(f"{m.address} {host_keys[m.name]}\n" for m in (*hosts(), *VANTAGES, machine("router"))))
    return path
