"""SSH hardening without a lab: the sshd plan (homelab/checks/sshd.py) and the specs HARD-SSH-001 and HARD-SSH-002
(tests/hardening/test_ssh.py, imported from its file) called with fakes.

`sshd -T` is read through the real command line (`as_root` + EFFECTIVE) run by `sh` on this machine, with a fake
`sudo` and a fake `sshd` first on PATH: a sudo that wants a password, or an sshd that prints nothing, is "could not
observe", never a pass; the server's answer to the `none` method (offered_auth, patched in the module) is the
verdict of HARD-SSH-001.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fake_access import fake_on
from spec_project import spec_module

from homelab.checks import sshd
from homelab.model.inventory import Host, Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.transport.ssh import CommandResult, HostUnreachable, SSHError

ROOT = REPO


SPECS = spec_module("tests/hardening/test_ssh.py")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(ROOT / "inventory.yaml")


@pytest.fixture
def admin_host(inventory: Inventory) -> Host:
    host = inventory.hosts["platform"]
    assert host.ssh.user == "admin"
    return host


@pytest.fixture
def root_host(inventory: Inventory) -> Host:
    host = inventory.hosts["unraid"]
    assert host.ssh.user == "root"
    return host


def sshd_t(permitrootlogin: str = "no", passwords: str = "no", kbd: str = "no") -> str:
    """What OpenSSH 9.x's `sshd -T` prints (abridged, in its order), with the three settings the plan is about."""
    return f"""port 22
addressfamily any
listenaddress [::]:22
listenaddress 0.0.0.0:22
usepam yes
logingracetime 120
x11displayoffset 10
maxauthtries 6
maxsessions 10
clientaliveinterval 0
clientalivecountmax 3
streamlocalbindmask 0177
permitrootlogin {permitrootlogin}
ignorerhosts yes
ignoreuserknownhosts no
hostbasedauthentication no
hostbasedusesnamefrompacketonly no
pubkeyauthentication yes
kerberosauthentication no
gssapiauthentication no
passwordauthentication {passwords}
kbdinteractiveauthentication {kbd}
printmotd no
x11forwarding no
subsystem sftp /usr/lib/openssh/sftp-server
authorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2
hostkeyalgorithms ssh-ed25519-cert-v01@openssh.com,ssh-ed25519,rsa-sha2-512
authenticationmethods any
"""


# --- homelab/checks/sshd.py ---------------------------------------------------------------------------------------


def test_the_plan_lets_root_in_with_a_key_only_where_the_inventory_logs_in_as_root(
        admin_host: Host, root_host: Host) -> None:
    base = {"passwordauthentication": "no", "kbdinteractiveauthentication": "no"}
    assert sshd.planned(admin_host) == {**base, "permitrootlogin": "no"}
    assert sshd.planned(root_host) == {**base, "permitrootlogin": "prohibit-password"}


def test_the_drop_in_writes_the_plan_in_sshd_config_syntax(admin_host: Host, root_host: Host) -> None:
    """Every planned setting is one `Keyword value` line (sshd_config's own spelling), the rest comments; sshd -T
    showing what the drop-in says is no difference."""
    for host in (admin_host, root_host):
        text = sshd.drop_in(host)
        assert text.endswith("\n")
        settings = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert sorted(settings) == sorted([
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            f"PermitRootLogin {sshd.root_login(host)}"])
        as_sshd_prints = "\n".join(line.lower() for line in settings)
        assert sshd.differences(host, sshd.effective(as_sshd_prints)) == []
    assert "PermitRootLogin prohibit-password" in sshd.drop_in(root_host)
    assert "PermitRootLogin no" in sshd.drop_in(admin_host)


def test_effective_reads_sshd_t_output() -> None:
    found = sshd.effective(sshd_t(permitrootlogin="without-password", passwords="yes"))
    assert found["permitrootlogin"] == "without-password"
    assert found["passwordauthentication"] == "yes"
    assert found["kbdinteractiveauthentication"] == "no"
    assert found["subsystem"] == "sftp /usr/lib/openssh/sftp-server"  # values with spaces are kept whole
    # CRLF (a pty) and leading blanks change nothing
    assert sshd.effective(sshd_t().replace("\n", "\r\n"))["passwordauthentication"] == "no"


