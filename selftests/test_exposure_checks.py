"""The exposure checks without a lab: the attack plan, listeners from /proc/net, classifying by-name answers, and
`homelab.transport.httpprobe` against real servers on loopback (an HTTP server, a fake Docker `/_ping`, a banner)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest

from homelab.checks.exposure import (
    EXTRA_PORTS,
    PUBLIC_ADDRESS,
    Listener,
    NameAsk,
    allowed,
    attack_ports,
    classify,
    exposed,
    is_docker_api,
    name_allowed,
    parse_listeners,
    planned_listener,
    surfaces,
    what_answers,
)
from homelab.model.inventory import Inventory
from homelab.model.inventory_loader import load_inventory
from homelab.model.paths import REPO
from homelab.model.policy import Source, sources
from homelab.transport import httpprobe, sweep

PROC_NET = """== tcp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1336 1
   1: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1337 1
   2: 0A0A12C6:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1338 1
   3: 0A0A12C6:0016 0A0A12C6:B742 01 00000000:00000000 00:00000000 00000000     0        0 1339 1
== tcp6
  sl  local_address                         remote_address                        st tx_queue rx_queue tr
   0: 00000000000000000000000000000000:24E3 00000000000000000000000000000000:0000 0A 00000000:00000000 00
   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00
== udp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  10: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1400 2
  11: 00000000:8261 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1401 2
== udp6
  sl  local_address                         remote_address                        st tx_queue rx_queue tr
== ephemeral 32768	60999
"""


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(REPO / "inventory.yaml")


def test_listeners_from_proc_net() -> None:
    """Listening TCP and unconnected UDP sockets, IPv4 and IPv6; established ones are not listeners."""
    found = parse_listeners(PROC_NET)
    assert Listener("tcp", 22, "0.0.0.0") in found
    assert Listener("tcp", 3306, "127.0.0.1") in found
    assert Listener("tcp", 8081, "198.18.10.10") in found
    assert Listener("tcp", 9443, "::") in found
    assert Listener("tcp", 80, "::1") in found
    assert Listener("udp", 53, "0.0.0.0") in found
    assert not [f for f in found if f.port == 0x8261], "a UDP client's ephemeral port is no server"
    assert len([f for f in found if f.port == 22]) == 1
    assert sorted(str(f) for f in found if not exposed(f)) == ["127.0.0.1:3306/tcp", "[::1]:80/tcp"]


@pytest.mark.parametrize("output", ["", "sh: cat: not found\n", "Permission denied"])
def test_listeners_unreadable_is_not_empty(output: str) -> None:
    """Output that is not /proc/net's tables cannot pass as "nothing listens": it raises (could not observe)."""
    with pytest.raises(ValueError, match="no /proc/net table"):
        parse_listeners(output)


def test_planned_listeners(example: Inventory) -> None:
    platform, unraid = example.hosts["platform"], example.hosts["unraid"]
    assert planned_listener(example, platform, Listener("tcp", 22, "0.0.0.0"))
    assert planned_listener(example, platform, Listener("tcp", 9443, "0.0.0.0"))
    assert planned_listener(example, platform, Listener("udp", 53, "0.0.0.0"))
    assert not planned_listener(example, platform, Listener("tcp", 8081, "0.0.0.0"))
    assert not planned_listener(example, platform, Listener("udp", 9443, "0.0.0.0"))
    assert planned_listener(example, unraid, Listener("tcp", 443, "0.0.0.0")), "Unraid's web UI is a daemon"
    assert not planned_listener(example, unraid, Listener("tcp", 2375, "0.0.0.0"))


def test_attack_ports(example: Inventory) -> None:
    ports = attack_ports(example)
    assert ports[:3] == [1, 2, 3]
    assert 1024 in ports
    assert {2375, 2376, 2377, 8081, 9443, 11434, 10000} <= set(ports)
    assert set(EXTRA_PORTS) <= set(ports)
    assert len(ports) == len(set(ports))


