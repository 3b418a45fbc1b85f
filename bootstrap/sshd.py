"""SSH hardening on a host (homelab.checks.sshd): keys only, root only where the inventory logs in as root.

Done when the server, asked by a fresh connection, offers public-key authentication only and `sshd -T` shows the
planned settings. Applied as a drop-in read before any other sshd file, validated with `sshd -t`, then sshd is
reloaded (open sessions stay) and a fresh login is tried; if that fails, the drop-in is taken back.
"""

from __future__ import annotations

import shlex
import time

from bootstrap.remote import Remote, put_text
from bootstrap.steps import Step, StepFailed
from homelab.checks import sshd
from homelab.transport.ssh import HostUnreachable, SSHError, connect, offered_auth

RELOAD = ("systemctl reload ssh 2>/dev/null || systemctl reload sshd 2>/dev/null || /etc/rc.d/rc.sshd reload "
          "2>/dev/null || kill -HUP \"$(cat /run/sshd.pid 2>/dev/null || cat /var/run/sshd.pid)\"")


def _differences(remote: Remote) -> list[str]:
    try:
        offered = sshd.offered_wrongly(offered_auth(remote.host, remote.inventory.settings, remote.pool.recorded))
    except SSHError as exc:
        raise StepFailed(f"cannot ask sshd which methods it offers: {exc}") from None
    try:
        settings = sshd.effective(remote.run(sshd.EFFECTIVE, what="sshd -T"))
    except ValueError as exc:
        raise StepFailed(str(exc)) from None
    return [*(f"offers {method}" for method in offered), *sshd.differences(remote.host, settings)]


def _includes_drop_ins(remote: Remote) -> bool:
    return remote.try_run("grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config.d/' "
                          "/etc/ssh/sshd_config").ok


def _fresh_login(remote: Remote) -> str | None:
    """Why a fresh login, verified as every connection is, fails; None when it works. sshd re-executes itself on
    a reload and refuses connections for that moment: a refused connect is tried again for a few seconds."""
    deadline = time.monotonic() + 5
    while True:
        try:
            connect(remote.host, remote.inventory.settings, remote.pool.recorded).close()
            return None
        except HostUnreachable as exc:
            if time.monotonic() > deadline:
                return str(exc)
            time.sleep(0.2)
        except SSHError as exc:
            return str(exc)


def _apply(remote: Remote) -> None:
    host = remote.host
    if not _includes_drop_ins(remote):
        raise StepFailed(f"/etc/ssh/sshd_config on {host.name} does not include /etc/ssh/sshd_config.d/*.conf; add "
                         "`Include /etc/ssh/sshd_config.d/*.conf` as its first line, then run again")
    before = remote.try_run(f"cat {sshd.DROP_IN}")
    put_text(remote, sshd.DROP_IN, sshd.drop_in(host))
    restore = (f"printf %s {shlex.quote(before.stdout)} > {sshd.DROP_IN}" if before.ok else f"rm -f {sshd.DROP_IN}")
    if not remote.try_run("sshd -t").ok:
        remote.try_run(restore)
        raise StepFailed(f"`sshd -t` refuses the configuration with {sshd.DROP_IN}; it was taken back: run "
                         "`sshd -t` on the host to see why")
    remote.run(RELOAD, what="reloading sshd")
    problem = _fresh_login(remote)
    if problem is not None:  # never lock ourselves out: take the drop-in back
        remote.try_run(f"{restore}; {RELOAD}")
        raise StepFailed(f"after reloading sshd a fresh login failed ({problem}); the drop-in was taken back")
    left = _differences(remote)
    if left:
        raise StepFailed(f"{sshd.DROP_IN} is in place, but sshd still shows {'; '.join(left)}: an earlier "
                         "Include or Match block sets them; see `sshd -T` and /etc/ssh/sshd_config")


def steps(remote: Remote) -> list[Step]:
    return [Step("sshd: keys only, root only where the inventory logs in as root", remote.host.name,
                 lambda: not _differences(remote), lambda: _apply(remote))]
