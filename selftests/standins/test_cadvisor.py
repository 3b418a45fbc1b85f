"""The cAdvisor v0.49.1 stand-in (lab/standins/cadvisor): flags, /healthz, /metrics from a fake Docker engine."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standin_helpers import HOST, FakeDocker, free_port, wait_until

from homelab.model.paths import REPO

SERVER = REPO / "lab" / "standins" / "cadvisor" / "standin.py"
WEB, DB = "a" * 64, "b" * 64
DOCKER_ANSWERS: dict[str, Any] = {
    "/version": {"Version": "26.1.5+dfsg1", "ApiVersion": "1.45"},
    "/info": {"CgroupDriver": "cgroupfs", "CgroupVersion": "2"},
    "/containers/json": [{"Id": WEB}, {"Id": DB}],
    f"/containers/{WEB}/json": {
        "Id": WEB, "Name": "/web", "Created": "2024-10-01T10:00:00.123456789Z", "State": {"Pid": 0},
        "HostConfig": {"CgroupParent": ""},
        "Config": {"Image": "nginx:1.27", "Labels": {"com.docker.compose.project": "platform"}}},
    f"/containers/{WEB}/stats": {
        "cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
        "memory_stats": {"usage": 10_000_000, "stats": {"inactive_file": 2_000_000}},
        "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 2000, "rx_packets": 10, "tx_packets": 20}}},
    f"/containers/{DB}/json": {
        "Id": DB, "Name": "/db", "Created": "2024-10-02T00:00:00Z", "State": {"Pid": 4242},
        "HostConfig": {"CgroupParent": ""}, "Config": {"Image": "postgres:16", "Labels": {}}},
}
NET_DEV = """Inter-|   Receive                                 |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed
    lo:   100     1    0    0    0     0          0         0   100     1    0    0    0     0       0          0
  eth0:  5000    50    0    1    0     0          0         0  7000    70    0    0    0     0       0          0
"""
SERIES = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>.*)\})? (?P<value>\S+)( (?P<ts>-?\d+))?$')


def fake_host(root: Path) -> dict[str, str]:
    """A cgroup v2 tree and a /proc for container `db` only: `web` must come from the stats API."""
    cgroup = root / "cgroup" / "docker" / DB
    cgroup.mkdir(parents=True)
    (root / "cgroup" / "cgroup.controllers").write_text("cpu memory\n")
    (cgroup / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (cgroup / "memory.current").write_text("50000000\n")
    (cgroup / "memory.stat").write_text("anon 1\ninactive_file 5000000\n")
    (root / "rootfs" / "proc" / "4242" / "net").mkdir(parents=True)
    (root / "rootfs" / "proc" / "4242" / "net" / "dev").write_text(NET_DEV)
    return {"CADVISOR_STANDIN_CGROUP_ROOT": str(root / "cgroup"), "CADVISOR_STANDIN_ROOTFS": str(root / "rootfs")}


def start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "-port", str(port), "--listen_ip", HOST, *args],
                               env=os.environ | env, stderr=subprocess.PIPE)

    def up() -> bool:
        try:
            return httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).text == "ok"
        except httpx.TransportError:
            return False

    wait_until(f"the cAdvisor stand-in on port {port}", up)
    return process, port


def series(text: str) -> list[tuple[str, dict[str, str], float, str | None]]:
    """The samples of a Prometheus text page (an independent reader, not the stand-in's writer)."""
    found = []
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SERIES.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        found.append((match["name"], labels, float(match["value"]), match["ts"]))
    return found


def value(text: str, metric: str, /, **labels: str) -> float:
    matches = [v for n, got, v, _ in series(text) if n == metric and labels.items() <= got.items()]
    assert len(matches) == 1, f"{metric}{labels}: {len(matches)} samples"
    return matches[0]


@pytest.fixture(scope="module")
def cadvisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, FakeDocker]]:
    folder = tempfile.mkdtemp(prefix="cadv-")  # short: Unix socket paths are limited to 107 bytes
    docker = FakeDocker(os.path.join(folder, "docker.sock"), DOCKER_ANSWERS)
    threading.Thread(target=docker.serve_forever, daemon=True).start()
    env = fake_host(tmp_path_factory.mktemp("host"))
    args = ["--docker_only=true", "--housekeeping_interval=30s", f"--docker=unix://{docker.server_address}"]
    process, port = start(args, env)
    yield port, docker
    process.terminate()
    process.wait(timeout=5)
    docker.shutdown()


def metrics(port: int) -> str:
    return httpx.get(f"http://{HOST}:{port}/metrics", timeout=5).text


