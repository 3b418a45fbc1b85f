"""State of the Technitium stand-in: settings, users, sessions, zones and records, persisted as one JSON file."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tdns_stats import QueryLog

VERSION = "13.6"
SESSION_IDLE_SECONDS = 30 * 60
RECURSION_VALUES = ("Deny", "Allow", "AllowOnlyForPrivateNetworks", "UseSpecifiedNetworkACL")
DEFAULT_RECORD_TTL = 3600
DEFAULT_NS_TTL = 14400
DEFAULT_SOA_TTL = 900


class ApiError(Exception):
    """An error the API reports as `status: error` with this message."""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def fqdn(name: str) -> str:
    return name.strip().rstrip(".").lower()


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


@dataclass
class Store:
    """Everything the stand-in keeps; one lock guards all of it."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    queries: QueryLog = field(default_factory=QueryLog)  # the dashboard's statistics, in memory only

    @classmethod
    def open(cls, data_dir: Path, env: dict[str, str]) -> Store:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = cls(data_dir / "standin-state.json")
        if store.path.exists():
            store.data = json.loads(store.path.read_text())
        else:
            store.data = first_start_state(env)
            store.save()
        return store

    def save(self) -> None:
        with self.lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

    @property
    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = self.data["settings"]
        return settings

    @property
    def zones(self) -> dict[str, dict[str, Any]]:
        zones: dict[str, dict[str, Any]] = self.data["zones"]
        return zones

    # --- users and tokens -------------------------------------------------------------------------------------
    def check_password(self, user: str, password: str) -> bool:
        known = self.data["users"].get(user)
        return known is not None and secrets.compare_digest(known["password"], password)

    def set_password(self, user: str, password: str) -> None:
        with self.lock:
            self.data["users"][user]["password"] = password
            self.save()

    def new_token(self, user: str, kind: str, name: str = "") -> str:
        token = secrets.token_hex(32)
        with self.lock:
            self.data["tokens"][token] = {"user": user, "type": kind, "tokenName": name, "lastSeen": time.time()}
            self.save()
        return token

    def token_user(self, token: str) -> str | None:
        """The user a live token belongs to; sessions expire after 30 minutes idle, API tokens never."""
        with self.lock:
            entry = self.data["tokens"].get(token)
            if entry is None:
                return None
            if entry["type"] == "session" and time.time() - entry["lastSeen"] > SESSION_IDLE_SECONDS:
                del self.data["tokens"][token]
                self.save()
                return None
            entry["lastSeen"] = time.time()
            return str(entry["user"])

    def drop_token(self, token: str) -> None:
        with self.lock:
            self.data["tokens"].pop(token, None)
            self.save()

    # --- zones ------------------------------------------------------------------------------------------------
    def create_zone(self, name: str, kind: str) -> dict[str, Any]:
        name = fqdn(name)
        with self.lock:
            if name in self.zones:
                raise ApiError(f"Zone already exists: {name}")
            server = self.settings["dnsServerDomain"]
            self.zones[name] = {"name": name, "type": kind, "disabled": False, "lastModified": now_iso(),
                                "records": [
                                    record(name, "SOA", DEFAULT_SOA_TTL, soa_rdata(name, server, 1)),
                                    record(name, "NS", DEFAULT_NS_TTL, {"nameServer": server})]}
            self.save()
            return self.zones[name]

    def zone(self, name: str) -> dict[str, Any]:
        found = self.zones.get(fqdn(name))
        if found is None:
            raise ApiError(f"No such zone was found: {fqdn(name)}")
        return found

    def closest_zone(self, name: str) -> dict[str, Any] | None:
        """The enabled zone with the longest name that contains `name`, as authoritative lookups need."""
        name = fqdn(name)
        candidates = [z for z in self.zones.values() if in_zone(name, z["name"]) and not z["disabled"]]
        return max(candidates, key=lambda z: len(z["name"]), default=None)

    def delete_zone(self, name: str) -> None:
        with self.lock:
            self.zone(name)
            del self.zones[fqdn(name)]
            self.save()

    def touch(self, zone: dict[str, Any]) -> None:
        """Bump the SOA serial and the modification time after a change, then persist."""
        for rec in zone["records"]:
            if rec["type"] == "SOA":
                rec["rData"]["serial"] += 1
        zone["lastModified"] = now_iso()
        self.save()


