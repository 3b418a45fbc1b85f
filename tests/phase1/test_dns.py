"""Phase 1: Technitium resolves the homelab's names to the inventory's addresses, and is no open resolver."""

from __future__ import annotations

import pytest

from homelab.checks import problem
from homelab.checks.dns import a_records, acl_problem, parse_answer, technitium_settings
from homelab.checks.exposure_matrix import MATRIX, Cell
from homelab.checks.reach import service_host
from homelab.clients import connect
from homelab.model.policy import may_connect

pytestmark = pytest.mark.phase1

RECORDS = "re-run `python -m bootstrap phase1` (Technitium zone and A records), or add the A record in Technitium"
DOCKER_USER = ("re-run `python -m bootstrap phase1`: DOCKER-USER jumps to HOMELAB-DOCKER, which admits LAN and "
               "VPN only")
ACL = ("Technitium > Settings > Recursion: `Use Specified Network ACL` with the LAN and VPN networks only "
       "(re-run `python -m bootstrap phase1`)")


@pytest.mark.spec("P1-DNS-001", severity="high", fix=RECORDS)
@pytest.mark.each("host")
def test_host_name_resolves(host, inventory, resolver):
    """Each host's hostname in the homelab domain resolves through Technitium to its inventory address."""
    name = f"{host.hostname}.{inventory.domain}"
    found = a_records(resolver, name)
    assert found == [str(host.address)], problem(
        expected=f"{name} A {host.address}", found=found, where=f"Technitium at {', '.join(resolver.nameservers)}",
        fix=RECORDS)


@pytest.mark.spec("P1-DNS-003", severity="critical", fix=ACL)
@pytest.mark.each("source", kind=("guest", "wan"))
def test_no_open_resolver(source, reachability, on):
    """Technitium does not resolve names outside its zones for the guest network or the internet."""
    server = reachability.dns_server_address(source)
    answer = observed_answer(reachability, source, on)
    fix = ACL
    if source.kind == "wan":
        fix = (f"the router forwards 53/udp of {server} to Technitium: remove that port forward (DNS is LAN/VPN "
               "only); Technitium's own recursion setting is P1-DNS-004's to judge")
    assert not answer.recursion_offered, problem(
        expected="REFUSED, RA clear, or no answer", found=str(answer),
        where=f"a recursive query from {source.name} to {server}:53/udp", fix=fix)


def observed_answer(reachability, source, on):
    """The answer `source` got to the recursive query, or this spec fails: a query that could not be made
    (no python3 there, empty output) is no evidence either way."""
    output = reachability.recursive_query(source, on)
    try:
        return parse_answer(output)
    except ValueError as exc:
        pytest.fail(f"could not observe: {exc} (from {source.name})", pytrace=False)


@pytest.mark.spec("P1-NET-010", severity="high", fix=f"DNS is served to LAN and VPN only; {DOCKER_USER}")
@pytest.mark.each("source", origin=("host", "vantage"))
def test_technitium_dns_udp(source, inventory, reachability, on):
    """Technitium's DNS port 53/udp answers (even REFUSED) from the LAN and the VPN only."""
    host = service_host(inventory, "technitium")
    server = reachability.dns_server_address(source)
    answered = observed_answer(reachability, source, on).rcode is not None
    allowed = may_connect(inventory, source, host, 53, "udp")
    MATRIX.record(Cell("public address" if source.kind == "wan" else host.name, "technitium 53/udp", source.name,
                       "open" if allowed else "closed", "answers" if answered else "no answer", answered == allowed))
    where = f"{server}:53/udp from {source.name} ({source.address}, {source.kind} network)"
    if allowed:
        assert answered, problem(expected="an answer", found="no answer", where=where, fix="start Technitium, and let "
                                 "the firewall admit 53/udp from this network (`python -m bootstrap phase1`)")
    else:
        assert not answered, problem(expected="no answer", found="it answers", where=where,
                                     fix="the router forwards 53/udp: remove that port forward" if source.kind == "wan"
                                     else DOCKER_USER)


@pytest.mark.spec("P1-DNS-004", severity="high", fix=ACL)
@pytest.mark.each("instance", service="technitium")
def test_recursion_limited_to_lan_and_vpn(instance, inventory, secrets):
    """Technitium's recursion setting admits the LAN and VPN networks only (or denies recursion)."""
    base = connect.url(inventory, "technitium", instance.host)
    settings = technitium_settings(inventory, secrets, instance.host)
    found = acl_problem(settings, inventory)
    assert found is None, problem(expected="recursion for LAN and VPN only", found=found, where=f"{base} settings",
                                  fix=ACL)
