"""homelab.checks.engine.runs_image with fake engine and container objects: a container runs the wanted image by
name, or, where the wanted reference is pinned by digest, by that digest among its image's repository digests (a
Git stack names the upstream image, pulled through a mirror); anything else, or an image gone, is not it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors

from homelab.checks.engine import runs_image

DIGEST = "sha256:" + "4f" * 32
PINNED = f"registry.lab:5000/prom/node-exporter:v1.8.2@{DIGEST}"
UPSTREAM = f"prom/node-exporter:v1.8.2@{DIGEST}"
IMAGE_ID = "sha256:" + "0a" * 32


class Images:
    """engine.images: `get(id)` answers the image with `repo_digests`, or raises ImageNotFound when None."""

    def __init__(self, repo_digests: list[str] | None) -> None:
        self.repo_digests = repo_digests
        self.asked: list[str] = []

    def get(self, ident: str) -> Any:
        self.asked.append(ident)
        if self.repo_digests is None:
            raise docker.errors.ImageNotFound(f"No such image: {ident}")
        return SimpleNamespace(attrs={"Id": ident, "RepoDigests": self.repo_digests})


def engine(repo_digests: list[str] | None) -> Any:
    return SimpleNamespace(images=Images(repo_digests))


def container(image: str) -> Any:
    """A container created from `image` (Config.Image: the name it was asked for; Image: the image's id)."""
    return SimpleNamespace(attrs={"Config": {"Image": image}, "Image": IMAGE_ID})


def test_the_same_name_runs_it() -> None:
    fake = engine(None)
    assert runs_image(fake, container(PINNED), PINNED) is True
    assert fake.images.asked == []  # no need to look at the image


def test_another_name_with_the_pinned_digest_runs_it() -> None:
    """Portainer pulled the upstream name; the inventory's image_map names the mirror: same digest, same content."""
    fake = engine([f"prom/node-exporter@{DIGEST}", f"registry.lab:5000/prom/node-exporter@{DIGEST}"])
    assert runs_image(fake, container(UPSTREAM), PINNED) is True
    assert fake.images.asked == [IMAGE_ID]


def test_another_name_without_the_pinned_digest_does_not() -> None:
    other = "sha256:" + "9e" * 32
    assert runs_image(engine([f"prom/node-exporter@{other}"]), container("prom/node-exporter:v1.8.2"), PINNED) is False


def test_an_image_without_repository_digests_does_not() -> None:
    """A locally built or loaded image has no repository digest: nothing says it is the pinned content."""
    assert runs_image(engine([]), container("prom/node-exporter:v1.8.2"), PINNED) is False


def test_a_wanted_name_without_a_digest_and_another_name_does_not() -> None:
    fake = engine([f"prom/node-exporter@{DIGEST}"])
    assert runs_image(fake, container(UPSTREAM), "prom/node-exporter:v1.8.2") is False
    assert fake.images.asked == []


def test_an_image_no_longer_found_does_not() -> None:
    assert runs_image(engine(None), container(UPSTREAM), PINNED) is False
