"""The machine cAdvisor runs on: core count, memory, the ids that label machine_* metrics, and the root
container `/` (the whole machine's CPU and memory, from /proc, which a container shares with its host).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from cadv_docker import Sample

ROOTFS = Path("/rootfs")  # where the stack mounts the host's /


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _meminfo() -> dict[str, float]:
    values = {}
    for line in _read("/proc/meminfo").splitlines():
        name, _, rest = line.partition(":")
        if rest.split():
            values[name] = float(rest.split()[0]) * 1024
    return values


def _machine_id(candidates: str) -> str:
    for path in candidates.split(","):
        for base in (str(ROOTFS), ""):
            if found := _read(base + path.strip()):
                return found
    return ""


def _os_version() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return "Unknown"


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_bytes: float
    machine_id: str
    system_uuid: str
    boot_id: str
    kernel: str
    os_version: str

    @classmethod
    def read(cls, boot_id_file: str, machine_id_file: str) -> Machine:
        return cls(cores=os.cpu_count() or 1, memory_bytes=_meminfo().get("MemTotal", 0.0),
                   machine_id=_machine_id(machine_id_file), system_uuid=_read("/sys/class/dmi/id/product_uuid"),
                   boot_id=_read(boot_id_file), kernel=platform.release(), os_version=_os_version())


def root_sample() -> Sample:
    """The root cgroup `/`: all CPU time but idle and iowait, and memory in use, as cAdvisor reports for v2."""
    fields = next((line.split()[1:] for line in _read("/proc/stat").splitlines() if line.startswith("cpu ")), [])
    busy = sum(float(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # drop idle, iowait
    boot = next((float(line.split()[1]) for line in _read("/proc/stat").splitlines() if line.startswith("btime")), 0)
    memory = _meminfo()
    usage = memory.get("MemTotal", 0.0) - memory.get("MemFree", 0.0)
    working_set = max(usage - memory.get("Inactive(file)", 0.0), 0.0)
    return Sample(cgroup="/", name="", image="", labels={}, created=boot,
                  cpu_seconds=busy / os.sysconf("SC_CLK_TCK"), memory_usage=usage, working_set=working_set)
