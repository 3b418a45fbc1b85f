"""Conformance: the Technitium stand-in driven by PyPI's `technitiumdns-api` (0.1.x, written against the real
server's HTTP API), over what an operator's tooling does with 13.6.0: log in, make an API token, list/create/
enable/disable/delete zones, add/get/update/delete records, export a zone, read the dashboard's statistics and the
settings. What the client has and the stand-in does not serve is listed under "Out of scope" in
lab/standins/technitium/README.md; the last test checks that each of those answers 404 rather than a wrong shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import dns.zone
import pytest
from technitiumdns import Client
from technitiumdns.exceptions import InvalidTokenError, NotFoundError, TechnitiumError
from test_technitium import Technitium

TIMEOUT = 5.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Technitium]:
    started = Technitium(tmp_path / "data", {"DNS_SERVER_DOMAIN": "dns1.home.lan"}).start()
    yield started
    started.stop()


@pytest.fixture
def api(server: Technitium) -> Iterator[Client]:
    with Client(server.url(""), timeout=TIMEOUT) as client:
        client.login(user="admin", password="admin")
        yield client


def test_login_and_tokens(server: Technitium) -> None:
    """login keeps the session token (with the server info); a wrong password raises the server's message;
    user.create_token (user + pass) and admin.create_api_token (session) give tokens that work; the session-only
    createToken is refused as 13.6 refuses it."""
    with Client(server.url(""), timeout=TIMEOUT) as client:
        with pytest.raises(TechnitiumError, match="Invalid username or password for user: admin"):
            client.login(user="admin", password="wrong")
        session = client.login(user="admin", password="admin")
        assert session.username == "admin"
        assert session.info is not None
        assert session.info.dns_server_domain == "dns1.home.lan"
        assert client.user.session_get().username == "admin"
        with pytest.raises(TechnitiumError, match=r"Parameter 'user' missing\."):
            client.user.create_token(token_name="session-only")
        by_password = client.user.create_token(user="admin", password="admin", token_name="tooling")
        by_admin = client.admin.create_api_token(user="admin", token_name="homelab")
    for token in (by_password.token, by_admin.token):
        with Client(server.url(""), token=token, timeout=TIMEOUT) as tooling:
            assert tooling.zones.list() == []
    with Client(server.url(""), token="0" * 64, timeout=TIMEOUT) as stranger, pytest.raises(InvalidTokenError):
        stranger.zones.list()


def test_zones_lifecycle(api: Client) -> None:
    """zones.create, list (plain and paged), disable, enable and delete."""
    api.zones.create(zone="home.lan", type="Primary")
    api.zones.create(zone="lab.lan", type="Primary")
    assert [(z.name, z.type, z.disabled) for z in api.zones.list()] == [
        ("home.lan", "Primary", False), ("lab.lan", "Primary", False)]
    assert [z.name for z in api.zones.list(page_number=2, zones_per_page=1)] == ["lab.lan"]
    api.zones.disable(zone="lab.lan")
    assert api.zones.list()[1].disabled is True
    api.zones.enable(zone="lab.lan")
    api.zones.delete(zone="lab.lan")
    assert [z.name for z in api.zones.list()] == ["home.lan"]
    with pytest.raises(TechnitiumError, match=r"No such zone was found: lab\.lan"):
        api.zones.delete(zone="lab.lan")


def test_records_add_get_update_delete(server: Technitium, api: Client) -> None:
    """add_record, get_records, update_record (new address, ttl, comments) and delete_record, each visible in
    DNS answers."""
    api.zones.create(zone="home.lan", type="Primary")
    api.zones.add_record(domain="nas.home.lan", zone="home.lan", type="A", ttl=300,
                         extra={"ipAddress": "192.168.1.10"})
    api.zones.add_record(domain="home.lan", zone="home.lan", type="TXT", extra={"text": "v=lab"})
    records = api.zones.get_records(domain="nas.home.lan", zone="home.lan")
    assert [(r.type, r.ttl, r.r_data) for r in records] == [("A", 300, {"ipAddress": "192.168.1.10"})]
    assert {r.type for r in api.zones.get_records(domain="home.lan", list_zone=True)} == {"SOA", "NS", "A", "TXT"}
    api.zones.update_record(domain="nas.home.lan", zone="home.lan", type="A", ttl=600, comments="moved",
                            extra={"ipAddress": "192.168.1.10", "newIpAddress": "192.168.1.11"})
    updated = api.zones.get_records(domain="nas.home.lan")[0]
    assert (updated.r_data, updated.ttl, updated.comments) == ({"ipAddress": "192.168.1.11"}, 600, "moved")
    assert server.query("nas.home.lan").answer[0][0].to_text() == "192.168.1.11"
    api.zones.delete_record(domain="nas.home.lan", zone="home.lan", type="A", extra={"ipAddress": "192.168.1.11"})
    assert server.query("nas.home.lan").rcode() == dns.rcode.NXDOMAIN


def test_zone_export(api: Client) -> None:
    """zones.export answers the zone file bytes, which parse back to the zone's records."""
    api.zones.create(zone="home.lan", type="Primary")
    api.zones.add_record(domain="www.home.lan", type="CNAME", extra={"cname": "nas.home.lan"})
    text = api.zones.export(zone="home.lan").decode()
    parsed = dns.zone.from_text(text, origin="home.lan.", relativize=False)
    assert parsed.find_rdataset("www.home.lan.", "CNAME")[0].to_text() == "nas.home.lan."
    assert parsed.find_rdataset("home.lan.", "NS")[0].to_text() == "dns1.home.lan."


