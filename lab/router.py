"""The router's ruleset (iptables-restore format), generated from the inventory's public ports."""

from __future__ import annotations

from lab.topology import INTERNAL, NETWORKS, PUBLIC_ADDRESS


def ruleset(forwards: list[tuple[str, int, str]]) -> str:
    """Forward freely between LAN, VPN and guest (a home router has no ACLs there); from WAN, only DNAT-ed ports."""
    internal = [NETWORKS[n].cidr for n in INTERNAL]
    wan, guest = NETWORKS["wan"].cidr, NETWORKS["guest"].cidr
    nat = [f"-A PREROUTING -d {PUBLIC_ADDRESS}/32 -p {proto} --dport {port} -j DNAT --to-destination {addr}:{port}"
           for proto, port, addr in forwards]
    forward = [f"-A FORWARD -s {src} -d {dst} -j ACCEPT" for src in internal for dst in internal if src != dst]
    forward += [f"-A FORWARD -s {wan} -d {addr}/32 -p {proto} --dport {port} -m conntrack --ctstate DNAT -j ACCEPT"
                for proto, port, addr in forwards]
    return "\n".join([
        "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]", *nat, "COMMIT",
        "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD DROP [0:0]", ":OUTPUT ACCEPT [0:0]",
        "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        f"-A INPUT -s {wan} -j DROP",  # the router itself answers nothing from the internet ...
        f"-A INPUT -s {guest} -j DROP",  # ... nor from the guest network: its SSH (management) is for LAN and VPN
        "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        *forward, "COMMIT", "",
    ])
