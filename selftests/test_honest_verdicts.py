"""A spec that could not look fails, saying "could not observe"; it never passes, and never skips, for that.

dockerd on TCP (P1-DOCKER-002, P2-DOCKER-001, P3-DOCKER-001): the real script runs under bash on a fake /proc,
with a fake `sudo` that wants a password or lets it through, so that the configuration (flags, daemon.json) and
the behaviour (a listening TCP socket held by dockerd) are both judged, and a read that fails is a failure.
Gaming mode (homelab.checks.gaming, tests/phase3): the real phase 3 conftest and specs run through pytester against a
fake worker, so that the exposure specs always run and a gaming-mode record with the stack running fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from spec_project import run_for_outcomes

from homelab.checks import gaming
from homelab.checks.engine import (
    DAEMON_SCRIPT,
    Unobserved,
    expect_dockerd_unix_only,
    parse_daemon,
    read_stat,
    stat_command,
    tcp_hosts,
)
from homelab.model.paths import REPO
from homelab.transport.ssh import CommandResult, as_root

ROOT = REPO
PID = "4242"
SSHD_INODE, DOCKERD_INODE, OTHER_INODE = 111, 777, 888
HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode")
PASSWORD = "sudo: a password is required"


def _row(number: int, address: str, port: int, state: str, inode: int) -> str:
    return (f"   {number}: {address}:{port:04X} {'0' * len(address)}:0000 {state} 00000000:00000000 00:00000000 "
            f"00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0")


class FakeHost:
    """A host whose shell is bash on this machine, with a fake /proc, `pgrep`, `pidof` and `sudo` on PATH."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.proc = root / "proc" / PID
        (self.proc / "fd").mkdir(parents=True)
        (self.proc / "net").mkdir()
        self.daemon_json = root / "daemon.json"
        self.tool("pgrep", f"echo {PID}")
        self.tool("pidof", "exit 1")
        self.publishes("")
        self.sudo(password=False)
        self.cmdline("/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock")
        for fd, target in (("0", "/dev/null"), ("3", f"socket:[{OTHER_INODE}]")):
            (self.proc / "fd" / fd).symlink_to(target)
        self.tables(tcp=[_row(0, "00000000", 22, "0A", SSHD_INODE)], tcp6=[])

    def tool(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    def publishes(self, ports: str, fails: bool = False) -> None:
        """What `docker ps --format '{{.Ports}}'` prints (never the real docker of this machine)."""
        self.tool("docker", "echo 'Cannot connect to the Docker daemon' >&2; exit 1" if fails
                  else f"printf '%s\\n' {ports!r}")

    def sudo(self, password: bool) -> None:
        """`sudo -n CMD`: fails as sudo does when it wants a password, or runs CMD (as this user)."""
        self.tool("sudo", f'echo "{PASSWORD}" >&2; exit 1' if password else '[ "$1" = -n ] && shift; exec "$@"')

    def cmdline(self, *words: str) -> None:
        (self.proc / "cmdline").write_bytes(b"".join(w.encode() + b"\0" for w in words))

    def holds(self, inode: int) -> None:
        (self.proc / "fd" / str(5 + len(list((self.proc / "fd").iterdir())))).symlink_to(f"socket:[{inode}]")

    def tables(self, tcp: list[str], tcp6: list[str]) -> None:
        (self.proc / "net" / "tcp").write_text("\n".join([HEADER, *tcp]) + "\n")
        (self.proc / "net" / "tcp6").write_text("\n".join([HEADER, *tcp6]) + "\n")

    def run(self, _: object, command: str, timeout: float | None = None) -> CommandResult:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}", "HOMELAB_PROC": str(self.root / "proc"),
               "HOMELAB_DAEMON_JSON": str(self.daemon_json)}
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=30,
                              check=False)
        return CommandResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def fake(tmp_path: Path) -> FakeHost:
    return FakeHost(tmp_path)