def record(name: str, kind: str, ttl: int, rdata: dict[str, Any]) -> dict[str, Any]:
    return {"disabled": False, "name": name, "type": kind, "ttl": ttl, "rData": rdata,
            "dnssecStatus": "Unknown", "lastUsedOn": "0001-01-01T00:00:00"}


def soa_rdata(zone: str, server: str, serial: int) -> dict[str, Any]:
    return {"primaryNameServer": server, "responsiblePerson": f"hostadmin.{zone}", "serial": serial,
            "refresh": 900, "retry": 300, "expire": 604800, "minimum": 900}


def zone_soa_serial(zone: dict[str, Any]) -> int:
    return next((int(r["rData"]["serial"]) for r in zone["records"] if r["type"] == "SOA"), 0)


def first_start_state(env: dict[str, str]) -> dict[str, Any]:
    """The state a fresh data directory starts with, from the image's documented environment variables."""
    password = env.get("DNS_SERVER_ADMIN_PASSWORD") or "admin"
    password_file = env.get("DNS_SERVER_ADMIN_PASSWORD_FILE")
    if password_file and Path(password_file).is_file():
        password = Path(password_file).read_text().strip()
    recursion = env.get("DNS_SERVER_RECURSION") or "AllowOnlyForPrivateNetworks"
    if recursion not in RECURSION_VALUES:
        raise SystemExit(f"DNS_SERVER_RECURSION={recursion!r} is not one of {', '.join(RECURSION_VALUES)}")
    acl = [a.strip() for a in env.get("DNS_SERVER_RECURSION_NETWORK_ACL", "").split(",") if a.strip()]
    forwarders = [a.strip() for a in env.get("DNS_SERVER_FORWARDERS", "").split(",") if a.strip()]
    domain = env.get("DNS_SERVER_DOMAIN") or os.uname().nodename
    return {
        "settings": default_settings(domain, recursion, acl, forwarders),
        "users": {"admin": {"password": password, "displayName": "Administrator"}},
        "tokens": {},
        "zones": {},
    }


def default_settings(domain: str, recursion: str, acl: list[str], forwarders: list[str]) -> dict[str, Any]:
    return {
        "version": VERSION, "uptimestamp": now_iso(), "dnsServerDomain": domain,
        "dnsServerLocalEndPoints": ["0.0.0.0:53", "[::]:53"], "defaultRecordTtl": DEFAULT_RECORD_TTL,
        "defaultNsRecordTtl": DEFAULT_NS_TTL, "defaultSoaRecordTtl": DEFAULT_SOA_TTL,
        "webServiceLocalAddresses": ["[::]"], "webServiceHttpPort": 5380, "webServiceEnableTls": False,
        "webServiceTlsPort": 53443, "enableDnsOverUdpProxy": False, "enableDnsOverTcpProxy": False,
        "enableDnsOverHttp": False, "enableDnsOverTls": False, "enableDnsOverHttps": False,
        "enableDnsOverHttp3": False, "enableDnsOverQuic": False, "dnsOverHttpPort": 80, "dnsOverTlsPort": 853,
        "dnsOverHttpsPort": 443, "dnsOverQuicPort": 853, "dnsTlsCertificatePath": None,
        "recursion": recursion, "recursionNetworkACL": acl, "forwarders": forwarders or None,
        "forwarderProtocol": "Udp", "enableBlocking": True, "blockListUrls": None, "preferIPv6": False,
        "logQueries": False, "qpmLimitRequests": 0, "cacheMaximumEntries": 10000,
    }
