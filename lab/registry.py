"""The lab registry: push a locally built image into it; list what it holds as the inventory's image_map.

Images are pushed from inside the registry container (skopeo to localhost:5000), so the machine's own
engine needs no insecure-registry setting. The hosts' engines pull from REGISTRY over plain HTTP.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from lab.docker import LABEL, SPEC_LABEL, LabError, docker, inspect_format
from lab.images import context_hash
from lab.topology import MACHINES, REGISTRY

PUSH_TIMEOUT = 600


def build_and_push(directory: str | Path, name: str, build_args: dict[str, str] | None = None,
                   parent_hash: str = "", context: str | Path | None = None) -> str:
    """Build `directory`'s Dockerfile and push the image as `name` (e.g. `portainer/portainer-ce:2.23.0`).

    The build context is `directory`, or `context` (a folder above it, so the Dockerfile can copy files from
    beside `directory`; their hash must then be chained into `parent_hash`). Returns the reference the hosts
    pull (`198.18.10.5:5000/portainer/portainer-ce:2.23.0`). Skips the build when an image of the same inputs
    (`directory`'s files, `build_args`, `parent_hash`: the hash of the image the Dockerfile starts FROM and of
    anything else it copies) exists, and the push when the registry already holds that image under `name`.
    The next `lab up` adds `name` to settings.image_map.
    """
    directory = Path(directory)
    if ":" not in name.rsplit("/", 1)[-1]:
        raise LabError(f"image name {name!r} has no tag; expected NAME:TAG as the stack writes it")
    local = f"homelab-lab/stack/{name}"
    args = sorted((build_args or {}).items())
    wanted = context_hash(directory, parent_hash + "".join(f"\0{k}={v}" for k, v in args))
    if inspect_format("image", local, '{{index .Config.Labels "' + SPEC_LABEL + '"}}') != wanted:
        flags = [f for k, v in args for f in ("--build-arg", f"{k}={v}")]
        docker("build", "-q", *flags, "--label", f"{LABEL}=1", "--label", f"{SPEC_LABEL}={wanted}", "-t", local,
               "-f", str(directory / "Dockerfile"), str(context or directory), timeout=PUSH_TIMEOUT)
    if registry_config_digest(name) != inspect_format("image", local, "{{.Id}}"):
        push(local, name)
    return f"{REGISTRY}/{name}"


def registry_config_digest(name: str, timeout: float = 5.0) -> str | None:
    """The image id (config digest) the lab registry holds as `name`, or None when it holds none."""
    repo, tag = name.rsplit(":", 1)
    try:
        with httpx.Client(base_url=f"http://{REGISTRY}", timeout=timeout) as client:
            answer = client.get(f"/v2/{repo}/manifests/{tag}",
                                headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
            if answer.status_code != 200:
                return None
            digest = answer.json().get("config", {}).get("digest")
    except (httpx.HTTPError, ValueError):
        return None
    return digest if isinstance(digest, str) else None


def push(local: str, name: str) -> None:
    """Copy the local image `local` into the lab registry as `name` (docker save, streamed to skopeo)."""
    container = MACHINES["registry"].container
    script = ('set -e; t=$(mktemp); trap "rm -f $t" EXIT; cat > "$t"; '
              f'skopeo copy --quiet --dest-tls-verify=false "docker-archive:$t" "docker://localhost:5000/{name}"')
    with subprocess.Popen(["docker", "save", local], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as save:
        try:
            copied = subprocess.run(["docker", "exec", "-i", container, "sh", "-c", script], stdin=save.stdout,
                                    capture_output=True, timeout=PUSH_TIMEOUT, check=False)
            saved = save.wait(timeout=30)
        except subprocess.TimeoutExpired:
            save.kill()
            raise LabError(f"pushing {name} took longer than {PUSH_TIMEOUT} s") from None
    if saved != 0 or copied.returncode != 0:
        raise LabError(f"pushing {local} as {name} failed: {copied.stderr.decode(errors='replace').strip()}")


MANIFEST_TYPES = ("application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.manifest.v1+json")


def image_map(timeout: float = 5.0) -> dict[str, str]:
    """`upstream name:tag` -> `REGISTRY/name:tag@DIGEST` for every image the lab registry holds."""
    mapping: dict[str, str] = {}
    try:
        with httpx.Client(base_url=f"http://{REGISTRY}", timeout=timeout) as client:
            catalog = client.get("/v2/_catalog", params={"n": 1000}).raise_for_status().json()
            for repo in catalog.get("repositories") or []:
                tags = client.get(f"/v2/{repo}/tags/list").raise_for_status().json().get("tags") or []
                for tag in sorted(tags):
                    answer = client.head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
                    digest = answer.headers.get("Docker-Content-Digest", "")
                    # By digest: a host that holds an older build under the same tag (its engine's volume outlives
                    # `lab down`) pulls the new one instead of running the old
                    pin = f"@{digest}" if answer.status_code == 200 and digest.startswith("sha256:") else ""
                    mapping[f"{repo}:{tag}"] = f"{REGISTRY}/{repo}:{tag}{pin}"
    except httpx.HTTPError as exc:
        raise LabError(f"the lab registry at {REGISTRY} does not answer ({exc}); try `lab reset registry`") from None
    return mapping
