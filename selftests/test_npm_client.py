"""homelab.clients.npm's access lists: the pure helpers, and the calls against the NPM stand-in (API only, no nginx)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from homelab.clients.npm import AccessList, Npm, NpmError, NpmUnreachable, access_list_body
from homelab.model.paths import REPO

STANDIN = REPO / "lab" / "standins" / "npm" / "standin.py"
HOST = "127.0.0.1"


def live(clients: list[tuple[str, str]], **fields: Any) -> AccessList:
    """An AccessList as NPM would answer it (ids and timestamps included)."""
    item = {"id": 7, "name": "lan-only", "satisfy_any": False, "pass_auth": False, "proxy_host_count": 0,
            "items": [], "clients": [{"id": 10 + n, "access_list_id": 7, "directive": d, "address": a, "meta": {}}
                                     for n, (d, a) in enumerate(clients)]} | fields
    return AccessList.from_json(item)


def test_access_list_body_allows_only_the_given_addresses() -> None:
    """No users, satisfy all, no pass_auth; one `allow` client per address, in order (NPM adds `deny all`)."""
    assert access_list_body("lan-only", ["192.168.1.0/24", "10.8.0.0/24"]) == {
        "name": "lan-only", "satisfy_any": False, "pass_auth": False, "items": [],
        "clients": [{"address": "192.168.1.0/24", "directive": "allow"},
                    {"address": "10.8.0.0/24", "directive": "allow"}]}


def test_from_json_reads_npm_fields() -> None:
    """Clients as (directive, address) in NPM's order, users by name, the host count, everything kept."""
    acl = live([("allow", "10.8.0.0/24"), ("deny", "all")], items=[{"username": "bob", "password": "", "hint": "h*"}],
               proxy_host_count=2)
    assert (acl.id, acl.name, acl.satisfy_any, acl.pass_auth) == (7, "lan-only", False, False)
    assert acl.clients == (("allow", "10.8.0.0/24"), ("deny", "all"))
    assert acl.usernames == ("bob",)
    assert acl.proxy_host_count == 2
    assert acl.fields["items"][0]["hint"] == "h*"


def test_differences_ignore_ids_and_order() -> None:
    """The same allowed networks in another order, with NPM's ids and timestamps, is no difference."""
    acl = live([("allow", "10.8.0.0/24"), ("allow", "192.168.1.0/24")])
    assert acl.differences(access_list_body("lan-only", ["192.168.1.0/24", "10.8.0.0/24"])) == {}


def test_differences_name_what_changed() -> None:
    """A missing network, an extra one, another name or satisfy_any: each reported as (live, wanted)."""
    acl = live([("allow", "10.8.0.0/24"), ("allow", "0.0.0.0/0")], satisfy_any=True)
    diff = acl.differences(access_list_body("lan", ["10.8.0.0/24", "192.168.1.0/24"]))
    assert diff == {
        "name": ("lan-only", "lan"),
        "satisfy_any": (True, False),
        "clients": ([("allow", "0.0.0.0/0"), ("allow", "10.8.0.0/24")],
                    [("allow", "10.8.0.0/24"), ("allow", "192.168.1.0/24")]),
    }


def test_differences_see_a_deny_turned_allow_and_extra_users() -> None:
    """The directive counts, not only the address; users compare by name (passwords are never shown)."""
    acl = live([("deny", "10.8.0.0/24")], items=[{"username": "eve"}])
    diff = acl.differences(access_list_body("lan-only", ["10.8.0.0/24"]))
    assert diff["clients"] == ([("deny", "10.8.0.0/24")], [("allow", "10.8.0.0/24")])
    assert diff["items"] == (["eve"], [])


def test_refusal_and_timeout_are_npm_errors() -> None:
    """NPM's 400 envelope becomes NpmError with its message and status; no answer in time is NpmUnreachable."""
    def refuse(request: httpx.Request) -> httpx.Response:
        message = "data.clients[0].directive should be equal to one of the allowed values"
        return httpx.Response(400, json={"error": {"code": 400, "message": message}})

    with pytest.raises(NpmError, match="directive should be equal") as refused:
        Npm("http://npm.test:81", token="t", transport=httpx.MockTransport(refuse)).create_access_list({"name": "x"})
    assert refused.value.status == 400

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(NpmUnreachable, match=r"no answer within 2\.0s"):
        Npm("http://npm.test:81", token="t", timeout=2.0, transport=httpx.MockTransport(hang)).access_lists()


