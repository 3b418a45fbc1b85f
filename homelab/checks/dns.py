"""DNS through Technitium: names resolve to the inventory's addresses, and recursion is for LAN and VPN only.

An open resolver is tested from where abuse comes from: a tiny stdlib-only python3 script is shipped over SSH
to the guest and WAN vantages; it sends one recursive query (RD set) for a name outside every zone and
prints the answer's RCODE and RA flag. Technitium's own recursion settings are read through its API too, so
a permissive setting is found even while the firewall hides it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

from homelab.clients import connect
from homelab.model.inventory import Host, Inventory
from homelab.model.secrets import Secrets

OUT_OF_ZONE = "recursion-probe.example.org"
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

# argv: server port name timeout. Prints "RCODE RA" (numbers) or "timeout".
QUERY_SCRIPT = r"""
import os, socket, struct, sys
server, port, name, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
qid = int.from_bytes(os.urandom(2), "big")
question = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".")) + b"\0"
packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(timeout)
try:
    s.sendto(packet, (server, port))
    while True:
        data, _ = s.recvfrom(4096)
        if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
            break
except OSError:
    print("timeout")
    sys.exit(0)
flags = struct.unpack(">H", data[2:4])[0]
print(flags & 0xF, (flags >> 7) & 1)
"""


@dataclass(frozen=True)
class Answer:
    rcode: int | None  # None: no answer
    ra: bool = False

    @property
    def recursion_offered(self) -> bool:
        """An open resolver answers RD queries with RA set (and does not refuse)."""
        return self.rcode is not None and self.ra and self.rcode != 5

    def __str__(self) -> str:
        if self.rcode is None:
            return "no answer"
        return f"{RCODES.get(self.rcode, self.rcode)} with RA {'set' if self.ra else 'clear'}"


def query_command(server: str, name: str = OUT_OF_ZONE, timeout: float = 2.0, port: int = 53) -> str:
    return f"python3 -c {shlex.quote(QUERY_SCRIPT)} {shlex.quote(server)} {port} {shlex.quote(name)} {timeout:g}"


def parse_answer(text: str) -> Answer:
    """The query script's output: `RCODE RA`, or `timeout` (no answer). Anything else (nothing at all,
    `python3: not found`, a traceback) raises ValueError: the query could not be made, which is no verdict."""
    parts = text.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return Answer(int(parts[0]), parts[1] == "1")
    if parts == ["timeout"]:
        return Answer(None)
    raise ValueError(f"the DNS query printed {text.strip()[:200]!r}, not an answer or `timeout`")


def trusted_networks(inventory: Inventory) -> list[IPv4Network]:
    """Where recursion may be offered: the LAN and VPN networks."""
    return [n.cidr for n in inventory.networks.values() if n.kind in ("lan", "vpn")]


def acl_problem(settings: dict[str, Any], inventory: Inventory) -> str | None:
    """None when Technitium's recursion settings admit only LAN and VPN; else what is wrong."""
    mode = str(settings.get("recursion"))
    if mode == "Deny":
        return None
    if mode != "UseSpecifiedNetworkACL":
        return f"recursion is {mode!r}"
    trusted = trusted_networks(inventory)
    acl = settings.get("recursionNetworkACL") or []
    entries = acl.split(",") if isinstance(acl, str) else [str(e) for e in acl]
    for entry in (e.strip() for e in entries if e.strip()):
        if entry.startswith("!"):
            continue
        try:
            net = IPv4Network(entry, strict=False)
        except ValueError:
            return f"recursion ACL entry {entry!r} is not an IPv4 network"
        if not any(net.subnet_of(t) for t in trusted):
            return f"recursion ACL admits {entry}, outside LAN and VPN"
    return None


def technitium_settings(inventory: Inventory, secrets: Secrets, host: Host) -> dict[str, Any]:
    """Technitium's settings on `host` through its API, logged in as admin for this one read."""
    with connect.technitium(inventory, secrets, host=host) as technitium:
        try:
            return technitium.settings()
        finally:
            technitium.call("/api/user/logout")


class DnsUnobserved(Exception):
    """No DNS answer came back at all (a timeout): the server was never seen to answer, so nothing is known of
    its records."""


def resolve_a(resolver: Any, name: str) -> list[str] | str:
    """The A records of `name` through `resolver` (a dnspython Resolver at Technitium), or the server's answer that
    has none as text (NXDOMAIN, no A record, SERVFAIL/REFUSED). DnsUnobserved when no answer came back."""
    import dns.exception
    import dns.resolver

    try:
        return sorted(r.address for r in resolver.resolve(name, "A", search=False))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers) as exc:
        return f"no A record ({type(exc).__name__})"
    except dns.exception.Timeout:
        raise DnsUnobserved(f"no answer from {', '.join(resolver.nameservers)} for {name} A within "
                            f"{resolver.lifetime:g} s") from None


def a_records(resolver: Any, name: str) -> list[str] | str:
    """`resolve_a` for a spec: no answer at all fails it as could not observe, naming the fix."""
    import pytest

    from homelab.checks import could_not_observe

    try:
        return resolve_a(resolver, name)
    except DnsUnobserved as exc:
        pytest.fail(f"{could_not_observe(str(exc), ', '.join(resolver.nameservers), 'this machine')}; fix: make "
                    "Technitium answer on 53/udp (is its container running? does the host's firewall admit this "
                    "network? P1-NET-* and the exposure specs say more)", pytrace=False)
