"""The Technitium DNS stand-in (lab/standins/technitium): its HTTP API shapes and real DNS over UDP and TCP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import httpx
import pytest
from standin_helpers import free_port

from homelab.model.paths import REPO

SERVER = REPO / "lab" / "standins" / "technitium" / "standin.py"
HOST = "127.0.0.1"
TIMEOUT = 5.0
Make = Callable[..., "Technitium"]


@dataclass
class Technitium:
    """One running stand-in process on 127.0.0.1 with its own ports and data directory."""

    data_dir: Path
    env: dict[str, str]
    dns_port: int = 0
    http_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Technitium:
        self.dns_port, self.http_port = self.dns_port or free_port(), self.http_port or free_port()
        env = os.environ | self.env | {"STANDIN_BIND": HOST, "STANDIN_DNS_PORT": str(self.dns_port),
                                       "STANDIN_HTTP_PORT": str(self.http_port), "STANDIN_DATA_DIR": str(self.data_dir)}
        self.process = subprocess.Popen([sys.executable, str(SERVER)], env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url("/"), timeout=0.5)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"the Technitium stand-in did not answer on {self.url('/')} within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=5)

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.http_port}{path}"

    def api(self, path: str, token: str | None = None, **params: str) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(self.url(path), data=params, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 200, f"{path}: HTTP {response.status_code}, Technitium always answers 200"
        return dict(response.json())

    def login(self, password: str = "admin") -> str:  # noqa: S107 - the image default
        body = self.api("/api/user/login", user="admin", **{"pass": password})
        assert body["status"] == "ok", body
        return str(body["token"])

    def query(self, name: str, kind: str = "A", tcp: bool = False) -> dns.message.Message:
        message = dns.message.make_query(name, kind)
        if tcp:
            return dns.query.tcp(message, HOST, port=self.dns_port, timeout=TIMEOUT)
        return dns.query.udp(message, HOST, port=self.dns_port, timeout=TIMEOUT)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Make]:
    started: list[Technitium] = []

    def factory(env: dict[str, str] | None = None, data_dir: Path | None = None) -> Technitium:
        server = Technitium(data_dir or tmp_path / f"data{len(started)}", env or {}).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def tdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Technitium]:
    server = Technitium(tmp_path_factory.mktemp("technitium"), {"DNS_SERVER_DOMAIN": "dns1.home.lan"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token(tdns: Technitium) -> str:
    return tdns.login()


@pytest.fixture(scope="module")
def zone(tdns: Technitium, token: str) -> str:
    assert tdns.api("/api/zones/create", token, zone="home.lan", type="Primary")["status"] == "ok"
    for name, kind, value in (("ollama.home.lan", "A", "192.168.1.50"), ("v6.home.lan", "AAAA", "fd00::5")):
        body = tdns.api("/api/zones/records/add", token, domain=name, zone="home.lan", type=kind, ipAddress=value,
                        ttl="300")
        assert body["status"] == "ok", body
    tdns.api("/api/zones/records/add", token, domain="www.home.lan", type="CNAME", cname="ollama.home.lan")
    tdns.api("/api/zones/records/add", token, domain="home.lan", type="TXT", text="v=lab")
    return "home.lan"


def test_login_returns_a_session_token_at_top_level(tdns: Technitium) -> None:
    """Login with the default admin/admin answers the token and user fields at the top level."""
    body = tdns.api("/api/user/login", user="admin", includeInfo="true", **{"pass": "admin"})
    assert body["status"] == "ok"
    assert body["username"] == "admin"
    assert len(str(body["token"])) == 64
    assert body["info"]["dnsServerDomain"] == "dns1.home.lan"  # type: ignore[index]


def test_bad_password_is_http_200_with_status_error(tdns: Technitium) -> None:
    """A wrong password is reported in `status`, never in the HTTP code."""
    body = tdns.api("/api/user/login", user="admin", **{"pass": "wrong"})
    assert body == {"server": "dns1.home.lan", "status": "error",
                    "errorMessage": "Invalid username or password for user: admin"}


def test_missing_token_is_invalid_token(tdns: Technitium) -> None:
    """A protected call without a token answers status invalid-token."""
    assert tdns.api("/api/zones/list")["status"] == "invalid-token"


def test_token_param_and_bearer_header_both_work(tdns: Technitium, token: str) -> None:
    """The token is read from the Bearer header first, then from the `token` parameter."""
    assert tdns.api("/api/zones/list", token)["status"] == "ok"
    assert tdns.api("/api/zones/list", token=token)["status"] == "ok"


def test_create_token_is_a_named_api_token(tdns: Technitium) -> None:
    """createToken with user and pass returns a non-expiring token that authenticates."""
    body = tdns.api("/api/user/createToken", user="admin", tokenName="homelab", **{"pass": "admin"})
    assert body["tokenName"] == "homelab"
    assert body["status"] == "ok"
    assert tdns.api("/api/user/session/get", str(body["token"]))["username"] == "admin"


def test_session_only_create_token_is_refused_as_13_6_does(tdns: Technitium, token: str) -> None:
    """/api/user/createToken is a login in 13.6: a call with only a session token (Bearer or `token`) is refused
    with "Parameter 'user' missing.", as upstream's LoginAsync reads `user` first."""
    for body in (tdns.api("/api/user/createToken", token, tokenName="t"),
                 tdns.api("/api/user/createToken", tokenName="t", token=token)):
        assert body["status"] == "error"
        assert body["errorMessage"] == "Parameter 'user' missing."
    body = tdns.api("/api/user/createToken", user="admin", tokenName="t")
    assert body["errorMessage"] == "Parameter 'pass' missing."