# --- against the stand-in ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def npm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Npm]:
    """The NPM stand-in's API on loopback, logged in; no nginx (the stand-in's selftests drive that)."""
    ports = {name: _free_port() for name in ("ADMIN", "HTTP", "HTTPS")}
    env = os.environ | {"STANDIN_BIND": HOST, "STANDIN_DATA_DIR": str(tmp_path_factory.mktemp("npm-client")),
                        "STANDIN_NGINX": "no-nginx-in-this-test"} | {
        f"STANDIN_{name}_PORT": str(port) for name, port in ports.items()}
    process = subprocess.Popen([sys.executable, str(STANDIN)], env=env)
    client = Npm(f"http://{HOST}:{ports['ADMIN']}", timeout=5.0)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.version()
                break
            except NpmUnreachable:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.login("admin@example.com", "changeme")
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


def test_create_list_update_delete(npm: Npm) -> None:
    """Create answers the list with its clients; list finds it with them; update replaces them; delete removes it."""
    created = npm.create_access_list(access_list_body("vpn-only", ["10.8.0.0/24"]))
    assert created.clients == (("allow", "10.8.0.0/24"),)
    assert created.differences(access_list_body("vpn-only", ["10.8.0.0/24"])) == {}
    found = next(a for a in npm.access_lists() if a.id == created.id)
    assert (found.name, found.clients, found.usernames) == ("vpn-only", (("allow", "10.8.0.0/24"),), ())

    wanted = access_list_body("vpn-only", ["10.8.0.0/24", "192.168.1.0/24"])
    assert found.differences(wanted) == {"clients": ([("allow", "10.8.0.0/24")],
                                                     [("allow", "10.8.0.0/24"), ("allow", "192.168.1.0/24")])}
    updated = npm.update_access_list(created.id, wanted)
    assert updated.differences(wanted) == {}

    npm.delete_access_list(created.id)
    assert created.id not in [a.id for a in npm.access_lists()]
    with pytest.raises(NpmError, match=f"Item Not Found - {created.id}") as missing:
        npm.delete_access_list(created.id)
    assert missing.value.status == 404


def test_attach_and_detach_on_delete(npm: Npm) -> None:
    """A proxy host points at a list by access_list_id; deleting the list sets it back to 0 (as NPM does)."""
    acl = npm.create_access_list(access_list_body("lan-only", ["192.168.1.0/24"]))
    host = npm.create_proxy_host({"domain_names": ["client-acl.home.lan"], "forward_scheme": "http",
                                  "forward_host": HOST, "forward_port": 8080, "access_list_id": acl.id})
    assert host.fields["access_list_id"] == acl.id
    assert next(a for a in npm.access_lists() if a.id == acl.id).proxy_host_count == 1
    npm.delete_access_list(acl.id)
    after = npm.proxy_host_for("client-acl.home.lan")
    assert after is not None
    assert after.fields["access_list_id"] == 0


def test_bad_body_is_npm_error(npm: Npm) -> None:
    """The stand-in refuses a directive other than allow/deny, as NPM's schema does."""
    body = access_list_body("bad", ["10.0.0.1"])
    body["clients"][0]["directive"] = "permit"
    with pytest.raises(NpmError, match=r"data\.clients\[0\]\.directive should be equal to one of the allowed"):
        npm.create_access_list(body)


def test_remembered_reads_are_asked_once_until_a_change() -> None:
    """With `remember_reads`, a GET asked again is answered from memory (a copy), and any other request forgets
    every remembered answer: bootstrap's checks ask the same lists for every name."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        return httpx.Response(200, json=[{"id": len(asked)}])

    npm = Npm("http://npm.test:81", token="t", transport=httpx.MockTransport(answer))
    assert npm.request("GET", "/nginx/proxy-hosts") == [{"id": 1}]
    assert npm.request("GET", "/nginx/proxy-hosts") == [{"id": 2}], "without remember_reads every GET is sent"
    npm.remember_reads()
    first = npm.request("GET", "/nginx/proxy-hosts")
    first[0]["id"] = 99  # a caller changing its answer changes nothing remembered
    assert npm.request("GET", "/nginx/proxy-hosts") == [{"id": 3}]
    assert npm.request("GET", "/nginx/access-lists", params={"expand": "items"}) == [{"id": 4}]
    assert len(asked) == 4
    npm.request("PUT", "/nginx/proxy-hosts/3", json={})
    assert npm.request("GET", "/nginx/proxy-hosts") == [{"id": 6}], "a change did not forget what was read"
