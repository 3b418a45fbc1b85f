"""The phase specs' helpers on their own: ufw's view, the DNS probe script, the ACL rule (dockerd's TCP hosts:
selftests/test_honest_verdicts.py)."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from ipaddress import IPv4Address

import pytest

from homelab.checks.dns import acl_problem, parse_answer, query_command
from homelab.checks.engine import parse_stat
from homelab.checks.ufw import parse_status
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO

INVENTORY = load_inventory(REPO / "inventory.yaml")

UFW = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), deny (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    198.51.100.0/24
9443/tcp                   ALLOW IN    203.0.113.0/26
80/tcp                     ALLOW IN    Anywhere
22/tcp (v6)                ALLOW IN    Anywhere (v6)
"""


def test_ufw_first_matching_rule_decides() -> None:
    """ufw admits a source when a rule allows its network, and otherwise falls back to the default."""
    status = parse_status(UFW)
    assert (status.active, status.default_incoming) == (True, "deny")
    assert status.admits(22, "tcp", IPv4Address("198.51.100.7"))
    assert not status.admits(22, "tcp", IPv4Address("203.0.113.70"))
    assert status.admits(80, "tcp", IPv4Address("192.0.2.1"))
    assert not status.admits(5380, "tcp", IPv4Address("198.51.100.7"))


def test_ufw_inactive_admits_everything() -> None:
    """An inactive (or absent) ufw reads as inactive, with no default."""
    status = parse_status("Status: inactive\n")
    assert not status.active
    assert status.default_incoming is None
    assert status.admits(5380, "tcp", IPv4Address("203.0.113.70"))


def test_stat_parses_mode_owner_group() -> None:
    """`stat -c '%a %U %G'` output becomes (mode, owner, group)."""
    assert parse_stat("640 root admin\n") == (0o640, "root", "admin")
    assert parse_stat("") is None


@pytest.mark.parametrize(("settings", "wrong"), [
    ({"recursion": "Deny"}, False),
    ({"recursion": "UseSpecifiedNetworkACL", "recursionNetworkACL": ["198.51.100.0/24", "203.0.113.0/26"]}, False),
    ({"recursion": "UseSpecifiedNetworkACL", "recursionNetworkACL": "198.51.100.0/24,!203.0.113.64/26"}, False),
    ({"recursion": "Allow"}, True),
    ({"recursion": "AllowOnlyForPrivateNetworks"}, True),
    ({"recursion": "UseSpecifiedNetworkACL", "recursionNetworkACL": ["0.0.0.0/0"]}, True),
    ({"recursion": "UseSpecifiedNetworkACL", "recursionNetworkACL": ["203.0.113.64/26"]}, True),
])
def test_recursion_acl(settings: dict[str, object], wrong: bool) -> None:
    """Recursion is acceptable when denied, or limited by an ACL to LAN and VPN networks."""
    assert (acl_problem(settings, INVENTORY) is not None) is wrong


@pytest.fixture
def fake_dns() -> Iterator[int]:
    """A UDP server on loopback answering every query with SERVFAIL and RA set (an open resolver)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve() -> None:
        data, peer = sock.recvfrom(512)
        flags = 0x8000 | 0x0100 | 0x0080 | 2
        sock.sendto(data[:2] + struct.pack(">H", flags) + data[4:], peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    sock.close()


def test_query_script_reads_rcode_and_ra(fake_dns: int) -> None:
    """The script shipped to vantages sends a recursive query and reports RCODE and RA."""
    command = query_command("127.0.0.1", port=fake_dns, timeout=2).replace("python3", sys.executable, 1)
    answer = parse_answer(subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=10,
                                         check=True).stdout)
    assert (answer.rcode, answer.ra, answer.recursion_offered) == (2, True, True)


def test_query_script_times_out_quietly() -> None:
    """No answer is reported as such, not as an error."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        command = query_command("127.0.0.1", port=silent.getsockname()[1], timeout=0.3)
        done = subprocess.run(["bash", "-c", command.replace("python3", sys.executable, 1)], capture_output=True,
                              text=True, timeout=10, check=True)
    assert parse_answer(done.stdout).rcode is None