def test_admin_sessions_create_token_makes_a_token_for_a_user(tdns: Technitium, token: str) -> None:
    """/api/admin/sessions/createToken (session + user + tokenName) answers the token in `response`; an unknown
    user and a missing parameter are errors with upstream's messages; without a session it is invalid-token."""
    body = tdns.api("/api/admin/sessions/createToken", token, user="admin", tokenName="homelab")
    assert body["status"] == "ok"
    created = body["response"]
    assert created["username"] == "admin"
    assert created["tokenName"] == "homelab"
    assert tdns.api("/api/zones/list", str(created["token"]))["status"] == "ok"  # type: ignore[index]
    assert tdns.api("/api/admin/sessions/createToken", token, user="nobody", tokenName="x")["errorMessage"] == \
        "No such user exists: nobody"
    assert tdns.api("/api/admin/sessions/createToken", token, tokenName="x")["errorMessage"] == \
        "Parameter 'user' missing."
    assert tdns.api("/api/admin/sessions/createToken", user="admin", tokenName="x")["status"] == "invalid-token"


def test_project_client_creates_a_token_through_the_session_call(tdns: Technitium) -> None:
    """homelab.clients.technitium's create_token works against a server that refuses the session-only call."""
    from homelab.clients.technitium import Technitium as Client

    with Client(tdns.url("")) as client:
        client.login("admin", "admin")
        api_token = client.create_token("homelab-bootstrap")
    with Client(tdns.url(""), token=api_token) as client:
        assert client.session()["username"] == "admin"


def test_record_update_changes_address_ttl_and_answer(make: Make) -> None:
    """records/update replaces the record named by the old value with the new one (newIpAddress, ttl,
    comments), answers `updatedRecord`, bumps the SOA serial, and DNS answers the new address."""
    server = make()
    token = server.login()
    server.api("/api/zones/create", token, zone="up.lan")
    server.api("/api/zones/records/add", token, domain="a.up.lan", type="A", ipAddress="10.0.0.1", ttl="300")
    serial = server.api("/api/zones/list", token)["response"]["zones"][0]["soaSerial"]  # type: ignore[index]
    body = server.api("/api/zones/records/update", token, domain="a.up.lan", type="A", ipAddress="10.0.0.1",
                      newIpAddress="10.0.0.2", ttl="600", comments="moved")
    assert body["status"] == "ok", body
    updated = body["response"]["updatedRecord"]  # type: ignore[index]
    assert (updated["rData"], updated["ttl"], updated["comments"]) == ({"ipAddress": "10.0.0.2"}, 600, "moved")
    assert server.api("/api/zones/list", token)["response"]["zones"][0]["soaSerial"] == serial + 1  # type: ignore[index]
    assert server.query("a.up.lan").answer[0][0].to_text() == "10.0.0.2"
    missing = server.api("/api/zones/records/update", token, domain="a.up.lan", type="A", ipAddress="10.9.9.9",
                         newIpAddress="10.0.0.3")
    assert missing["errorMessage"] == "Cannot update record: the old record does not exists."