def test_surfaces(example: Inventory) -> None:
    """The internet sees the public address only; the runner and other vantages see every host."""
    by_name = {s.name: s for s in sources(example) if s.origin != "host"}
    wan = surfaces(example, [by_name["wan"]])
    assert [s.target for s in wan] == [PUBLIC_ADDRESS]
    assert wan[0].phase == 1
    guest = surfaces(example, [by_name["guest"]])
    assert [s.target for s in guest] == list(example.hosts)
    assert {s.id for s in guest} >= {"unraid<-guest", "platform<-guest"}


def test_nothing_is_public_by_default(example: Inventory) -> None:
    """The shipped inventory publishes nothing: from the internet no port of the public address is allowed."""
    wan = surfaces(example, [s for s in sources(example) if s.name == "wan"])[0]
    assert not [p for p in attack_ports(example) if allowed(example, wan, p)]
    guest = next(s for s in surfaces(example, sources(example)) if s.id == "platform<-guest")
    assert not allowed(example, guest, 443)
    assert not allowed(example, guest, 22)
    runner = next(s for s in surfaces(example, sources(example)) if s.id == "platform<-runner")
    assert allowed(example, runner, 443)
    assert allowed(example, runner, 22)
    assert not allowed(example, runner, 8081)


def test_name_allowed(example: Inventory) -> None:
    runner, guest = Source("runner", None, "lan", "runner"), Source("guest", IPv4Address("203.0.113.70"), "guest")
    vpn = Source("vpn-client", IPv4Address("203.0.113.10"), "vpn", "vantage")
    assert name_allowed(example, runner, "vpn")
    assert name_allowed(example, vpn, "vpn")
    assert not name_allowed(example, vpn, "lan")
    assert not name_allowed(example, guest, "vpn")
    assert name_allowed(example, guest, "public")


@pytest.mark.parametrize(("answer", "found", "reached"), [
    ({"error": "filtered"}, "filtered", False),
    ({"error": "closed"}, "closed", False),
    ({"error": "tls-refused", "detail": "TLSV1_UNRECOGNIZED_NAME"}, "no TLS (handshake refused: "
     "TLSV1_UNRECOGNIZED_NAME)", False),
    ({"status": 403, "headers": {"server": "openresty"}, "body": "<html><head><title>403 Forbidden</title>"},
     "refused by NPM (403)", False),
    ({"status": 301, "headers": {"location": "https://portainer.example/"}, "body": ""}, "redirect to HTTPS", False),
    ({"status": 200, "headers": {}, "body": "<h1>Congratulations!</h1>"}, "NPM's default site (HTTP 200)", False),
    ({"status": 200, "headers": {}, "body": "{}"}, "reached (HTTP 200)", True),
    ({"status": 401, "headers": {}, "body": "unauthorized"}, "reached (HTTP 401)", True),
    ({"status": 403, "headers": {}, "body": '{"message":"Access denied"}'}, "reached (HTTP 403)", True),
])
def test_classify(answer: dict[str, object], found: str, reached: bool) -> None:
    """NPM's refusals reach nothing; any other HTTP answer is the service (a service's own 403 included)."""
    assert classify(answer) == (found, reached)


@pytest.mark.parametrize("answer", [None, {"error": "reset", "detail": "Connection reset"}, {"error": "tls-failed"},
                                    {"banner": "garbage"}, {"error": "no-response"}])
def test_classify_cannot_observe(answer: dict[str, object] | None) -> None:
    """A reset, a handshake that failed for another reason or no answer is "not observed", never a pass."""
    found, reached = classify(answer)
    assert found.startswith("not observed")
    assert not reached


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/_ping" and self.headers.get("Host", "").startswith("docker"):
            self.send_response(200)
            self.send_header("Api-Version", "1.45")
            self.send_header("Server", "Docker/26.1.5 (linux)")
            body = b"OK"
        else:
            self.send_response(200)
            body = f"host={self.headers.get('Host')}".encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def banner_port() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib_suppress():
            conn, _ = listener.accept()
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def contextlib_suppress():
    import contextlib

    return contextlib.suppress(OSError)