HOST = SimpleNamespace(name="platform", ssh=SimpleNamespace(user="admin"))
ROOT_HOST = SimpleNamespace(name="unraid", ssh=SimpleNamespace(user="root"))


def verdict(fake: FakeHost, host: SimpleNamespace = HOST) -> str:
    """'pass', or the failure's message ('FAIL: ...' for a finding, 'UNOBSERVED: ...' for could not observe)."""
    try:
        shell = SimpleNamespace(target=host, run=lambda command, root=False: fake.run(
            host, as_root(host.ssh.user, command) if root else command))
        expect_dockerd_unix_only(shell, "the fix")
    except AssertionError as exc:
        return f"FAIL: {exc}"
    except pytest.fail.Exception as exc:
        return f"UNOBSERVED: {exc.msg}"
    return "pass"


def test_clean_engine_passes(fake: FakeHost) -> None:
    """fd:// and the unix socket, no TCP listener of dockerd's own (sshd's 22 is not dockerd's): a pass."""
    assert verdict(fake) == "pass"


def test_sudo_wanting_a_password_is_could_not_observe(fake: FakeHost) -> None:
    """sudo wants a password: nothing is read, and the spec fails saying so (it passed before)."""
    fake.sudo(password=True)
    found = verdict(fake)
    assert found.startswith("UNOBSERVED: could not observe: the read exited 1: sudo: a password is required")
    assert "(on platform from dockerd's /proc entries" in found


def test_root_needs_no_sudo(fake: FakeHost) -> None:
    """Unraid logs in as root and has no sudo: the script runs as is."""
    fake.sudo(password=True)
    assert verdict(fake, ROOT_HOST) == "pass"


@pytest.mark.parametrize("words", [
    ("-H", "tcp://0.0.0.0:2375"),
    ("-Htcp://0.0.0.0:2375",),
    ("--host=tcp://0.0.0.0:2375",),
    ("--host", "tcp://0.0.0.0:2375"),
    ("-H", "0.0.0.0:2375"),
    ("-H=tcp://0.0.0.0:2375",),
], ids=["-H-space", "-H-joined", "--host=", "--host-space", "no-scheme", "-H="])
def test_tcp_host_flag_fails(fake: FakeHost, words: tuple[str, ...]) -> None:
    """Every spelling of a TCP host on dockerd's command line is a finding."""
    fake.cmdline("/usr/bin/dockerd", "-H", "fd://", *words)
    found = verdict(fake)
    assert found.startswith("FAIL: expected dockerd on its unix socket only"), found
    assert "0.0.0.0:2375" in found


def test_daemon_json_tcp_host_fails(fake: FakeHost) -> None:
    """A tcp:// URL in daemon.json `hosts` is a finding."""
    fake.daemon_json.write_text(json.dumps({"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"]}))
    assert "found tcp://0.0.0.0:2376" in verdict(fake)


def test_daemon_json_without_tcp_passes(fake: FakeHost) -> None:
    fake.daemon_json.write_text(json.dumps({"hosts": ["unix:///var/run/docker.sock", "fd://"], "log-driver": "local"}))
    assert verdict(fake) == "pass"


@pytest.mark.parametrize(("table", "address", "shown"), [
    ("tcp", "00000000", "0.0.0.0:2375"),
    ("tcp6", "00000000000000000000000000000000", "[::]:2375"),
], ids=["ipv4", "ipv6"])
def test_listening_socket_held_by_dockerd_fails(fake: FakeHost, table: str, address: str, shown: str) -> None:
    """Behaviour, whatever the configuration says: a LISTEN socket whose inode is one of dockerd's fds fails."""
    rows = [_row(0, "00000000", 22, "0A", SSHD_INODE), _row(1, address, 2375, "0A", DOCKERD_INODE)]
    fake.tables(tcp=rows if table == "tcp" else rows[:1], tcp6=rows[1:] if table == "tcp6" else [])
    assert verdict(fake) == "pass"  # someone else's listener on 2375 is not dockerd's (the exposure specs see it)
    fake.holds(DOCKERD_INODE)
    found = verdict(fake)
    assert f"found a listening socket {shown}" in found, found


