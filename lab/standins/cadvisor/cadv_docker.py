"""What cAdvisor's Docker handler learns about each running container, read from the engine's API.

Per container: inspect (name, image as configured, labels, creation time, cgroup parent, pid), then
usage from the cgroup files and /proc (cadv_cgroups), or else one stats sample
(`stats?stream=false&one-shot=true`). The cgroup path that becomes the `id` label follows the engine's
cgroup driver: `/docker/<id>` (cgroupfs) or `/system.slice/docker-<id>.scope` (systemd).
"""

from __future__ import annotations

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import cadv_cgroups
from unixhttp import UnixHTTPConnection

TIMEOUT = 10.0
WORKERS = 16


class DockerError(Exception):
    pass


class Docker:
    """A GET-only client for `unix:///path` or `tcp://host:port` (cAdvisor's --docker)."""

    def __init__(self, endpoint: str) -> None:
        self.url = urlsplit(endpoint)
        if self.url.scheme not in ("unix", "tcp"):
            raise DockerError(f"unsupported --docker endpoint {endpoint!r}")

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.scheme == "unix":
            return UnixHTTPConnection(self.url.path, TIMEOUT)
        return http.client.HTTPConnection(self.url.hostname or "localhost", self.url.port or 2375, timeout=TIMEOUT)

    def get(self, path: str) -> Any:
        connection = self._connection()
        try:
            connection.request("GET", path, headers={"Host": "docker"})
            response = connection.getresponse()
            body = response.read()
        except OSError as error:
            raise DockerError(f"GET {path}: {error}") from error
        finally:
            connection.close()
        if response.status != 200:
            raise DockerError(f"GET {path}: HTTP {response.status}")
        return json.loads(body)


@dataclass
class Sample:
    """One container at one moment, in cAdvisor's terms."""

    cgroup: str
    name: str
    image: str
    labels: dict[str, str]
    created: float
    cpu_seconds: float
    memory_usage: float
    working_set: float
    networks: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Snapshot:
    taken: float
    containers: list[Sample]
    docker_version: str
    error: str = ""


def _time(text: str) -> float:
    """Docker's RFC 3339 times carry nanoseconds; Python parses microseconds."""
    head, _, rest = text.rstrip("Z").partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    stamp = datetime.fromisoformat(f"{head}.{fraction or '0'}+00:00")
    return stamp.timestamp()


def cgroup_path(container_id: str, parent: str, driver: str) -> str:
    if driver == "systemd":
        return f"/{parent or 'system.slice'}/docker-{container_id}.scope"
    return f"{(parent or '/docker').rstrip('/')}/{container_id}"


def _from_stats(stats: dict[str, Any]) -> tuple[cadv_cgroups.Usage, dict[str, dict[str, float]]]:
    memory = stats.get("memory_stats") or {}
    usage = float(memory.get("usage") or 0)
    details = memory.get("stats") or {}
    inactive = details.get("total_inactive_file", details.get("inactive_file", 0))  # cgroup v1, v2
    cpu = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0
    networks = {name: {key: float(value) for key, value in counters.items() if isinstance(value, int | float)}
                for name, counters in (stats.get("networks") or {}).items()}
    return cadv_cgroups.Usage(float(cpu) / 1e9, usage, max(usage - float(inactive or 0), 0.0)), networks


def _sample(docker: Docker, container_id: str, driver: str) -> Sample:
    """Cgroup files and /proc first, as cAdvisor; the engine's stats API for whatever they could not give."""
    inspect = docker.get(f"/containers/{container_id}/json")
    cgroup = cgroup_path(inspect["Id"], (inspect.get("HostConfig") or {}).get("CgroupParent", ""), driver)
    usage = cadv_cgroups.usage(cgroup)
    networks = cadv_cgroups.networks(int((inspect.get("State") or {}).get("Pid") or 0))
    if usage is None or networks is None:
        stats_usage, stats_networks = _from_stats(
            docker.get(f"/containers/{container_id}/stats?stream=false&one-shot=true"))
        usage = usage or stats_usage
        networks = stats_networks if networks is None else networks
    config = inspect.get("Config") or {}
    return Sample(cgroup=cgroup, name=inspect.get("Name", "").lstrip("/"), image=config.get("Image", ""),
                  labels=config.get("Labels") or {}, created=_time(inspect["Created"]),
                  cpu_seconds=usage.cpu_seconds, memory_usage=usage.memory_usage, working_set=usage.working_set,
                  networks=networks)


def collect(docker: Docker) -> Snapshot:
    """Every running container's sample; a container that stops meanwhile is left out."""
    taken = time.time()
    try:
        version = docker.get("/version").get("Version", "")
        driver = docker.get("/info").get("CgroupDriver", "cgroupfs")
        running = [c["Id"] for c in docker.get("/containers/json")]
    except (DockerError, ValueError, KeyError) as error:
        return Snapshot(taken, [], "", str(error))

    def one(container_id: str) -> Sample | None:
        try:
            return _sample(docker, container_id, driver)
        except (DockerError, ValueError, KeyError):
            return None

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        samples = [s for s in pool.map(one, running) if s is not None]
    return Snapshot(taken, samples, version)