def test_httpprobe_answers(http_port: int, banner_port: int) -> None:
    """The probe sends the Host it is given, tells the Docker API, reads a banner, and says why it failed."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    answers = {a["key"]: a for a in httpprobe.ask_all([
        {"key": "name", "address": "127.0.0.1", "port": http_port, "host": "grafana.home.example.com"},
        {"key": "docker", "address": "127.0.0.1", "port": http_port, "host": "docker", "path": "/_ping"},
        {"key": "ssh", "address": "127.0.0.1", "port": banner_port, "listen": True},
        {"key": "closed", "address": "127.0.0.1", "port": closed_port},
        {"key": "tls", "address": "127.0.0.1", "port": http_port, "tls": True, "sni": "x.example"},
    ], timeout=2)}
    assert answers["name"]["status"] == 200
    assert answers["name"]["body"] == "host=grafana.home.example.com"
    assert is_docker_api(answers["docker"])
    assert "Docker API" in what_answers(answers["docker"])
    assert not is_docker_api(answers["name"])
    assert "OpenSSH_9.2p1" in what_answers(answers["ssh"])
    assert answers["closed"]["error"] == "closed"
    assert answers["tls"]["error"] in ("tls-refused", "tls-failed", "reset")


def test_name_ask_request() -> None:
    """A mismatch probe sends the public name as SNI and the private one as Host."""
    ask = NameAsk("portainer.home.example.com", "198.19.0.2", "https", sni="status.home.example.com")
    request = ask.request()
    assert (request["sni"], request["host"], request["port"], request["tls"]) == (
        "status.home.example.com", "portainer.home.example.com", 443, True)
    assert "under SNI status.home.example.com" in ask.key
    assert NameAsk("a.example", "10.0.0.1", "http").request()["port"] == 80


def test_sweep_batches_thousands_at_once() -> None:
    """The attacker's sweep needs thousands of sockets at once: the batch follows the raised descriptor limit."""
    assert sweep.batch_size() >= sweep.BATCH
    targets = [("127.0.0.1", p) for p in range(20000, 22500)]
    found = sweep.sweep(targets, 1.0)
    assert len(found) == len(targets)
    assert set(found.values()) <= {"closed", "filtered", "open"}


class _SilentPython:
    """A pool whose far side has a python3 that prints nothing and exits 0 (a broken or stubbed vantage)."""

    def warm(self, targets: object) -> None:
        pass

    def failure(self, target: object) -> None:
        return None

    def run(self, target: object, command: str, timeout: float | None = None) -> object:
        from homelab.transport.ssh import CommandResult

        return CommandResult(0, "", "")


def test_silent_vantage_is_could_not_observe(example: Inventory) -> None:
    """A vantage whose python3 prints nothing: every probe sourced there fails "could not observe", none passes
    as "closed"; its DNS answer and its name requests likewise."""
    from homelab.checks.dns import parse_answer
    from homelab.checks.reach import PhaseProbes

    probes = PhaseProbes(example, _SilentPython())  # type: ignore[arg-type]
    guest = next(s for s in sources(example) if s.name == "guest")
    with pytest.raises(pytest.fail.Exception, match="could not observe"):
        probes.outcome(guest, example.platform_host, 9443, lambda target: None)
    with pytest.raises(ValueError, match="not an answer"):
        parse_answer("")
    ask = probes.name_asks(guest)[0]
    assert probes.name_answer(guest, ask, lambda target: None) is None
    assert "python3" in probes.name_error(guest) or "no output" in probes.name_error(guest)