def test_published_port_socket_is_not_the_api(fake: FakeHost) -> None:
    """dockerd 27.3+ holds the listening socket of every port a container publishes: those are not the API; any
    other listener of dockerd's still fails, and so does one that `docker ps` cannot explain."""
    fake.tables(tcp=[_row(0, "00000000", 9443, "0A", DOCKERD_INODE), _row(1, "00000000", 2375, "0A", SSHD_INODE)],
                tcp6=[])
    fake.holds(DOCKERD_INODE)
    fake.publishes("0.0.0.0:9443->9443/tcp, [::]:9443->9443/tcp, 9000/tcp")
    assert verdict(fake) == "pass"
    fake.publishes("0.0.0.0:8000-8001->8000-8001/tcp")
    assert "found a listening socket 0.0.0.0:9443 (no container publishes 9443)" in verdict(fake)
    fake.publishes("", fails=True)
    found = verdict(fake)
    assert found.startswith("UNOBSERVED: could not observe: dockerd holds listening TCP sockets (0.0.0.0:9443) and "
                            "`docker ps` could not say which are published ports: Cannot connect"), found


def test_established_socket_is_not_a_listener(fake: FakeHost) -> None:
    """A connected socket of dockerd (state 01, to a registry say) is not a listener."""
    fake.tables(tcp=[_row(0, "0100007F", 40000, "01", DOCKERD_INODE)], tcp6=[])
    fake.holds(DOCKERD_INODE)
    assert verdict(fake) == "pass"


def test_no_dockerd_is_could_not_observe(fake: FakeHost) -> None:
    fake.tool("pgrep", "exit 1")
    assert "could not observe: the read exited 3: no dockerd process" in verdict(fake)


def test_empty_command_line_is_could_not_observe(fake: FakeHost) -> None:
    fake.cmdline()
    assert "could not observe: dockerd (pid 4242) has an empty command line" in verdict(fake)


def test_unreadable_daemon_json_is_could_not_observe(fake: FakeHost) -> None:
    fake.daemon_json.mkdir()  # `cat` fails on it, as it would on a file root cannot read
    assert "could not observe: the read exited 6: cat: " in verdict(fake)


def test_daemon_json_not_json_is_could_not_observe(fake: FakeHost) -> None:
    fake.daemon_json.write_text('{"hosts": ["tcp://0.0.0.0:2375"')
    assert "could not observe: /etc/docker/daemon.json is not a JSON object" in verdict(fake)


def test_a_descriptor_closed_while_listed_is_read_past(fake: FakeHost) -> None:
    """dockerd closes descriptors all the time: ls lists the rest and exits 1 ("minor problems", GNU ls) when one
    vanished between the listing and reading its link; the verdict stands on what was listed, a TCP socket too."""
    fake.holds(DOCKERD_INODE)
    fake.tables(tcp=[_row(0, "00000000", 2375, "0A", DOCKERD_INODE)], tcp6=[])
    fake.tool("ls", f"/bin/ls \"$@\"; echo \"ls: cannot access '{fake.proc}/fd/73': No such file or directory\" >&2;"
                    " exit 1")
    assert verdict(fake).startswith("FAIL: "), verdict(fake)
    assert "0.0.0.0:2375" in verdict(fake)


def test_a_descriptor_table_it_cannot_list_is_could_not_observe(fake: FakeHost) -> None:
    for entry in (fake.proc / "fd").iterdir():
        entry.unlink()
    (fake.proc / "fd").rmdir()
    (fake.proc / "fd").write_text("")  # ls exits 2 on it ("Not a directory"), as on a table it cannot read at all
    assert "could not observe: the read exited 4: ls: cannot access" in verdict(fake)


def test_missing_socket_table_is_could_not_observe(fake: FakeHost) -> None:
    (fake.proc / "net" / "tcp").write_text("")
    assert "could not observe: /proc/4242/net/tcp has no socket table" in verdict(fake)


