"""Lab networks and containers: created when missing, recreated when their spec changed, else left alone."""

from __future__ import annotations

import hashlib
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from lab.docker import LABEL, SPEC_LABEL, LabError, docker, exists, inspect_format, lab_objects, run
from lab.images import tag
from lab.topology import GIT_TLS, NETWORKS, PREFIX, REGISTRY_TLS, Machine

READY_TIMEOUT = 90.0
# A lab host: its own network namespace, iptables and a real dockerd (--privileged is refused here: docs/lab.md).
HOST_FLAGS = ("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--security-opt", "seccomp=unconfined",
              "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
              "--cgroupns", "host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run")


def ensure_networks() -> None:
    """Plain bridges (not --internal, which drops what the router forwards in: docs/lab.md), with no
    masquerading: traffic between segments keeps its source address (the router forwards it; the machine's NAT
    never rewrites it) and never leaves the lab."""
    for net in NETWORKS.values():
        name = PREFIX + net.name
        options = ["--subnet", net.cidr, "--gateway", net.at(1), "-o", f"com.docker.network.bridge.name={name}",
                   "-o", "com.docker.network.bridge.enable_ip_masquerade=false"]
        spec = hashlib.sha256(json.dumps(options).encode()).hexdigest()[:16]
        current = inspect_format("network", name, '{{index .Labels "' + SPEC_LABEL + '"}}')
        if current == spec:
            continue
        if current is not None:
            raise LabError(f"network {name} exists but differs from this lab's; run `lab down`, then `lab up`")
        docker("network", "create", "--driver", "bridge", *options, "--label", f"{LABEL}=1",
               "--label", f"{SPEC_LABEL}={spec}", name)


def run_args(m: Machine, env: dict[str, str]) -> list[str]:
    """The `docker create` arguments for `m` (first network only; the router joins the rest after)."""
    args = ["--name", m.container, "--hostname", m.name, "--label", f"{LABEL}=1",
            "--network", PREFIX + m.network, "--ip", m.address, "--restart", "no"]
    if m.kind == "host":
        args += [*HOST_FLAGS, "-v", f"{m.volume}:/var/lib/docker"]
    elif m.kind == "registry":
        args += ["-v", f"{m.volume}:/var/lib/docker-registry", "-v", f"{REGISTRY_TLS}:/etc/lab-registry:ro"]
    elif m.kind == "git":
        args += ["-v", f"{m.volume}:/srv/git", "-v", f"{GIT_TLS}:/etc/lab-git:ro"]
    elif m.kind == "router":
        args += ["--cap-add", "NET_ADMIN", "--sysctl", "net.ipv4.ip_forward=1"]
    else:
        args += ["--cap-add", "NET_ADMIN"]
    for key, value in sorted({**m.env, **env}.items()):
        args += ["-e", f"{key}={value}"]
    return args


def ensure_machine(m: Machine, image_hash: str, env: dict[str, str]) -> str:
    """Create and start `m` unless an identical one runs; return what was done (for the log)."""
    args = run_args(m, env)
    spec = hashlib.sha256(json.dumps([args, image_hash]).encode()).hexdigest()[:16]
    current = inspect_format("container", m.container, '{{index .Config.Labels "' + SPEC_LABEL + '"}}')
    if current == spec:
        if inspect_format("container", m.container, "{{.State.Running}}") != "true":
            docker("start", m.container)
            return "started"
        return "unchanged"
    if current is not None:
        # A machine made anew starts fresh: its engine's state (stacks, Portainer's admin) may have been made
        # with another checkout's secrets.
        docker("rm", "-f", m.container)
        if m.volume:
            docker("volume", "rm", "-f", m.volume, check=False)
    if m.volume and not exists("volume", m.volume):
        docker("volume", "create", "--label", f"{LABEL}=1", m.volume)
    docker("create", *args, "--label", f"{SPEC_LABEL}={spec}", tag(m.image))
    for net, address in list(m.addresses.items())[1:]:
        docker("network", "connect", "--ip", address, PREFIX + net, m.container)
    docker("start", m.container)
    return "recreated" if current is not None else "created"


def remove_machine(m: Machine, volume: bool) -> None:
    docker("rm", "-f", m.container, check=False)
    if volume and m.volume:
        docker("volume", "rm", "-f", m.volume, check=False)


def wait_ready(m: Machine, deadline: float) -> None:
    """Wait (bounded) until the init says ready, sshd answers and the inner engine answers."""
    while not _ready(m):
        running = inspect_format("container", m.container, "{{.State.Running}}") == "true"
        if time.monotonic() > deadline or not running:
            logs = docker("logs", "--tail", "5", m.container, check=False, timeout=15).strip().replace("\n", " | ")
            why = f"is not ready after {READY_TIMEOUT:.0f} s" if running else "stopped"
            raise LabError(f"{m.name} {why} (logs: {logs or 'none'}); try `lab reset {m.name}`")
        time.sleep(0.5)


def _ready(m: Machine) -> bool:
    if m.kind == "registry":
        return _tcp_open(m.address, 5000)
    if m.kind == "git":
        return _exec_ok(m, "test", "-e", "/run/lab-ready") and _tcp_open(m.address, 443)
    if not _exec_ok(m, "test", "-e", "/run/lab-ready"):
        return False
    if m.user and not _tcp_open(m.address, 22):
        return False
    return m.kind != "host" or _exec_ok(m, "docker", "version")


def _exec_ok(m: Machine, *cmd: str) -> bool:
    return run(["docker", "exec", m.container, *cmd], timeout=15).returncode == 0


def _tcp_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def wait_all(machines: list[Machine]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    with ThreadPoolExecutor(max_workers=len(machines) or 1) as pool:
        for future in [pool.submit(wait_ready, m, deadline) for m in machines]:
            future.result()


def host_key(m: Machine) -> str:
    out = docker("exec", m.container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", timeout=15)
    return " ".join(out.split()[:2])


def remove_all() -> list[str]:
    """Every container, network and volume with the lab label (and nothing else); return their names."""
    removed = []
    for kind, rm in (("container", ["rm", "-f"]), ("network", ["network", "rm"]), ("volume", ["volume", "rm", "-f"])):
        names = lab_objects(kind)
        if names and kind == "network":
            for name in names:
                _remove_network(name)
        elif names and kind == "container":
            # One at a time: dockerd removing many containers of one network at once can lose an endpoint
            # ("key modified" in its log), and the network then stays "in use" by nothing until dockerd restarts
            for name in names:
                docker("rm", "-f", name, timeout=120)
        elif names:
            docker(*rm, *names, timeout=180)
        removed += [f"{kind} {n}" for n in names]
    return removed


def _remove_network(name: str, attempts: int = 5) -> None:
    """`docker network rm`, tried again: dockerd sometimes fails it with only "exit status 1" (its own iptables
    cleanup racing the removed containers'), and the next try succeeds."""
    for attempt in range(1, attempts + 1):
        try:
            docker("network", "rm", name, timeout=60)
            return
        except LabError as exc:
            if not exists("network", name):
                return
            if attempt == attempts:
                raise LabError(f"{exc}: dockerd still counts an endpoint on {name} though no container is attached "
                               "(a stale endpoint); restart dockerd to clear it, then run `lab down` again") from None
            time.sleep(attempt)
