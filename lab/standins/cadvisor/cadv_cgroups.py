"""Container usage read where cAdvisor reads it: cgroup files under /sys/fs/cgroup (v1 or v2) and the
container's /proc/<pid>/net/dev seen through the host's root mounted at /rootfs.

Either may be missing (no /sys mount, another cgroup layout); callers then fall back to the engine's stats
API. CADVISOR_STANDIN_CGROUP_ROOT and CADVISOR_STANDIN_ROOTFS move both roots (stand-in only, for tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

IGNORED_INTERFACES = ("lo", "veth", "docker", "nerdctl")  # cAdvisor's ignored device prefixes
NET_DEV_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "", "", "", "",
                  "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    memory_usage: float
    working_set: float


def _roots() -> tuple[Path, Path]:
    return (Path(os.environ.get("CADVISOR_STANDIN_CGROUP_ROOT", "/sys/fs/cgroup")),
            Path(os.environ.get("CADVISOR_STANDIN_ROOTFS", "/rootfs")))


def _stat(path: Path) -> dict[str, float]:
    values = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = float(value)
    return values


def _v1(root: Path, cgroup: str) -> Usage:
    relative = cgroup.lstrip("/")
    cpu_dir = next((root / name / relative for name in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu")
                    if (root / name / relative / "cpuacct.usage").exists()), root / "cpuacct" / relative)
    cpu = float((cpu_dir / "cpuacct.usage").read_text()) / 1e9
    memory = root / "memory" / relative
    usage = float((memory / "memory.usage_in_bytes").read_text())
    inactive = _stat(memory / "memory.stat").get("total_inactive_file", 0.0)
    return Usage(cpu, usage, max(usage - inactive, 0.0))


def _v2(root: Path, cgroup: str) -> Usage:
    directory = root / cgroup.lstrip("/")
    cpu = _stat(directory / "cpu.stat")["usage_usec"] / 1e6
    usage = float((directory / "memory.current").read_text())
    inactive = _stat(directory / "memory.stat").get("inactive_file", 0.0)
    return Usage(cpu, usage, max(usage - inactive, 0.0))


def usage(cgroup: str) -> Usage | None:
    root, _ = _roots()
    try:
        return _v2(root, cgroup) if (root / "cgroup.controllers").exists() else _v1(root, cgroup)
    except (OSError, ValueError, KeyError):
        return None


def networks(pid: int) -> dict[str, dict[str, float]] | None:
    """Interface counters of the container's network namespace, or None when its /proc is not visible."""
    if pid <= 0:
        return None
    _, rootfs = _roots()
    try:
        lines = (rootfs / "proc" / str(pid) / "net" / "dev").read_text().splitlines()[2:]
    except OSError:
        return None
    found = {}
    for line in lines:
        name, _, counters = line.partition(":")
        name = name.strip()
        if name.startswith(IGNORED_INTERFACES):
            continue
        found[name] = {key: float(value) for key, value in zip(NET_DEV_FIELDS, counters.split(), strict=False)
                       if key}
    return found