def test_old_output_format_is_not_a_pass() -> None:
    """What the old `ps ... ; sudo -n cat ... || true` printed when sudo failed: no section, no verdict."""
    with pytest.raises(Unobserved):
        parse_daemon(CommandResult(0, "/usr/sbin/dockerd -H fd://\n---\n", ""))


def test_host_flags() -> None:
    """fd://, unix:// are local; tcp:// and a bare address are TCP; --host-gateway-ip is another flag."""
    line = ("dockerd -H fd:// -H unix:///run/docker.sock --host-gateway-ip=10.0.0.1 -Htcp://a:1 --host b:2 "
            "--host='tcp://c:3'")
    assert tcp_hosts(line) == ["tcp://a:1", "b:2", "tcp://c:3"]


def test_script_is_posix_sh(fake: FakeHost) -> None:
    """The script runs under `sh` (dash on Debian), as `sudo -n sh -c` runs it."""
    done = subprocess.run(["sh", "-n", "-c", DAEMON_SCRIPT], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert as_root("root", "true") == "sh -c true"
    assert as_root("admin", "true") == "sudo -n sh -c true"


# -- stat of the platform stack's .env (P1-STACK-005) ---------------------------------------------------------

def test_stat_read() -> None:
    """A mode is read; a missing file is None (the spec says so); sudo wanting a password is could not observe."""
    assert read_stat(CommandResult(0, "600 root root\n", "")) == (0o600, "root", "root")
    assert read_stat(CommandResult(1, "", "stat: cannot statx '/x/.env': No such file or directory\n")) is None
    with pytest.raises(Unobserved, match="a password is required"):
        read_stat(CommandResult(1, "", f"{PASSWORD}\n"))
    with pytest.raises(Unobserved, match="not `MODE OWNER GROUP`"):
        read_stat(CommandResult(0, "", ""))
    assert stat_command("/x/.env", "root") == "sh -c 'stat -c '\"'\"'%a %U %G'\"'\"' /x/.env'"


# -- gaming mode ----------------------------------------------------------------------------------------------

def _state(marker: str | None, running: tuple[tuple[str, str], ...] = (), status: int = 0) -> gaming.GamingState:
    if status:
        return gaming.parse(CommandResult(status, "", "permission denied while trying to connect to the Docker daemon"))
    if marker is None:
        return gaming.parse(CommandResult(0, "@@ no marker\n", ""))
    lines = "".join(f"{name}\t{project}\n" for name, project in running)
    return gaming.parse(CommandResult(0, f"@@ marker\n{marker}\n@@ running\n{lines}", ""))


def test_gaming_state() -> None:
    """Skip only when recorded and verifiably stopped; a record with the stack running is a conflict; the other
    containers of the worker (the Edge agent) do not count; a failed read is GamingUnknown."""
    off = _state(None)
    assert (off.on, off.skip_reason, off.conflict) == (False, None, None)
    stopped = _state("on since 2025-05-04 18:30 UTC by alice", (("portainer-edge-agent", "edge-agent"),))
    assert str(stopped.skip_reason).startswith("gaming mode (on since 2025-05-04")
    assert stopped.conflict is None
    running = _state("on since 2025-05-04 18:30 UTC by alice", (("ollama", "gpu-worker"),))
    assert running.skip_reason is None
    assert str(running.conflict).startswith("gaming mode recorded, but ollama is running")
    by_label = _state("", (("gpu-worker-ollama-1", "gpu-worker"),))
    assert (by_label.running, by_label.note) == (("gpu-worker-ollama-1",), "no note")
    with pytest.raises(gaming.GamingUnknown, match="exited 4"):
        _state("x", status=4)


def test_gaming_command_reads_marker_and_containers(tmp_path: Path) -> None:
    """The command, run by sh with a fake docker: no marker (docker not even asked), then a marker."""
    (tmp_path / "docker").write_text("#!/bin/sh\nprintf 'ollama\\tgpu-worker\\nnode-exporter\\texporters\\n'\n")
    (tmp_path / "docker").chmod(0o755)
    marker = tmp_path / "gaming-mode"
    command = gaming.COMMAND.replace(gaming.MARKER, str(marker))
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}

    def run(text: str) -> CommandResult:
        done = subprocess.run(["sh", "-c", text], capture_output=True, text=True, env=env, check=False)
        return CommandResult(done.returncode, done.stdout, done.stderr)

    assert gaming.read(lambda _: run(command)) == gaming.GamingState(None)
    marker.write_text("on since today by bob")  # no newline at the end, as a hand-made record may have
    assert gaming.read(lambda _: run(command)) == gaming.GamingState("on since today by bob", ("ollama",))
    (tmp_path / "docker").write_text("#!/bin/sh\necho 'permission denied' >&2; exit 1\n")
    with pytest.raises(gaming.GamingUnknown, match="permission denied"):
        gaming.read(lambda _: run(command))


