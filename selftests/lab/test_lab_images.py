"""Stacks deploy with lab images: the registry, the image_map override, compose on a host, the GPU via CDI."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import yaml
from lab_helpers import TINY, sh

from homelab.model.images import override_for
from homelab.model.inventory import Inventory
from homelab.transport.ssh import SSHPool
from lab.topology import REGISTRY

pytestmark = pytest.mark.lab
PROOF_DIR = "/tmp/lab-compose-proof"
COMPOSE = {"services": {"proof": {"image": TINY, "command": ["echo", "hello from the lab registry"]}}}


def test_override_maps_only_mapped_images() -> None:
    """The override replaces the image of mapped services only, and is None when nothing maps."""
    compose = {"services": {"a": {"image": "x:1", "ports": ["80:80"]}, "b": {"image": "y:2"}, "c": {"build": "."}}}
    assert override_for(compose, {"x:1": "mirror/x:1"}) == {"services": {"a": {"image": "mirror/x:1"}}}
    assert override_for(compose, {"z:9": "mirror/z:9"}) is None
    assert override_for({}, {"x:1": "mirror/x:1"}) is None


def test_image_map_lists_pushed_image(tiny_image: Inventory) -> None:
    """An image pushed to the lab registry appears in the lab inventory's settings.image_map, pinned by digest."""
    mapped = tiny_image.settings.image_map[TINY]
    assert mapped.startswith(f"{REGISTRY}/{TINY}@sha256:"), mapped


@pytest.fixture
def proof_files(tiny_image: Inventory, pool: SSHPool) -> Iterator[str]:
    """compose.yml as a stack writes it, and the override made from the inventory, on the platform host."""
    platform = tiny_image.hosts["platform"]
    override = override_for(COMPOSE, tiny_image.settings.image_map)
    sh(pool, platform, f"mkdir -p {PROOF_DIR}")
    with pool.get(platform).open_sftp() as sftp:
        sftp.putfo(io.BytesIO(yaml.safe_dump(COMPOSE).encode()), f"{PROOF_DIR}/compose.yml")
        sftp.putfo(io.BytesIO(yaml.safe_dump(override).encode()), f"{PROOF_DIR}/override.yml")
    yield f"docker compose -p labproof -f {PROOF_DIR}/compose.yml -f {PROOF_DIR}/override.yml"
    pool.run(platform, f"cd {PROOF_DIR} && docker compose -p labproof -f compose.yml down --rmi all; "
                       f"rm -rf {PROOF_DIR}", timeout=60)


def test_compose_runs_stack_with_lab_image(tiny_image: Inventory, pool: SSHPool, proof_files: str) -> None:
    """A host's engine pulls the mapped image from the lab registry and compose runs it, stack file unchanged."""
    platform = tiny_image.hosts["platform"]
    assert sh(pool, platform, f"{proof_files} run --rm -T proof", timeout=120).strip() == "hello from the lab registry"
    mapped = tiny_image.settings.image_map[TINY]  # pulled by digest: the engine holds it under that digest
    digests = sh(pool, platform, f"docker image inspect --format '{{{{json .RepoDigests}}}}' {mapped}")
    assert f"{REGISTRY}/{TINY.rsplit(':', 1)[0]}@{mapped.rsplit('@', 1)[1]}" in digests


@pytest.fixture
def gpu_host(tiny_image: Inventory, pool: SSHPool) -> Iterator[str]:
    """The image on the gaming PC; the command prefix to run it."""
    host = tiny_image.hosts["gaming-pc-1"]
    sh(pool, host, f"docker pull -q {REGISTRY}/{TINY}", timeout=120)
    yield f"docker run --rm {{}} {REGISTRY}/{TINY}"
    pool.run(host, f"docker image rm {REGISTRY}/{TINY}", timeout=60)


def test_gpu_reaches_container_through_cdi(tiny_image: Inventory, pool: SSHPool, gpu_host: str) -> None:
    """With the CDI device nvidia.com/gpu=all a container sees the (stand-in) GPU; without it, none."""
    host = tiny_image.hosts["gaming-pc-1"]
    with_gpu = gpu_host.format("--device nvidia.com/gpu=all")
    assert sh(pool, host, f"{with_gpu} nvidia-smi -L").startswith("GPU 0: NVIDIA GeForce RTX 4070 (UUID: GPU-")
    csv = sh(pool, host, f"{with_gpu} nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv")
    assert csv.splitlines() == ["name, memory.total [MiB], driver_version",
                                "NVIDIA GeForce RTX 4070, 12282 MiB, 566.36"]
    assert pool.run(host, f"{gpu_host.format('')} nvidia-smi -L", timeout=60).exit_status == 127
