"""SSH hardening: what sshd must offer and allow on each host, asked of the server, with its effective settings
(`sshd -T`) as the diagnosis.

Keys only: password and keyboard-interactive authentication are refused on every host. Root logs in only on a
host whose inventory SSH user is root (Unraid), and then with a key only (`prohibit-password`).
"""

from __future__ import annotations

from homelab.model.inventory import Host

DROP_IN = "/etc/ssh/sshd_config.d/00-homelab.conf"  # sshd keeps the first value it reads: this file is read first
# `sshd -T` as root: the settings sshd would run with, every keyword in lower case ("passwordauthentication no")
EFFECTIVE = "sshd -T -C user=root,host=homelab-check,addr=127.0.0.1 2>&1"
# sshd -T prints prohibit-password by its older name on some releases
ROOT_KEY_ONLY = ("prohibit-password", "without-password")


def root_login(host: Host) -> str:
    """The PermitRootLogin the inventory implies: key-only where the SSH user is root, else no."""
    return "prohibit-password" if host.ssh.user == "root" else "no"


def planned(host: Host) -> dict[str, str]:
    """The sshd settings bootstrap writes on `host` (lower-case keywords, as `sshd -T` prints them)."""
    return {"passwordauthentication": "no", "kbdinteractiveauthentication": "no", "permitrootlogin": root_login(host)}


def drop_in(host: Host) -> str:
    names = {"passwordauthentication": "PasswordAuthentication", "kbdinteractiveauthentication":
             "KbdInteractiveAuthentication", "permitrootlogin": "PermitRootLogin"}
    lines = [f"{names[key]} {value}" for key, value in planned(host).items()]
    return ("# Written by the homelab's bootstrap (homelab/checks/sshd.py): keys only; root only where the inventory\n"
            "# logs in as root. sshd keeps the first value it reads, and this file is read before any other.\n"
            + "\n".join(lines) + "\n")


def effective(output: str) -> dict[str, str]:
    """`sshd -T`'s output as keyword -> value; ValueError when it is not sshd's settings (sshd missing, an error)."""
    found = {}
    for line in output.splitlines():
        key, _, value = line.strip().partition(" ")
        if key.isalpha() and key.islower() and value:
            found[key] = value.strip()
    if "permitrootlogin" not in found or "passwordauthentication" not in found:
        raise ValueError(f"`sshd -T` did not print sshd's settings: {output.strip()[:200] or 'no output'}")
    return found


def differences(host: Host, settings: dict[str, str]) -> list[str]:
    """Each planned setting that `sshd -T` shows otherwise, as `keyword found (want planned)`."""
    return [f"{key} {settings.get(key, '?')} (want {want})" for key, want in planned(host).items()
            if not matches(want, settings.get(key, "?"))]


def matches(want: str, have: str) -> bool:
    """Whether `sshd -T`'s value `have` is the planned `want` (prohibit-password under either of its names)."""
    return have in ROOT_KEY_ONLY if want == "prohibit-password" else have == want


def offered_wrongly(methods: list[str]) -> list[str]:
    """What a server's answer to the `none` method offers beyond keys; ["none"] when it asked for nothing."""
    if not methods:
        return ["none (the server let the user in without authentication)"]
    return [method for method in methods if method != "publickey"]