FAKES = '''\
"""Fakes for the phase 3 specs: a GPU worker as world.json says (gaming record, running containers, what the
firewall lets through), seen through `access` (a FakeAccess under the plugin's `on`) and `reachability`."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from homelab.model.policy import may_connect
from homelab.transport.probes import Outcome
from homelab.transport.ssh import CommandResult
from selftests.fake_access import FakeAccess

PORTS = {11434: "ollama", 3000: "open-webui"}


def world():
    return json.loads(Path("world.json").read_text())


class Ssh:
    def run(self, host, command, timeout=None):
        state = world()
        if state.get("read_fails"):
            return CommandResult(1, "", "sudo: a password is required")
        if state["marker"] is None:
            return CommandResult(0, "@@ no marker\\n", "")
        rows = "".join(f"{name}\\tgpu-worker\\n" for name in state["running"])
        return CommandResult(0, f"@@ marker\\n{state['marker']}\\n@@ running\\n{rows}", "")


class Container:
    def __init__(self, name, running):
        self.name, self.status = name, "running" if running else "exited"
        self.attrs = {"State": {"Health": {"Status": "healthy" if running else "unhealthy"}},
                      "Config": {"Image": "x"}, "HostConfig": {}}


@pytest.fixture(scope="session")
def access():
    containers = SimpleNamespace(get=lambda name: Container(name, name in world()["running"]),
                                 list=lambda **_: [])
    return FakeAccess(ssh=Ssh(), engine=lambda host: SimpleNamespace(containers=containers))


class Probes:
    def __init__(self, inventory):
        self.inventory = inventory

    def outcome(self, source, host, port, reach):
        state = world()
        up = PORTS[port] in state["running"]
        admitted = source.kind in ("lan", "vpn") or source.name in state.get("open_to", [])
        return Outcome.OPEN if up and admitted else Outcome.CLOSED

    def verdict(self, source, host, port, outcome, allowed=None, what=""):
        allowed = may_connect(self.inventory, source, host, port) if allowed is None else allowed
        if outcome.answers == allowed:
            return None
        return f"{what} on {host.name} from {source.name}: expected {'it answers' if allowed else 'no answer'}; " \\
               f"found {outcome.value}"


@pytest.fixture(scope="session")
def reachability(inventory):
    return Probes(inventory)
'''


@pytest.fixture
def phase3(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """The real tests/phase3 (test_gpu_worker.py; its gaming fixtures come with the plugin) and the real inventory,
    over fakes of the worker."""
    shutil.copy(ROOT / "pyproject.toml", pytester.path / "pyproject.toml")
    shutil.copy(ROOT / "inventory.yaml", pytester.path / "inventory.yaml")
    (pytester.path / "tests" / "phase3").mkdir(parents=True)
    for name in ("test_gpu_worker.py",):
        shutil.copy(ROOT / "tests" / "phase3" / name, pytester.path / "tests" / "phase3" / name)
    # The benchmark's plain mode: no background sweep or SSH; the fakes answer.
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "scripts"))
    return pytester


