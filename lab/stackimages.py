"""The stand-ins of lab/standins/*/, built FROM the lab's base image and pushed under the upstream names.

Each stand-in directory holds a Dockerfile (`ARG BASE`) and a file `IMAGES`: the upstream `name:tag` it
stands in for, one per line (`portainer/portainer-ce:2.23.0`). The stacks stay unchanged: the lab
inventory's settings.image_map maps those names to the lab registry. Adding a stand-in is a directory.

Every image is built with lab/standins/ as its context, so a Dockerfile copies from its own directory and from
common/ (`COPY common/standin_serve.py grafana/*.py ...`, the shared serve-until-signal of every Python stand-in);
an image's hash covers both, so a change to common/ rebuilds them all.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.docker import LabError
from lab.images import BASE, Log, context_hash
from lab.registry import build_and_push

STANDINS = Path(__file__).resolve().parent / "standins"
COMMON = STANDINS / "common"


def standins(root: Path = STANDINS) -> dict[Path, list[str]]:
    """Stand-in directory -> the upstream image names it is pushed as (from its IMAGES file)."""
    found: dict[Path, list[str]] = {}
    for images in sorted(root.glob("*/IMAGES")):
        names = [line.strip() for line in images.read_text().splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        if not (images.parent / "Dockerfile").exists():
            raise LabError(f"{images.parent}: has IMAGES but no Dockerfile")
        found[images.parent] = names
    return found


def ensure_standins(base_hash: str, log: Log = print) -> list[str]:
    """Build (when their inputs changed) and push (when the registry lacks them) every stand-in image."""
    jobs = [(directory, name) for directory, names in standins().items() for name in names]
    inputs = base_hash + context_hash(COMMON)  # beside each directory's own files

    def one(job: tuple[Path, str]) -> str:
        return build_and_push(job[0], job[1], build_args={"BASE": BASE}, parent_hash=inputs, context=STANDINS)

    with ThreadPoolExecutor(max_workers=3) as pool:
        pushed = list(pool.map(one, jobs))
    log(f"stand-in images: {len(pushed)} in the lab registry")
    return [name for _, name in jobs]


DOCKER_HUB = "registry-1.docker.io"


def registry_of(image: str) -> str:
    """The registry an image name is pulled from (Docker's rule: a first element with a dot or a port)."""
    first, _, rest = image.partition("/")
    return first if rest and ("." in first or ":" in first or first == "localhost") else DOCKER_HUB


def upstream_registries(root: Path = STANDINS) -> list[str]:
    """Every registry the stand-ins' upstream names are pulled from: the names the lab registry answers as."""
    return sorted({registry_of(name) for names in standins(root).values() for name in names})