def test_router_forwards_parsed() -> None:
    """DNAT rules of `iptables -t nat -S PREROUTING`, single ports and ranges; a listing with none is empty."""
    from homelab.checks.exposure import Forward, parse_forwards

    listing = ("-P PREROUTING ACCEPT\n"
               "-A PREROUTING -d 198.19.0.2/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 198.18.10.10:443\n"
               "-A PREROUTING -d 198.19.0.2/32 -p udp -m udp --dport 5000:5001 -j DNAT --to-destination 198.18.10.20\n"
               "-A PREROUTING -j DOCKER\n")
    assert parse_forwards(listing) == [Forward("tcp", 443, "198.18.10.10:443"), Forward("udp", 5000, "198.18.10.20"),
                                       Forward("udp", 5001, "198.18.10.20")]
    assert parse_forwards("-P PREROUTING ACCEPT\n") == []


@pytest.mark.parametrize("output", ["", "sh: iptables: not found", "iptables: Permission denied (you must be root)"])
def test_router_unreadable_is_not_no_forwards(output: str) -> None:
    """Output that is not an iptables listing cannot pass as "no forwards": it raises (could not observe)."""
    from homelab.checks.exposure import parse_forwards

    with pytest.raises(ValueError, match="not an iptables listing"):
        parse_forwards(output)


def test_silent_source_fails_the_attack_surface(example: Inventory) -> None:
    """The attacker's sweep from a vantage that printed nothing raises (the spec's "could not observe")."""
    from homelab.checks.reach import PhaseProbes

    probes = PhaseProbes(example, _SilentPython())  # type: ignore[arg-type]
    surface = next(s for s in surfaces(example, sources(example)) if s.id == "platform<-guest")
    with pytest.raises(RuntimeError, match="returned nothing"):
        probes.surface_outcomes(surface, lambda target: None)


def _load(path: str) -> Any:
    """A module of tests/ loaded by its path (the specs are not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_loaded_{Path(path).stem}", REPO / path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_name_spec_fails_when_nothing_came_back(example: Inventory) -> None:
    """EXP-NAME-001 from a vantage whose python3 prints nothing: "could not observe", no pass."""
    from homelab.checks.reach import PhaseProbes
    from homelab.specs.targets import select

    probes = PhaseProbes(example, _SilentPython())  # type: ignore[arg-type]
    guest = next(s for s in sources(example) if s.name == "guest")
    fqdn = select(example, "fqdn", {"service": "portainer"})[0][0]
    check = _load("tests/exposure/test_names.py").test_name_reached_only_where_allowed
    with pytest.raises(pytest.fail.Exception, match="could not observe"):
        check(fqdn, guest, example, probes, lambda target: None)


def test_unknown_name_spec_fails_when_nothing_came_back(example: Inventory) -> None:
    """EXP-NAME-003 from a vantage whose python3 prints nothing: "could not observe", no pass."""
    from homelab.checks.reach import PhaseProbes

    probes = PhaseProbes(example, _SilentPython())  # type: ignore[arg-type]
    guest = next(s for s in sources(example) if s.name == "guest")
    check = _load("tests/exposure/test_names.py").test_unknown_name_reaches_nothing
    with pytest.raises(pytest.fail.Exception, match="could not observe"):
        check(guest, probes, lambda target: None)


def test_access_list_spec_fails_when_npm_cannot_be_read(example: Inventory, tmp_path: Path) -> None:
    """EXP-NAME-002's NPM client: an admin API that does not answer is "could not observe", never a pass."""
    from dataclasses import replace

    from homelab.model.secrets import Secrets

    conftest = _load("tests/conftest.py")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    platform = replace(example.platform_host, address=IPv4Address("127.0.0.1"))
    npm = example.services["npm"]
    assert npm.upstream is not None
    local = replace(example, hosts={**example.hosts, "platform": platform}, services={
        **example.services, "npm": replace(npm, ports=(*npm.ports[:2], replace(npm.ports[2], port=port)),
                                           upstream=replace(npm.upstream, port=port))})
    env = tmp_path / ".env"
    env.write_text("NPM_ADMIN_EMAIL=admin@example.com\nNPM_ADMIN_PASSWORD=not-the-real-one\n")
    secrets = Secrets(local.secrets, env)
    with pytest.raises(pytest.fail.Exception, match="could not observe: NPM's admin API"):
        conftest.open_npm(local, secrets)
