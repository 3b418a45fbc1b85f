"""The lab router's own ruleset: it forwards what the inventory makes public, and itself answers nothing from the
internet or the guest network (its SSH, which EXP-ROUTER-001 reads forwards through, is for LAN and VPN)."""

from __future__ import annotations

from lab.router import ruleset
from lab.topology import NETWORKS


def test_router_answers_neither_internet_nor_guests() -> None:
    rules = ruleset([]).splitlines()
    for network in ("wan", "guest"):
        assert f"-A INPUT -s {NETWORKS[network].cidr} -j DROP" in rules
    assert not any(f"-s {NETWORKS[network].cidr} -j DROP" in rule and "INPUT" in rule
                   for network in ("lan", "vpn") for rule in rules)
