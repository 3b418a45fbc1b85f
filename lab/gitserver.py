"""The lab's Git server (lab/dockerfiles/git): the repository the inventory's `git.repository` names, served over
Git's smart HTTP with TLS from the lab CA, at GIT_ADDRESS. Technitium resolves its name (bootstrap phase 1 adds
the record, from the inventory's `git.address`), so Portainer on the platform VM clones from it by name.

`push` puts a ref of a checkout (this one by default) on the server's branch, as a bundle copied into the
container: clients only ever read over HTTPS. `lab up` pushes HEAD; `lab git-push REF` does it on demand.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from lab.docker import LabError, docker
from lab.inventory import seed
from lab.keys import ensure_server_cert
from lab.topology import GIT_TLS, REPO, machine

INBOX = "/srv/git/push.bundle"  # where a push's bundle lands in the container, beside the repositories


def _git() -> dict[str, str]:
    git = seed().get("git") or {}
    if not git.get("repository"):
        raise LabError("inventory.yaml has no git.repository: the lab's Git server serves that URL")
    return {"repository": str(git["repository"]), "ref": str(git.get("ref") or "refs/heads/main")}


def repository_url() -> str:
    return _git()["repository"]


def repository_path() -> str:
    """The repository's path on the server (`homelab/homelab.git`), under its /srv/git."""
    return urlparse(repository_url()).path.strip("/")


def server_name() -> str:
    name = urlparse(repository_url()).hostname
    if not name:
        raise LabError(f"inventory.yaml: git.repository {repository_url()!r} has no host name")
    return name


def ensure_cert() -> None:
    """The server's certificate for its name, from the lab CA."""
    ensure_server_cert(GIT_TLS, [server_name()])


def push(ref: str = "HEAD", source: Path = REPO) -> str:
    """Put `ref` of the checkout at `source` on the server's branch (the inventory's git.ref), forced; returns the
    commit pushed."""
    target = _git()["ref"]
    try:
        commit = _run(["git", "-C", str(source), "rev-parse", "--verify", f"{ref}^{{commit}}"]).strip()
        with tempfile.TemporaryDirectory() as folder:
            bundle = Path(folder) / "push.bundle"
            _run(["git", "-C", str(source), "bundle", "create", "--quiet", str(bundle), ref])
            container = machine("git").container
            docker("cp", str(bundle), f"{container}:{INBOX}")
    except FileNotFoundError:
        raise LabError("git is not installed on this machine: `apt-get install git`") from None
    repository = f"/srv/git/{repository_path()}"
    docker("exec", "-u", "www-data", container, "git", "-C", repository, "fetch", "--quiet", "--force",
           INBOX, f"+{ref}:{target}", timeout=120)
    found = docker("exec", "-u", "www-data", container, "git", "-C", repository, "rev-parse", target).strip()
    if found != commit:
        raise LabError(f"the Git server's {target} is {found[:12]}, not {commit[:12]}, after the push")
    return commit


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise LabError(f"{' '.join(command[:4])}: {done.stderr.strip()[-300:]}")
    return done.stdout