def run_phase3(project: pytest.Pytester, world: dict[str, object]) -> dict[str, tuple[str, str]]:
    """nodeid (the part in brackets, prefixed by the test's name) -> (outcome, message) for the gaming-related
    specs of gaming-pc-1."""
    (project.path / "world.json").write_text(json.dumps(world))
    (project.path / "tests" / "conftest.py").write_text(FAKES)
    return run_for_outcomes(project, project.path / "conftest.py", "--inventory", "inventory.yaml",
                            "-k", "gaming-pc-1 and (gaming_mode_holds or gpu_stack_running or "
                            "ollama_lan_vpn_only or open_webui_lan_vpn_only)", "tests/phase3")


def test_gaming_mode_stopped_skips_gpu_specs_but_not_exposure(phase3: pytest.Pytester) -> None:
    """Gaming mode with the stack stopped: the GPU specs skip; the exposure specs run (from guest and WAN they
    pass, for nothing answers; from LAN and VPN, where Ollama must answer, they skip); P3-GAMING-001 passes."""
    found = run_phase3(phase3, {"marker": "on since 2025-05-04 18:30 UTC by alice", "running": []})
    assert found["test_gaming_mode_holds[gaming-pc-1]"][0] == "passed"
    assert found["test_gpu_stack_running[ollama@gaming-pc-1]"][0] == "skipped"
    assert "gaming mode (on since 2025-05-04" in found["test_gpu_stack_running[ollama@gaming-pc-1]"][1]
    for source in ("guest", "wan"):
        assert found[f"test_ollama_lan_vpn_only[gaming-pc-1<-{source}]"][0] == "passed", found
        assert found[f"test_open_webui_lan_vpn_only[gaming-pc-1<-{source}]"][0] == "passed", found
    for source in ("runner", "platform", "vpn-client"):
        outcome, reason = found[f"test_ollama_lan_vpn_only[gaming-pc-1<-{source}]"]
        assert (outcome, reason.removeprefix("Skipped: ").split(" (")[0]) == ("skipped", "gaming mode"), found
    assert not [k for k, (outcome, _) in found.items() if outcome == "failed"]


def test_gaming_mode_with_stack_running_fails(phase3: pytest.Pytester) -> None:
    """A gaming-mode record while Ollama runs fails P3-GAMING-001; nothing skips for gaming mode, and Ollama open
    to guests fails its exposure spec."""
    found = run_phase3(phase3, {"marker": "on since today by bob", "running": ["ollama"], "open_to": ["guest"]})
    outcome, message = found["test_gaming_mode_holds[gaming-pc-1]"]
    assert outcome == "failed"
    assert "gaming mode recorded, but ollama is running" in message
    assert found["test_gpu_stack_running[ollama@gaming-pc-1]"][0] == "passed"
    assert found["test_gpu_stack_running[open-webui@gaming-pc-1]"][0] == "failed"
    assert found["test_ollama_lan_vpn_only[gaming-pc-1<-guest]"][0] == "failed"
    assert found["test_ollama_lan_vpn_only[gaming-pc-1<-platform]"][0] == "passed"
    assert not [k for k, (outcome, _) in found.items() if outcome == "skipped" and "gaming mode" in _]


def test_gaming_state_unreadable_fails(phase3: pytest.Pytester) -> None:
    """A gaming state that cannot be read fails as could not observe: never a skip, never a pass."""
    found = run_phase3(phase3, {"marker": None, "running": [], "read_fails": True})
    for name in ("test_gaming_mode_holds[gaming-pc-1]", "test_gpu_stack_running[ollama@gaming-pc-1]"):
        outcome, message = found[name]
        assert outcome == "failed", found
        assert "could not observe: reading /opt/homelab/gaming-mode" in message
        assert "sudo: a password is required (on gaming-pc-1 from" in message


def test_not_in_gaming_mode_runs_everything(phase3: pytest.Pytester) -> None:
    found = run_phase3(phase3, {"marker": None, "running": ["ollama", "open-webui"]})
    assert {outcome for outcome, _ in found.values()} == {"passed"}, found