def test_zone_export_is_a_zone_file(make: Make) -> None:
    """zones/export answers the zone as a text/plain master file (an attachment) that a zone parser reads
    back with the same records; an unknown zone is a JSON error, no token is invalid-token."""
    import dns.zone

    server = make()
    token = server.login()
    server.api("/api/zones/create", token, zone="ex.lan")
    server.api("/api/zones/records/add", token, domain="w.ex.lan", type="A", ipAddress="10.0.0.7", comments="web")
    server.api("/api/zones/records/add", token, domain="ex.lan", type="TXT", text="v=spf1 -all")
    response = httpx.get(server.url("/api/zones/export"), params={"token": token, "zone": "ex.lan"}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-disposition"] == "attachment;filename=ex.lan.zone"
    parsed = dns.zone.from_text(response.text, origin="ex.lan.", relativize=False)
    assert parsed.find_rdataset("w.ex.lan.", "A")[0].to_text() == "10.0.0.7"
    assert parsed.find_rdataset("ex.lan.", "TXT")[0].to_text() == '"v=spf1 -all"'
    assert parsed.find_rdataset("ex.lan.", "SOA") is not None
    assert server.api("/api/zones/export", token, zone="none.lan")["errorMessage"] == "No such zone was found: none.lan"
    assert server.api("/api/zones/export", zone="ex.lan")["status"] == "invalid-token"


def test_dashboard_stats_count_the_queries_answered(make: Make) -> None:
    """dashboard/stats/get counts the DNS queries answered (total, by rcode, authoritative, clients) with
    13.6's `stats` keys and a 60-point lastHour chart; an unknown type is an error."""
    server = make()
    token = server.login()
    server.api("/api/zones/create", token, zone="st.lan")
    server.api("/api/zones/records/add", token, domain="a.st.lan", type="A", ipAddress="10.0.0.1")
    server.query("a.st.lan")
    server.query("missing.st.lan")
    body = server.api("/api/dashboard/stats/get", token, type="LastHour")
    assert body["status"] == "ok", body
    stats = body["response"]["stats"]  # type: ignore[index]
    assert (stats["totalQueries"], stats["totalNoError"], stats["totalNxDomain"]) == (2, 1, 1)
    assert (stats["totalAuthoritative"], stats["totalClients"], stats["zones"]) == (2, 1, 1)
    chart = body["response"]["mainChartData"]  # type: ignore[index]
    assert chart["labelFormat"] == "HH:mm"
    assert len(chart["labels"]) == 60
    assert sum(chart["datasets"][0]["data"]) == 2
    assert server.api("/api/dashboard/stats/get", token, type="never")["errorMessage"] == \
        "Unknown stats type requested: never"


def test_unknown_api_path_is_404_with_empty_body(tdns: Technitium) -> None:
    """An unknown /api/ path answers HTTP 404 with no body."""
    response = httpx.get(tdns.url("/api/no/such/call"), timeout=TIMEOUT)
    assert (response.status_code, response.content) == (404, b"")


def test_sso_status_is_public(tdns: Technitium) -> None:
    """/api/sso/status needs no token (the v15 health probe)."""
    assert tdns.api("/api/sso/status") == {"ssoEnabled": False, "server": "dns1.home.lan", "status": "ok"}


def test_duplicate_zone_is_an_error(tdns: Technitium, token: str, zone: str) -> None:
    """Creating an existing zone reports `Zone already exists`."""
    body = tdns.api("/api/zones/create", token, zone=zone)
    assert body["errorMessage"] == f"Zone already exists: {zone}"


def test_zone_list_shape(tdns: Technitium, token: str, zone: str) -> None:
    """zones/list lists the zone with Technitium's fields."""
    zones = tdns.api("/api/zones/list", token)["response"]["zones"]  # type: ignore[index]
    assert zones[0]["name"] == zone
    assert zones[0]["type"] == "Primary"
    assert zones[0]["dnssecStatus"] == "Unsigned"


def test_records_get_lists_soa_ns_and_added(tdns: Technitium, token: str, zone: str) -> None:
    """records/get with listZone returns SOA, NS and the records added."""
    records = tdns.api("/api/zones/records/get", token, domain=zone, zone=zone, listZone="true")["response"]
    kinds = {r["type"] for r in records["records"]}  # type: ignore[index]
    assert {"SOA", "NS", "A", "AAAA", "CNAME", "TXT"} <= kinds


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_record_is_answered_authoritatively(tdns: Technitium, zone: str, tcp: bool) -> None:
    """A record in a zone is answered with the AA flag over UDP and TCP."""
    answer = tdns.query("ollama.home.lan", tcp=tcp)
    assert answer.rcode() == dns.rcode.NOERROR
    assert answer.flags & dns.flags.AA
    assert [r.to_text() for r in answer.answer[0]] == ["192.168.1.50"]
    assert answer.answer[0].ttl == 300


def test_cname_is_followed_inside_the_zone(tdns: Technitium, zone: str) -> None:
    """A CNAME to a name in the same zone is answered with the chain."""
    answer = tdns.query("www.home.lan")
    assert [rrset.rdtype for rrset in answer.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_missing_name_is_nxdomain_with_soa(tdns: Technitium, zone: str) -> None:
    """A name that does not exist in the zone is NXDOMAIN, authoritative, with the SOA in authority."""
    answer = tdns.query("nothing.home.lan")
    assert answer.rcode() == dns.rcode.NXDOMAIN
    assert answer.flags & dns.flags.AA
    assert answer.authority[0].rdtype == dns.rdatatype.SOA


def test_external_name_with_recursion_allowed_is_servfail_with_ra(tdns: Technitium, zone: str) -> None:
    """Loopback is private by default: recursion is allowed but cannot reach the internet: SERVFAIL, RA."""
    answer = tdns.query("example.com")
    assert answer.rcode() == dns.rcode.SERVFAIL
    assert answer.flags & dns.flags.RA


def test_recursion_deny_refuses_external_names(make: Make) -> None:
    """With recursion Deny, an external name is REFUSED with RA clear; zones still answer."""
    server = make()
    token = server.login()
    assert server.api("/api/settings/set", token, recursion="Deny")["response"]["recursion"] == "Deny"  # type: ignore[index]
    answer = server.query("example.com", tcp=True)
    assert answer.rcode() == dns.rcode.REFUSED
    assert not answer.flags & dns.flags.RA


def test_private_networks_are_configurable(make: Make) -> None:
    """When 127.0.0.1 is outside STANDIN_PRIVATE_NETWORKS, AllowOnlyForPrivateNetworks refuses it."""
    server = make({"STANDIN_PRIVATE_NETWORKS": "198.18.10.0/24", "DNS_SERVER_RECURSION": "AllowOnlyForPrivateNetworks"})
    answer = server.query("example.com")
    assert answer.rcode() == dns.rcode.REFUSED
    assert not answer.flags & dns.flags.RA


def test_network_acl_first_match_wins(make: Make) -> None:
    """UseSpecifiedNetworkACL with `!127.0.0.1` first refuses loopback despite a later allow."""
    server = make({"DNS_SERVER_RECURSION": "UseSpecifiedNetworkACL",
                   "DNS_SERVER_RECURSION_NETWORK_ACL": "!127.0.0.1,0.0.0.0/0"})
    assert server.query("example.com").rcode() == dns.rcode.REFUSED


def test_invalid_recursion_value_is_an_error(tdns: Technitium, token: str) -> None:
    """An unknown recursion value (such as the pre-13 `UseSpecifiedNetworks`) is rejected."""
    assert tdns.api("/api/settings/set", token, recursion="UseSpecifiedNetworks")["status"] == "error"


def test_record_delete_removes_the_answer(make: Make) -> None:
    """Deleting an A record by its address makes the name NXDOMAIN."""
    server = make()
    token = server.login()
    server.api("/api/zones/create", token, zone="lab.lan")
    server.api("/api/zones/records/add", token, domain="a.lab.lan", type="A", ipAddress="10.0.0.1")
    assert server.api("/api/zones/records/delete", token, domain="a.lab.lan", zone="lab.lan", type="A",
                      ipAddress="10.0.0.1")["status"] == "ok"
    assert server.query("a.lab.lan").rcode() == dns.rcode.NXDOMAIN


def test_admin_password_env_and_state_survive_restart(make: Make, tmp_path: Path) -> None:
    """DNS_SERVER_ADMIN_PASSWORD is honoured; zones, records and API tokens persist across a restart."""
    server = make({"DNS_SERVER_ADMIN_PASSWORD": "s3cret"}, data_dir=tmp_path / "persist")
    assert server.api("/api/user/login", user="admin", **{"pass": "admin"})["status"] == "error"
    created = server.api("/api/admin/sessions/createToken", server.login("s3cret"), user="admin", tokenName="t")
    api_token = str(created["response"]["token"])  # type: ignore[index]
    server.api("/api/zones/create", api_token, zone="keep.lan")
    server.api("/api/zones/records/add", api_token, domain="x.keep.lan", type="A", ipAddress="10.1.1.1")
    server.stop()
    server.start()
    assert server.api("/api/zones/list", api_token)["response"]["zones"][0]["name"] == "keep.lan"  # type: ignore[index]
    assert server.query("x.keep.lan").answer[0][0].to_text() == "10.1.1.1"


def test_image_has_upstream_tools_only() -> None:
    """The stand-in image installs dnsutils (dig) and neither curl nor wget, as technitium/dns-server:13.6.0's
    upstream Dockerfile, and its own HEALTHCHECK runs a program the static check knows that image has."""
    from homelab.checks.static_services import IMAGE_TOOLS

    dockerfile = (SERVER.parent / "Dockerfile").read_text()
    install = dockerfile.split("apt-get install", 1)[1].split("&&", 1)[0].split()
    assert "bind9-dnsutils" in install
    assert not {"curl", "wget"} & set(install)
    healthcheck = dockerfile.split("HEALTHCHECK", 1)[1].split("CMD", 1)[1].split()
    assert healthcheck[0] in IMAGE_TOOLS["technitium/dns-server"][1]
