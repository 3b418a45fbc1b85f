"""SSH on every host takes keys only: password and keyboard-interactive authentication are refused, and root logs in
only where the inventory logs in as root (Unraid), with a key.

Asked of the server itself: a fresh connection, its host key verified, sends the `none` method and reads the methods
sshd offers (what an attacker's client sees). The effective settings (`sshd -T`, as root) are the diagnosis.
"""

from __future__ import annotations

import pytest

from homelab.checks import could_not_observe, problem
from homelab.checks.sshd import EFFECTIVE, differences, effective, matches, offered_wrongly, root_login
from homelab.transport.ssh import SSHError, offered_auth

pytestmark = pytest.mark.hardening

SSH_FIX = ("re-run bootstrap for the host's phase: it writes /etc/ssh/sshd_config.d/00-homelab.conf (keys only) and "
           "reloads sshd; remove any earlier file or line that turns passwords back on")


def _settings(host, on):
    result = on(host).run(EFFECTIVE, root=True)
    try:
        return effective(result.stdout)
    except ValueError as exc:
        said = f": {result.stderr.strip()[:200]}" if result.stderr.strip() else ""
        why = f"{exc} (exit status {result.exit_status}{said})"
        pytest.fail(could_not_observe(why, host.name,
                                      f"`sshd -T` as root over SSH as {host.ssh.user}"), pytrace=False)


@pytest.mark.spec("HARD-SSH-001", severity="critical", fix=SSH_FIX)
@pytest.mark.each("host")
@pytest.mark.reads(EFFECTIVE, root=True)
def test_ssh_offers_keys_only(host, inventory, access, on):
    """A fresh SSH connection to the host is offered public-key authentication only: no password, no
    keyboard-interactive, and never a login without authentication."""
    on(host)  # the host-down policy, and the host key recorded where trust_on_first_use is on
    where = f"sshd on {host.name} ({host.address}:{host.ssh.port}), asked for user {host.ssh.user} from this machine"
    try:
        methods = offered_auth(host, inventory.settings, access.ssh.recorded)
    except SSHError as exc:
        pytest.fail(could_not_observe(str(exc), host.name, "a fresh SSH connection from this machine"), pytrace=False)
    wrong = offered_wrongly(methods)
    if wrong:
        why = "; ".join(differences(host, _settings(host, on))) or "sshd -T shows the planned settings"
        pytest.fail(problem(expected="publickey only", found=f"{', '.join(methods) or 'none'} offered ({why})",
                            where=where, fix=SSH_FIX),
                    pytrace=False)


@pytest.mark.spec("HARD-SSH-002", severity="high", fix=SSH_FIX)
@pytest.mark.each("host")
@pytest.mark.reads(EFFECTIVE, root=True)
def test_root_login_only_where_planned(host, on):
    """sshd permits root to log in only on a host whose inventory SSH user is root, and then with a key only."""
    on(host)
    have = _settings(host, on)["permitrootlogin"]
    want = root_login(host)
    assert matches(want, have), problem(expected=f"PermitRootLogin {want}", found=f"PermitRootLogin {have} (sshd -T)",
                       where=f"sshd on {host.name} ({host.address})", fix=SSH_FIX)
