"""Each lab host holds its stacks' images under their upstream names (`prom/prometheus:v3.2.1`), pulled from the
lab registry, as the engines of an air-gapped homelab are pre-loaded.

Why: Portainer deploys the stacks it manages from Git, unchanged, so settings.image_map's override file (which
bootstrap applies when it deploys directly) never reaches them, and the upstream registries are out of the lab's
reach. The image is the one the map names (same ID), which is how the specs compare a container's image.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor

from homelab.compose import ComposeError, load_stack
from homelab.inventory import Inventory
from lab.docker import docker
from lab.images import Log
from lab.topology import machine


def host_images(inventory: Inventory, host: str) -> dict[str, str]:
    """upstream name -> the lab registry's image, for every service of the host's stacks that the map names."""
    found: dict[str, str] = {}
    for stack in inventory.hosts[host].stacks:
        try:
            services = load_stack(stack).services.values()
        except ComposeError:
            continue  # a stack without a compose file is the static specs' to report
        found.update({s.image: inventory.settings.image_map[s.image] for s in services
                      if s.image in inventory.settings.image_map})
    return found


def preload(inventory: Inventory, log: Log = print) -> None:
    def load(host: str) -> int:
        images = host_images(inventory, host)
        script = " && ".join(f"docker pull -q {shlex.quote(mapped)} >/dev/null && "
                             f"docker tag {shlex.quote(mapped)} {shlex.quote(upstream)}"
                             for upstream, mapped in sorted(images.items()))
        if script:
            docker("exec", machine(host).container, "sh", "-c", script, timeout=600)
        return len(images)

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = dict(zip(inventory.hosts, pool.map(load, inventory.hosts), strict=True))
    log("images under their upstream names: " + ", ".join(f"{h} {n}" for h, n in counts.items()))