def test_healthz_is_ok(cadvisor: tuple[int, FakeDocker]) -> None:
    """/healthz answers `ok` to GET, and 200 to HEAD (what the stack's `wget --spider` sends)."""
    assert httpx.get(f"http://{HOST}:{cadvisor[0]}/healthz", timeout=5).text == "ok"
    assert httpx.head(f"http://{HOST}:{cadvisor[0]}/healthz", timeout=5).status_code == 200


def test_container_labels_as_upstream(cadvisor: tuple[int, FakeDocker]) -> None:
    """Series carry id (cgroup path), name, image and container_label_*, padded empty where a container lacks one."""
    text = metrics(cadvisor[0])
    web = {"id": f"/docker/{WEB}", "name": "web", "image": "nginx:1.27",
           "container_label_com_docker_compose_project": "platform"}
    assert value(text, "container_last_seen", **web) == pytest.approx(time.time(), abs=5)
    db = {"id": f"/docker/{DB}", "name": "db", "container_label_com_docker_compose_project": ""}
    assert value(text, "container_start_time_seconds", **db) == 1727827200
    assert value(text, "container_start_time_seconds", id="/", name="", image="") > 0


def test_usage_from_stats_api(cadvisor: tuple[int, FakeDocker]) -> None:
    """Without cgroup files, CPU, memory and network come from the engine's stats API, timestamped."""
    text, web = metrics(cadvisor[0]), {"name": "web"}
    assert value(text, "container_cpu_usage_seconds_total", cpu="total", **web) == 2.5
    assert value(text, "container_memory_usage_bytes", **web) == 10_000_000
    assert value(text, "container_memory_working_set_bytes", **web) == 8_000_000
    assert value(text, "container_network_receive_bytes_total", interface="eth0", **web) == 1000
    assert all(ts for n, labels, _, ts in series(text) if n.startswith("container_memory") and labels["name"] == "web")


def test_usage_from_cgroup_files_and_proc(cadvisor: tuple[int, FakeDocker]) -> None:
    """With cgroup v2 files and /rootfs/proc/<pid>/net/dev, the stats API is not asked (lo is skipped)."""
    text, db = metrics(cadvisor[0]), {"name": "db"}
    assert value(text, "container_cpu_usage_seconds_total", cpu="total", **db) == 1.5
    assert value(text, "container_memory_working_set_bytes", **db) == 45_000_000
    assert value(text, "container_network_transmit_bytes_total", interface="eth0", **db) == 7000
    assert not [s for n, s, _, _ in series(text) if n.startswith("container_network") and s.get("interface") == "lo"]
    assert f"/containers/{DB}/stats" not in cadvisor[1].seen


def test_machine_and_version_metrics(cadvisor: tuple[int, FakeDocker]) -> None:
    """machine_cpu_cores, machine_memory_bytes and cadvisor_version_info are there, labelled as upstream."""
    text = metrics(cadvisor[0])
    assert value(text, "machine_cpu_cores") == os.cpu_count()
    assert value(text, "machine_memory_bytes") > 0
    assert value(text, "cadvisor_version_info", cadvisorVersion="v0.49.1", dockerVersion="26.1.5+dfsg1") == 1
    cores = next(labels for name, labels, _, _ in series(text) if name == "machine_cpu_cores")
    assert {"boot_id", "machine_id", "system_uuid"} <= cores.keys()


def test_scrapes_within_housekeeping_interval_reuse_one_reading(cadvisor: tuple[int, FakeDocker]) -> None:
    """Scrapes between two housekeepings (30 s here) do not ask the engine again."""
    metrics(cadvisor[0])
    asked = cadvisor[1].seen.count("/containers/json")
    metrics(cadvisor[0])
    metrics(cadvisor[0])
    assert cadvisor[1].seen.count("/containers/json") == asked == 1


def test_unknown_flag_is_ignored_with_a_warning(tmp_path: Path) -> None:
    """An unknown flag is warned about and ignored; without an engine, container_scrape_error is 1."""
    process, port = start(["--no_such_flag=1", f"--docker=unix://{tmp_path}/none.sock"], {})
    try:
        text = metrics(port)
        assert value(text, "container_scrape_error") == 1
        assert value(text, "machine_cpu_cores") == os.cpu_count()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=5)
    assert b"flag provided but not defined: -no_such_flag" in stderr


@pytest.mark.parametrize(("args", "code", "output"), [
    (["-version"], 0, b"cAdvisor version v0.49.1"),
    (["--housekeeping_interval=soon"], 2, b'invalid value "soon" for flag -housekeeping_interval'),
    (["-port"], 2, b"flag needs an argument: -port"),
])
def test_flag_handling_like_go(args: list[str], code: int, output: bytes) -> None:
    """-version prints and exits 0; a bad or missing value exits 2 with Go's flag message."""
    result = subprocess.run([sys.executable, str(SERVER), *args], capture_output=True, timeout=10, check=False)
    assert result.returncode == code
    assert output in result.stdout + result.stderr