@pytest.mark.parametrize("output", [
    "",
    "\n\n",
    "sudo: a password is required\n",
    "sh: 1: sshd: not found\n",
    "/etc/ssh/sshd_config.d/00-homelab.conf line 2: Bad configuration option: KbdInteractiveAuthentication\n"
    "/etc/ssh/sshd_config.d/00-homelab.conf: terminating, 1 bad configuration options\n",
    "PermitRootLogin no\nPasswordAuthentication no\n",  # a config file read back, not sshd -T
    "permitrootlogin no\n",  # cut short: no passwordauthentication
    "passwordauthentication no\nkbdinteractiveauthentication no\n",  # no permitrootlogin
    "permitrootlogin\npasswordauthentication\n",  # keywords without values
])
def test_effective_refuses_what_is_not_sshd_settings(output: str) -> None:
    with pytest.raises(ValueError, match="did not print sshd's settings") as caught:
        sshd.effective(output)
    if not output.strip():
        assert "no output" in str(caught.value)
    else:
        assert output.strip()[:40] in str(caught.value)  # the operator sees what came back


@pytest.mark.parametrize("have", ["prohibit-password", "without-password"])
def test_root_by_key_under_either_name_is_the_plan_where_root_is_planned(root_host: Host, have: str) -> None:
    assert sshd.differences(root_host, sshd.effective(sshd_t(permitrootlogin=have))) == []


@pytest.mark.parametrize("have", ["yes", "no", "forced-commands-only"])
def test_any_other_root_setting_differs_where_root_is_planned(root_host: Host, have: str) -> None:
    assert sshd.differences(root_host, sshd.effective(sshd_t(permitrootlogin=have))) == [
        f"permitrootlogin {have} (want prohibit-password)"]


@pytest.mark.parametrize("have", ["prohibit-password", "without-password", "yes"])
def test_root_by_key_differs_where_root_is_not_planned(admin_host: Host, have: str) -> None:
    assert sshd.differences(admin_host, sshd.effective(sshd_t(permitrootlogin=have))) == [
        f"permitrootlogin {have} (want no)"]


def test_differences_name_each_setting_and_a_missing_one(admin_host: Host) -> None:
    settings = sshd.effective(sshd_t(passwords="yes", kbd="yes"))
    assert sshd.differences(admin_host, settings) == [
        "passwordauthentication yes (want no)", "kbdinteractiveauthentication yes (want no)"]
    del settings["kbdinteractiveauthentication"]  # an sshd too old to print it
    assert sshd.differences(admin_host, settings) == [
        "passwordauthentication yes (want no)", "kbdinteractiveauthentication ? (want no)"]


@pytest.mark.parametrize(("methods", "wrong"), [
    (["publickey"], []),
    (["password", "publickey"], ["password"]),
    (["keyboard-interactive", "publickey"], ["keyboard-interactive"]),
    (["keyboard-interactive", "password"], ["keyboard-interactive", "password"]),
    (["gssapi-with-mic", "publickey"], ["gssapi-with-mic"]),
])
def test_offered_wrongly_is_everything_beyond_publickey(methods: list[str], wrong: list[str]) -> None:
    assert sshd.offered_wrongly(methods) == wrong


def test_no_method_at_all_means_no_authentication_was_required() -> None:
    wrong = sshd.offered_wrongly([])
    assert len(wrong) == 1
    assert wrong[0].startswith("none")
    assert "without authentication" in wrong[0]


# --- the specs, with a fake pool that runs the real command line under sh -------------------------------------------