def test_dashboard_stats(server: Technitium, api: Client) -> None:
    """dashboard.stats parses into the client's model with the counters of the queries the server answered."""
    api.zones.create(zone="home.lan", type="Primary")
    server.query("home.lan", "SOA")
    server.query("nowhere.home.lan")
    stats = api.dashboard.stats(type="LastHour")
    assert (stats.stats.total_queries, stats.stats.total_no_error, stats.stats.total_nx_domain) == (2, 1, 1)
    assert (stats.stats.total_authoritative, stats.stats.zones) == (2, 1)
    assert stats.main_chart_data is not None
    assert len(stats.main_chart_data.labels) == 60
    assert [d.name for d in stats.top_domains] == ["home.lan", "nowhere.home.lan"]
    assert api.dashboard.stats(type="LastDay").main_chart_data.label_format == "MM/DD HH:00"  # type: ignore[union-attr]


def test_settings_get_and_set(api: Client) -> None:
    """settings.get and settings.set (the recursion policy the homelab sets)."""
    assert api.settings.get().raw["recursion"] == "AllowOnlyForPrivateNetworks"
    api.settings.set(settings={"recursion": "UseSpecifiedNetworkACL", "recursionNetworkACL": "192.168.1.0/24"})
    after = api.settings.get().raw
    assert (after["recursion"], after["recursionNetworkACL"]) == ("UseSpecifiedNetworkACL", ["192.168.1.0/24"])


OUT_OF_SCOPE = [
    ("zones.import_zone", lambda c: c.zones.import_zone(zone="home.lan", records="x 60 IN A 10.0.0.1")),
    ("zones.clone", lambda c: c.zones.clone(zone="copy.lan", source_zone="home.lan")),
    ("zones.get_options", lambda c: c.zones.get_options(zone="home.lan")),
    ("zones.sign", lambda c: c.zones.sign(zone="home.lan", algorithm="ECDSA")),
    ("dashboard.get_top", lambda c: c.dashboard.get_top(stats_type="TopClients")),
    ("cache.list", lambda c: c.cache.list()),
    ("blocked.list", lambda c: c.blocked.list()),
    ("apps.list", lambda c: c.apps.list()),
    ("admin.list_users", lambda c: c.admin.list_users()),
]


@pytest.mark.parametrize(("name", "call"), OUT_OF_SCOPE, ids=[n for n, _ in OUT_OF_SCOPE])
def test_out_of_scope_calls_are_404(api: Client, name: str, call: object) -> None:
    """The calls the README lists as out of scope answer 404 (the client's NotFoundError), never a wrong body."""
    api.zones.create(zone="home.lan", type="Primary")
    with pytest.raises(NotFoundError):
        call(api)  # type: ignore[operator]
