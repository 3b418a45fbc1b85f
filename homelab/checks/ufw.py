"""The host firewall's own view (`ufw status verbose`), parsed just enough to say whether it admits a source.

The specs do not trust this view: published Docker ports bypass ufw (docs/architecture.md). They read it to explain a
probe that disagrees with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

# As root: ufw's own view of its state, defaults and rules, in English whatever the host's locale (ufw translates
# "Status: active" and the rest, which the parser reads).
UFW_STATUS = "LC_ALL=C ufw status verbose"

_DEFAULT = re.compile(r"^Default:\s*(\w+)\s*\(incoming\)", re.MULTILINE)
_RULE = re.compile(r"^(?P<to>.+?)\s{2,}(?P<action>ALLOW|DENY|REJECT|LIMIT)(?: (?:IN|FWD))?\s{2,}(?P<src>\S+.*)$")


@dataclass(frozen=True)
class Rule:
    port: int | None        # None: any port
    protocol: str | None    # None: tcp and udp
    action: str             # allow | deny | reject | limit
    source: IPv4Network | None  # None: anywhere

    def matches(self, port: int, protocol: str, source: IPv4Address | None) -> bool:
        return ((self.port is None or self.port == port) and (self.protocol in (None, protocol))
                and (self.source is None or (source is not None and source in self.source)))


@dataclass(frozen=True)
class UfwStatus:
    active: bool
    default_incoming: str | None
    rules: tuple[Rule, ...] = field(default=())

    def admits(self, port: int, protocol: str, source: IPv4Address | None) -> bool:
        """Whether ufw's INPUT rules let `source` reach `port` (first matching rule, else the default)."""
        if not self.active:
            return True
        for rule in self.rules:
            if rule.matches(port, protocol, source):
                return rule.action in ("allow", "limit")
        return self.default_incoming == "allow"


def _rule(line: str) -> Rule | None:
    match = _RULE.match(line.strip())
    if match is None or "(v6)" in line:
        return None
    to = match["to"].split()[-1]
    port: int | None = None
    protocol: str | None = None
    if to != "Anywhere":
        number, _, proto = to.partition("/")
        if not number.isdigit():
            return None  # application profiles and port ranges: not needed to explain a probe
        port, protocol = int(number), proto or None
    src = match["src"].split()[0]
    try:
        source = None if src == "Anywhere" else IPv4Network(src, strict=False)
    except ValueError:
        return None
    return Rule(port, protocol, match["action"].lower(), source)


class UfwUnreadable(Exception):
    """`ufw status verbose` printed no status (sudo refused, ufw missing): the firewall's state was not observed."""


def read_status(exit_status: int, stdout: str, stderr: str) -> UfwStatus:
    """The status from one run of `ufw status verbose` as root; UfwUnreadable when it printed none (an inactive
    ufw prints `Status: inactive` and exits 0: that is a status)."""
    if "Status:" not in stdout:
        said = (stderr.strip() or stdout.strip())[:200] or "no output"
        raise UfwUnreadable(f"`ufw status verbose` as root printed no status (exit status {exit_status}: {said})")
    return parse_status(stdout)


def parse_status(text: str) -> UfwStatus:
    """Parse `ufw status verbose`."""
    active = "Status: active" in text
    default = _DEFAULT.search(text)
    rules = tuple(r for r in map(_rule, text.splitlines()) if r is not None)
    return UfwStatus(active, default[1].lower() if default else None, rules)


def expect_default_deny(read: Callable[[], UfwStatus], host: Any) -> None:
    """Fail the spec when ufw on `host` is not active with default deny (incoming); fail as could-not-observe when
    `read` (the run's `reachability.ufw(host)`) could not read its status."""
    __tracebackhide__ = True
    import pytest

    from homelab.checks import could_not_observe

    try:
        status = read()
    except UfwUnreadable as exc:
        pytest.fail(could_not_observe(str(exc), host.name, f"SSH as {host.ssh.user}"), pytrace=False)
    found = default_deny_problem(status, host.name)
    assert found is None, found


def default_deny_problem(status: UfwStatus, host_name: str) -> str | None:
    """None when ufw is active with default deny (incoming); else the spec's failure message."""
    from homelab.checks import problem

    if status.active and status.default_incoming == "deny":
        return None
    return problem(
        expected="ufw active, default deny (incoming)",
        found=f"{'active' if status.active else 'inactive'}, default {status.default_incoming or 'unknown'} (incoming)",
        where=f"{host_name}: sudo ufw status verbose", fix="sudo ufw default deny incoming && sudo ufw enable")