class ShellPool:
    """`access.ssh` for the specs: each command runs under `sh -c` here, with fake `sudo` and `sshd` first on PATH.

    `sudo -n` refuses (as with no NOPASSWD rule) while `refuse_sudo` is set; `sshd -T` prints `sshd_output` and
    exits `sshd_status`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.recorded = root / "known_hosts"
        self.commands: list[str] = []
        self.bin = root / "bin"
        self.bin.mkdir()
        self._tool("sudo", '[ "$1" = -n ] || { echo "sudo: would wait for a password" >&2; exit 2; }\n'
                           '[ -e "$FAKE/refuse-sudo" ] && { echo "sudo: a password is required" >&2; exit 1; }\n'
                           'shift; exec "$@"')
        self._tool("sshd", '[ "$1" = -T ] || { echo "sshd: expected -T" >&2; exit 9; }\n'
                           'cat "$FAKE/sshd-output" 2>/dev/null\n'
                           'exit "$(cat "$FAKE/sshd-status" 2>/dev/null || echo 0)"')
        self.sshd_prints("")

    def _tool(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    def sshd_prints(self, output: str, status: int = 0) -> None:
        (self.root / "sshd-output").write_text(output)
        (self.root / "sshd-status").write_text(str(status))

    def refuse_sudo(self) -> None:
        (self.root / "refuse-sudo").touch()

    def run(self, target: Any, command: str, timeout: float | None = None) -> CommandResult:
        self.commands.append(command)
        env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}", "FAKE": str(self.root)}
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env, timeout=10,
                              check=False)
        return CommandResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def pool(tmp_path: Path) -> ShellPool:
    return ShellPool(tmp_path)


def _access(pool: ShellPool) -> SimpleNamespace:
    return SimpleNamespace(ssh=pool)


def _offering(monkeypatch: pytest.MonkeyPatch, answer: list[str] | SSHError) -> list[tuple[Any, ...]]:
    """Patch offered_auth in the spec module to answer `answer` (or raise it); the calls come back."""
    calls: list[tuple[Any, ...]] = []

    def fake(target: Any, settings: Any, recorded: Path | None = None) -> list[str]:
        calls.append((target, settings, recorded))
        if isinstance(answer, SSHError):
            raise answer
        return list(answer)

    monkeypatch.setattr(SPECS, "offered_auth", fake)
    return calls


def _failure(run: Any) -> str:
    with pytest.raises(pytest.fail.Exception) as caught:
        run()
    return str(caught.value)


@pytest.mark.parametrize("error", [
    SSHError("platform: no host key is known to verify the server with; record `ssh.host_key`"),
    HostUnreachable("platform (admin@198.51.100.10:22): cannot connect: Connection refused"),
])
def test_ssh_001_could_not_observe_when_it_cannot_ask(
        monkeypatch: pytest.MonkeyPatch, pool: ShellPool, inventory: Inventory, admin_host: Host,
        error: SSHError) -> None:
    _offering(monkeypatch, error)
    message = _failure(lambda: SPECS.test_ssh_offers_keys_only(admin_host, inventory, _access(pool), fake_on(ssh=pool)))
    assert message.startswith("could not observe: ")
    assert str(error) in message
    assert "(on platform from a fresh SSH connection from this machine)" in message
    assert pool.commands == []


def test_ssh_001_passes_on_publickey_only_and_asks_with_the_pools_record(
        monkeypatch: pytest.MonkeyPatch, pool: ShellPool, inventory: Inventory, admin_host: Host) -> None:
    calls = _offering(monkeypatch, ["publickey"])
    assert SPECS.test_ssh_offers_keys_only(admin_host, inventory, _access(pool), fake_on(ssh=pool)) is None
    assert calls == [(admin_host, inventory.settings, pool.recorded)]  # trust_on_first_use's keys count too
    assert pool.commands == []  # nothing wrong: no diagnosis needed


@pytest.mark.parametrize(("methods", "named"), [
    (["password", "publickey"], "password, publickey offered"),
    (["keyboard-interactive", "publickey"], "keyboard-interactive, publickey offered"),
    ([], "found none offered"),
])
def test_ssh_001_fails_naming_what_is_offered_with_sshd_t_as_the_diagnosis(
        monkeypatch: pytest.MonkeyPatch, pool: ShellPool, inventory: Inventory, admin_host: Host,
        methods: list[str], named: str) -> None:
    _offering(monkeypatch, methods)
    pool.sshd_prints(sshd_t(passwords="yes", kbd="yes"))
    message = _failure(lambda: SPECS.test_ssh_offers_keys_only(admin_host, inventory, _access(pool), fake_on(ssh=pool)))
    assert message.startswith("expected publickey only; found ")
    assert named in message
    assert "passwordauthentication yes (want no); kbdinteractiveauthentication yes (want no)" in message
    assert "asked for user admin" in message
    assert pool.commands == [f"sudo -n sh -c '{sshd.EFFECTIVE}'"]


def test_ssh_001_says_when_sshd_t_shows_the_plan_but_the_server_offers_passwords(
        monkeypatch: pytest.MonkeyPatch, pool: ShellPool, inventory: Inventory, admin_host: Host) -> None:
    """A Match block, or another sshd on the port: the settings look right, the behaviour is still a failure."""
    _offering(monkeypatch, ["password", "publickey"])
    pool.sshd_prints(sshd_t())
    message = _failure(lambda: SPECS.test_ssh_offers_keys_only(admin_host, inventory, _access(pool), fake_on(ssh=pool)))
    assert message.startswith("expected publickey only; found password, publickey offered (sshd -T shows the "
                              "planned settings)")


def test_ssh_001_cannot_pass_when_password_is_offered_and_sshd_t_is_unreadable(
        monkeypatch: pytest.MonkeyPatch, pool: ShellPool, inventory: Inventory, admin_host: Host) -> None:
    """The diagnosis cannot be read: the spec still fails (today as "could not observe", the finding unnamed)."""
    _offering(monkeypatch, ["password", "publickey"])
    pool.refuse_sudo()
    message = _failure(lambda: SPECS.test_ssh_offers_keys_only(admin_host, inventory, _access(pool), fake_on(ssh=pool)))
    assert message.startswith(("could not observe: ", "expected publickey only; found password, publickey offered"))


def test_ssh_002_could_not_observe_when_sudo_wants_a_password(
        pool: ShellPool, admin_host: Host) -> None:
    pool.sshd_prints(sshd_t(permitrootlogin="yes"))  # sshd would say yes: sudo never lets it be read
    pool.refuse_sudo()
    message = _failure(lambda: SPECS.test_root_login_only_where_planned(admin_host, fake_on(ssh=pool)))
    assert message.startswith("could not observe: `sshd -T` did not print sshd's settings: no output "
                              "(exit status 1: sudo: a password is required) (on platform from `sshd -T` as root "
                              "over SSH as admin)")


@pytest.mark.parametrize(("output", "status"), [
    ("", 0),
    ("", 255),
    ("/etc/ssh/sshd_config line 3: Bad configuration option: PermitRootLogn\n", 255),
])
def test_ssh_002_could_not_observe_when_sshd_t_prints_no_settings(
        pool: ShellPool, admin_host: Host, output: str, status: int) -> None:
    pool.sshd_prints(output, status)
    message = _failure(lambda: SPECS.test_root_login_only_where_planned(admin_host, fake_on(ssh=pool)))
    assert message.startswith("could not observe: `sshd -T` did not print sshd's settings: ")
    assert f"(exit status {status})" in message
    if output:
        assert "Bad configuration option" in message  # sshd's stderr came along (2>&1)


@pytest.mark.parametrize("have", ["prohibit-password", "without-password"])
def test_ssh_002_passes_root_by_key_on_the_root_host_without_sudo(
        pool: ShellPool, root_host: Host, have: str) -> None:
    pool.sshd_prints(sshd_t(permitrootlogin=have))
    pool.refuse_sudo()  # Unraid has no sudo: root reads sshd -T directly
    assert SPECS.test_root_login_only_where_planned(root_host, fake_on(ssh=pool)) is None
    assert pool.commands == [f"sh -c '{sshd.EFFECTIVE}'"]


def test_ssh_002_passes_no_root_on_an_admin_host(pool: ShellPool, admin_host: Host) -> None:
    pool.sshd_prints(sshd_t(permitrootlogin="no"))
    assert SPECS.test_root_login_only_where_planned(admin_host, fake_on(ssh=pool)) is None


@pytest.mark.parametrize(("host_name", "have", "want"), [
    ("platform", "prohibit-password", "no"),
    ("platform", "yes", "no"),
    ("unraid", "yes", "prohibit-password"),
    ("unraid", "no", "prohibit-password"),  # the inventory's own SSH user could not log in
])
def test_ssh_002_fails_on_root_beyond_the_plan(
        pool: ShellPool, inventory: Inventory, host_name: str, have: str, want: str) -> None:
    host = inventory.hosts[host_name]
    pool.sshd_prints(sshd_t(permitrootlogin=have))
    with pytest.raises(AssertionError) as caught:
        SPECS.test_root_login_only_where_planned(host, fake_on(ssh=pool))
    assert str(caught.value).startswith(f"expected PermitRootLogin {want}; found PermitRootLogin {have} (sshd -T)")
