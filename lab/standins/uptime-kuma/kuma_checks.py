"""Real checks for http, keyword, port, dns and docker monitors, and the loop that runs them at each monitor's
interval."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import dns.exception
import dns.message
import dns.query
import dns.rcode
from cryptography import x509
from kuma_store import DOWN, PENDING, UP, Row, Store
from unixhttp import UnixHTTPConnection

MAX_BODY = 1024 * 1024


def _status_ok(code: int, accepted: list[str]) -> bool:
    for item in accepted:
        low, _, high = item.partition("-")
        if int(low) <= code <= int(high or low):
            return True
    return False


def _cert_info(sock: Any, verified: bool) -> Row | None:
    der = sock.getpeercert(binary_form=True) if sock is not None else None
    if not der:
        return None
    expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    return {"valid": verified, "daysRemaining": (expires - datetime.now(UTC)).days}


def check_http(monitor: Row) -> tuple[int, str, Row | None]:
    url = urlsplit(str(monitor["url"]))
    timeout = float(monitor.get("timeout") or 48)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    cert: Row | None = None
    if url.scheme == "https":
        context = ssl.create_default_context()
        try:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(url.hostname or "", url.port or 443,
                                                                           timeout=timeout, context=context)
            conn.request(monitor.get("method") or "GET", path)
            verified = True
        except ssl.SSLError as exc:
            if not monitor.get("ignoreTls"):
                return DOWN, str(exc), None
            context = ssl._create_unverified_context()  # noqa: S323 - the monitor's own "ignore TLS errors"
            conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, timeout=timeout, context=context)
            conn.request(monitor.get("method") or "GET", path)
            verified = False
        cert = _cert_info(conn.sock, verified)
    else:
        conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=timeout)
        conn.request(monitor.get("method") or "GET", path)
    response = conn.getresponse()
    body = response.read(MAX_BODY)
    conn.close()
    if not _status_ok(response.status, monitor.get("accepted_statuscodes") or ["200-299"]):
        return DOWN, f"Request failed with status code {response.status}", cert
    if monitor["type"] == "keyword":
        if str(monitor.get("keyword") or "") not in body.decode(errors="replace"):
            return DOWN, f"{response.status} - {response.reason}, but keyword is not in [{body[:50]!r}]", cert
        return UP, f"{response.status} - {response.reason}, keyword is found", cert
    return UP, f"{response.status} - {response.reason}", cert


def check_port(monitor: Row) -> tuple[int, str, Row | None]:
    with socket.create_connection((str(monitor["hostname"]), int(monitor["port"])),
                                  timeout=float(monitor.get("timeout") or 48)):
        return UP, "", None


def check_dns(monitor: Row) -> tuple[int, str, Row | None]:
    query = dns.message.make_query(str(monitor["hostname"]), monitor.get("dns_resolve_type") or "A")
    server, port = str(monitor.get("dns_resolve_server") or "1.1.1.1"), int(monitor.get("port") or 53)
    answer = dns.query.udp(query, server, port=port, timeout=float(monitor.get("timeout") or 10))
    if answer.rcode() != dns.rcode.NOERROR or not answer.answer:
        return DOWN, f"DNS answer: {dns.rcode.to_text(answer.rcode())}", None
    return UP, "Records: " + " | ".join(r.to_text() for rrset in answer.answer for r in rrset), None


def check_docker(monitor: Row) -> tuple[int, str, Row | None]:
    """As 1.23: GET /containers/NAME/json on the monitor's Docker host (socket or tcp://); running is UP, or
    PENDING while its healthcheck is not healthy."""
    host = monitor.get("_docker_host")
    if host is None:
        return DOWN, "Failed to load docker host config", None
    timeout = float(monitor.get("interval") or 60) * 0.8
    daemon = str(host.get("dockerDaemon") or "")
    if host.get("dockerType") == "socket":
        conn: http.client.HTTPConnection = UnixHTTPConnection(daemon, timeout)
    else:
        url = urlsplit(daemon.replace("tcp://", "http://", 1))
        conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(url.hostname or "", url.port, timeout=timeout)
    conn.request("GET", f"/containers/{quote(str(monitor.get('docker_container') or ''))}/json",
                 headers={"Accept": "*/*", "User-Agent": "Uptime-Kuma/1.23.16"})
    response = conn.getresponse()
    body = response.read(MAX_BODY)
    conn.close()
    if response.status >= 400:
        return DOWN, f"Request failed with status code {response.status}", None
    state = json.loads(body)["State"]
    health = state.get("Health")
    if not state.get("Running"):
        return DOWN, f"Container State is {state.get('Status')}", None
    if health and health.get("Status") != "healthy":
        return PENDING, str(health.get("Status")), None
    return UP, str(health["Status"] if health else state.get("Status")), None


CHECKS = {"http": check_http, "keyword": check_http, "port": check_port, "dns": check_dns, "docker": check_docker}


def run_check(store: Store, monitor: Row) -> None:
    started = time.monotonic()
    if monitor["type"] == "docker":
        hosts = {h["id"]: h for h in store.docker_hosts()}
        monitor = monitor | {"_docker_host": hosts.get(monitor.get("docker_host"))}
    try:
        status, msg, cert = CHECKS[monitor["type"]](monitor)
    except (OSError, http.client.HTTPException, ValueError, KeyError, dns.exception.DNSException) as exc:
        status, msg, cert = DOWN, f"{type(exc).__name__}: {exc}", None
    ping = round((time.monotonic() - started) * 1000) if status == UP else None
    store.add_beat(monitor["id"], status, msg, ping, cert)


class Checker:
    """Runs each active monitor when its interval has passed; push monitors go DOWN when a push is overdue."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.next_due: dict[int, float] = {}
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.running: set[int] = set()
        self.pushed: dict[int, float] = {}
        self.lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.tick(time.monotonic())
            time.sleep(0.2)

    def tick(self, now: float) -> None:
        for monitor in self.store.monitors():
            if not monitor["active"]:
                continue
            due = self.next_due.setdefault(monitor["id"], now)
            if now < due:
                continue
            self.next_due[monitor["id"]] = now + max(1, int(monitor["interval"]))
            if monitor["type"] == "push":
                self._push_overdue(monitor, now)
            elif monitor["type"] in CHECKS:
                self._submit(monitor)

    def _push_overdue(self, monitor: Row, now: float) -> None:
        last, pushed = self.store.last_beat(monitor["id"]), self.pushed.setdefault(monitor["id"], now)
        if last is not None and last["status"] == UP and now - pushed > monitor["interval"]:
            self.store.add_beat(monitor["id"], DOWN, "No heartbeat in the time window", None)

    def restart(self, monitor_id: int) -> None:
        """Check at the next tick, as Kuma restarts a monitor that is edited or resumed."""
        self.next_due.pop(monitor_id, None)
        self.pushed.pop(monitor_id, None)

    def record_push(self, monitor_id: int) -> None:
        self.pushed[monitor_id] = time.monotonic()

    def _submit(self, monitor: Row) -> None:
        with self.lock:
            if monitor["id"] in self.running:
                return
            self.running.add(monitor["id"])

        def job() -> None:
            try:
                run_check(self.store, monitor)
            finally:
                with self.lock:
                    self.running.discard(monitor["id"])

        self.pool.submit(job)
