"""The host firewall's own view (`ufw status verbose`), parsed just enough to say whether it admits a source.

The specs do not trust this view: published Docker ports bypass ufw (docs/architecture.md). They read it to explain a
probe that disagrees with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

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


def parse_status(text: str) -> UfwStatus:
    """Parse `ufw status verbose`; an inactive or missing ufw reads as inactive."""
    active = "Status: active" in text
    default = _DEFAULT.search(text)
    rules = tuple(r for r in map(_rule, text.splitlines()) if r is not None)
    return UfwStatus(active, default[1].lower() if default else None, rules)


def default_deny_problem(status: UfwStatus, host_name: str) -> str | None:
    """None when ufw is active with default deny (incoming); else the spec's failure message."""
    from homelab.checks import problem

    if status.active and status.default_incoming == "deny":
        return None
    return problem(
        expected="ufw active, default deny (incoming)",
        found=f"{'active' if status.active else 'inactive'}, default {status.default_incoming or 'unknown'} (incoming)",
        where=f"{host_name}: sudo ufw status verbose", fix="sudo ufw default deny incoming && sudo ufw enable")
