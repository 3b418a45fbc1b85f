"""The lab's images: a debootstrap'd Debian root, then `docker build` of lab/dockerfiles/*, all cached.

An image carries the hash of its inputs (its build context, and its parent's hash) as a label; `lab up`
rebuilds exactly the images whose inputs changed. The debootstrap tarball is kept under .lab/cache/.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab.docker import LABEL, SPEC_LABEL, LabError, docker, inspect_format
from lab.topology import DOCKERFILES, LAB_DIR

SUITE = "trixie"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = Path("/etc/apt")
BASE = f"homelab-lab/base:{SUITE}"
# name -> parent; the base is made by debootstrap, the rest by `docker build` of lab/dockerfiles/NAME.
PARENTS = {"hostcore": "base", "host": "hostcore", "unraid": "hostcore", "router": "base",
           "vantage": "base", "registry": "base", "git": "base"}
LAB_IMAGES = ("host", "unraid", "router", "vantage", "registry", "git")  # what `lab up` needs
BUILD_TIMEOUT = 600
Log = Callable[[str], None]


def tag(name: str) -> str:
    return BASE if name == "base" else f"homelab-lab/{name}:latest"


def context_hash(directory: Path, parent_hash: str = "") -> str:
    """A digest of every file (path, mode, bytes) under `directory`, chained to the parent's digest.

    Python's bytecode caches (`__pycache__/`, written when a selftest runs a stand-in from the repository) are
    left out: no image copies them, and they would change the digest on every run."""
    digest = hashlib.sha256(parent_hash.encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        if "__pycache__" in path.relative_to(directory).parts:
            continue
        digest.update(f"{path.relative_to(directory)}\0{path.stat().st_mode & 0o777}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def debian_mirror(apt: Path = APT_SOURCES) -> str:
    """The Debian mirror debootstrap uses: $LAB_DEBIAN_MIRROR, else the one this machine's apt uses for Debian
    itself (so a local mirror or cache is used), else deb.debian.org."""
    if os.environ.get("LAB_DEBIAN_MIRROR"):
        return os.environ["LAB_DEBIAN_MIRROR"].rstrip("/")
    uris: list[str] = []
    for sources in sorted((apt / "sources.list.d").glob("*.sources")):  # deb822 stanzas
        for stanza in sources.read_text(errors="replace").split("\n\n"):
            fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[:1].isalpha())
            if "deb" in fields.get("Types", "").split():
                uris += fields.get("URIs", "").split()
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            uris += [line.split()[1] for line in path.read_text(errors="replace").splitlines()
                     if line.startswith("deb ") and len(line.split()) > 2 and "[" not in line.split()[1]]
    debian = [uri.rstrip("/") for uri in uris if uri.rstrip("/").endswith("/debian")]
    return debian[0] if debian else DEFAULT_MIRROR


MIRROR = debian_mirror()


def base_hash() -> str:
    return hashlib.sha256(f"debootstrap --variant=minbase {SUITE} {MIRROR}".encode()).hexdigest()[:16]


def current_hash(image: str) -> str | None:
    return inspect_format("image", image, '{{index .Config.Labels "' + SPEC_LABEL + '"}}')


def ensure_base(log: Log = print) -> str:
    """The Debian base image, from the cached debootstrap tarball (made once, about 20-40 s)."""
    wanted = base_hash()
    if current_hash(BASE) == wanted:
        return wanted
    tarball = LAB_DIR / "cache" / f"debian-{SUITE}-minbase-{wanted}.tar"
    if not tarball.exists():
        log(f"debootstrap {SUITE} (once; cached in {tarball.parent})")
        _debootstrap(tarball)
    log(f"importing {BASE}")
    with tarball.open("rb") as stream:
        result = subprocess.run(
            ["docker", "import", "-c", "ENV LANG=C.UTF-8", "-c", f"LABEL {LABEL}=1 {SPEC_LABEL}={wanted}", "-", BASE],
            stdin=stream, capture_output=True, timeout=BUILD_TIMEOUT, check=False)
    if result.returncode != 0:
        raise LabError(f"docker import of the Debian root failed: {result.stderr.decode().strip()}")
    return wanted


def _debootstrap(tarball: Path) -> None:
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed; run `apt-get install -y debootstrap` (or `make lab`)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent) as tmp:
        root = Path(tmp) / "root"
        cmd = ["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR]
        result = subprocess.run(cmd, capture_output=True, timeout=BUILD_TIMEOUT, check=False)
        if result.returncode != 0:
            tail = result.stdout.decode(errors="replace").strip().splitlines()[-1:]
            raise LabError(f"debootstrap failed ({' '.join(tail)}); is {MIRROR} reachable?")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / junk).glob("*.deb" if "archives" in junk else "*_*"):
                item.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], timeout=BUILD_TIMEOUT, check=True)
        partial.rename(tarball)


def build(name: str, context: Path, parent_hash: str, log: Log = print) -> str:
    """Build `context` as tag(name) unless an image with the same input hash exists; return that hash."""
    wanted = context_hash(context, parent_hash)
    if current_hash(tag(name)) == wanted:
        return wanted
    log(f"building {tag(name)}")
    docker("build", "-q", "--label", f"{LABEL}=1", "--label", f"{SPEC_LABEL}={wanted}",
           "-t", tag(name), str(context), timeout=BUILD_TIMEOUT)
    return wanted


def ensure_images(names: tuple[str, ...] = LAB_IMAGES, log: Log = print) -> dict[str, str]:
    """Build (or reuse) `names` and their parents, independent ones in parallel; return name -> hash."""
    hashes = {"base": ensure_base(log)}
    needed: set[str] = set()
    for name in names:
        while name != "base":
            needed.add(name)
            name = PARENTS[name]
    with ThreadPoolExecutor(max_workers=4) as pool:
        while needed - hashes.keys():
            ready = [n for n in needed - hashes.keys() if PARENTS[n] in hashes]
            futures = {n: pool.submit(build, n, DOCKERFILES / n, hashes[PARENTS[n]], log) for n in ready}
            hashes.update({n: f.result() for n, f in futures.items()})
    _prune()
    return hashes


def _prune() -> None:
    """Drop lab images left dangling by a rebuild (never anything without the lab label)."""
    docker("image", "prune", "-f", "--filter", f"label={LABEL}=1", timeout=120, check=False)
