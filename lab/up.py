"""The lab's lifecycle as a library: up, down, reset, status. The CLI and the selftests call these."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from homelab.model.inventory import Inventory
from lab import containers, gitserver, images, inventory, registry, stackimages
from lab.docker import docker, ensure_engine, inspect_format, lab_objects
from lab.images import Log
from lab.keys import CA_CERT, ensure_ca, ensure_server_cert, forget_env, ssh_client_key
from lab.router import ruleset
from lab.topology import REGISTRY_ADDRESS, REGISTRY_TLS, VANTAGES, Machine, hosts, machine, machines, set_extra_agents

# .env values pinned to what a machine generated for itself (bootstrap's trust on first use of Portainer's
# self-signed certificate): a reset or `lab down` makes that machine anew, so the pin is dropped with it.
PINNED = {"platform": ("PORTAINER_TLS_FINGERPRINT",)}
# cAdvisor (stacks/exporters) asks for the device /dev/kmsg, which a real host has and a host container lacks:
# make the node in each running host (idempotent; nothing is rebuilt or recreated, unlike a change to lab-init).
KMSG = "[ -e /dev/kmsg ] || mknod -m 600 /dev/kmsg c 1 11"


def _env(m: Machine, public_key: str, rules: str) -> dict[str, str]:
    if m.kind == "router":
        return {"LAB_RULES": rules, "LAB_AUTHORIZED_KEY": public_key, "LAB_SSH_ADDRESS": m.address}
    if m.kind == "git":
        return {"LAB_GIT_REPOSITORY": gitserver.repository_path()}
    if m.kind == "host":
        upstreams = f"{REGISTRY_ADDRESS} {' '.join(stackimages.upstream_registries())}"
        return {"LAB_USER": m.user or "root", "LAB_AUTHORIZED_KEY": public_key, "LAB_UPSTREAMS": upstreams,
                "LAB_CA": CA_CERT.read_text()}
    if m.user:
        return {"LAB_USER": m.user, "LAB_AUTHORIZED_KEY": public_key}
    return {}


def _start(machines: list[Machine], hashes: dict[str, str], log: Log) -> None:
    public_key = ssh_client_key()
    rules = ruleset(inventory.public_forwards())
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = {m.name: pool.submit(containers.ensure_machine, m, hashes[m.image], _env(m, public_key, rules))
                for m in machines}
        done = {name: job.result() for name, job in jobs.items()}
    changed = [f"{name} {what}" for name, what in done.items() if what != "unchanged"]
    log("containers: " + (", ".join(changed) if changed else "all up to date"))
    for name, what in done.items():
        if what in ("created", "recreated"):  # a new machine with a new volume: its Portainer is new
            forget_env(PINNED.get(name, ()))
    containers.wait_all(machines)
    for m in machines:
        if m.kind == "host":
            docker("exec", m.container, "sh", "-c", KMSG, timeout=30)


def write_inventory() -> Inventory:
    """(Re)write .lab/inventory.yaml from the running lab: host keys, the registry's images."""
    keys = {m.name: containers.host_key(m) for m in (*hosts(), *VANTAGES, machine("router"))}
    inventory.known_hosts(keys)
    return inventory.write(keys, registry.image_map())


def up(log: Log = print, extra_agents: int | None = None) -> Inventory:
    """Bring the whole lab up (idempotent: what already runs as specified is left alone). `extra_agents`, when
    given, sets how many extra Proxmox Docker VMs it has from now on (machines beyond that are removed)."""
    started = time.monotonic()
    ensure_engine()
    if extra_agents is not None:
        set_extra_agents(extra_agents)
    _remove_stale(log)
    hashes = images.ensure_images(log=log)
    ensure_ca()
    gitserver.ensure_cert()
    ensure_server_cert(REGISTRY_TLS, stackimages.upstream_registries())
    containers.ensure_networks()
    _start(list(machines().values()), hashes, log)
    stackimages.ensure_standins(hashes["base"], log)
    log(f"git: {gitserver.repository_url()} holds HEAD ({gitserver.push()[:12]})")
    result = write_inventory()
    log(f"lab up in {time.monotonic() - started:.0f} s")
    return result


def _remove_stale(log: Log) -> None:
    """Remove the lab containers the lab no longer has (extra agents beyond the count), with their volumes."""
    wanted = {m.container for m in machines().values()}
    for container in sorted(set(lab_objects("container")) - wanted):
        docker("rm", "-f", container)
        docker("volume", "rm", "-f", f"{container}-docker", check=False)
        log(f"removed {container} (no longer in the lab)")


def down(log: Log = print) -> list[str]:
    """Remove every lab container, network and volume (images and .lab/ keys stay, as a cache)."""
    ensure_engine()
    removed = containers.remove_all()
    forget_env(tuple(name for names in PINNED.values() for name in names))
    log(f"removed {len(removed)} lab objects" if removed else "nothing to remove: the lab is down")
    return removed


def reset(name: str, log: Log = print) -> Inventory:
    """Back to fresh: recreate the machine's container and its Docker volume, then rewrite the inventory."""
    ensure_engine()
    m = machine(name)
    containers.remove_machine(m, volume=True)
    forget_env(PINNED.get(name, ()))
    hashes = images.ensure_images(log=log)
    if m.kind == "git":
        gitserver.ensure_cert()
    if m.kind == "registry":
        ensure_server_cert(REGISTRY_TLS, stackimages.upstream_registries())
    containers.ensure_networks()
    _start([m], hashes, log)
    if m.kind == "registry":
        stackimages.ensure_standins(hashes["base"], log)
    if m.kind == "git":
        gitserver.push()
    return write_inventory()


def status() -> list[tuple[str, str, str, str]]:
    """(name, kind, address, state) for each lab machine."""
    ensure_engine()
    rows = []
    for m in machines().values():
        state = inspect_format("container", m.container, "{{.State.Status}}") or "absent"
        rows.append((m.name, m.kind, ", ".join(m.addresses.values()), state))
    return rows


def inventory_path() -> Path:
    return inventory.LAB_INVENTORY
