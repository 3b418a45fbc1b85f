"""Record types the stand-in serves: API parameters -> Technitium `rData` -> DNS wire rdata (dnspython)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype
from tdns_store import ApiError, fqdn

Params = Callable[[str], str | None]


def required(params: Params, name: str) -> str:
    value = params(name)
    if value is None or value == "":
        raise ApiError(f"Parameter '{name}' missing.")
    return value


def _address(params: Params, version: int) -> dict[str, Any]:
    text = required(params, "ipAddress")
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise ApiError(f"An invalid IP address was specified: {text}") from exc
    if address.version != version:
        raise ApiError(f"An invalid IP address was specified: {text}")
    return {"ipAddress": str(address)}


def _txt(params: Params) -> dict[str, Any]:
    return {"text": required(params, "text"), "splitText": (params("splitText") or "false").lower() == "true"}


def _mx(params: Params) -> dict[str, Any]:
    return {"preference": int(params("preference") or "10"), "exchange": fqdn(required(params, "exchange"))}


def _srv(params: Params) -> dict[str, Any]:
    return {"priority": int(required(params, "priority")), "weight": int(required(params, "weight")),
            "port": int(required(params, "port")), "target": fqdn(required(params, "target"))}


# type -> builder of rData from request parameters
BUILDERS: dict[str, Callable[[Params], dict[str, Any]]] = {
    "A": lambda p: _address(p, 4),
    "AAAA": lambda p: _address(p, 6),
    "CNAME": lambda p: {"cname": fqdn(required(p, "cname"))},
    "TXT": _txt,
    "MX": _mx,
    "NS": lambda p: {"nameServer": fqdn(required(p, "nameServer"))},
    "PTR": lambda p: {"ptrName": fqdn(required(p, "ptrName"))},
    "SRV": _srv,
}

# type -> the rData keys that identify one record of an RRset (for delete)
IDENTITY = {"A": ("ipAddress",), "AAAA": ("ipAddress",), "CNAME": (), "TXT": ("text",), "MX": ("exchange",),
            "NS": ("nameServer",), "PTR": ("ptrName",), "SRV": ("target", "port")}


def build_rdata(kind: str, params: Params) -> dict[str, Any]:
    builder = BUILDERS.get(kind)
    if builder is None:
        raise ApiError(f"The record type is not supported by this stand-in: {kind}")
    try:
        return builder(params)
    except ValueError as exc:
        raise ApiError(f"Invalid value for {kind} record: {exc}") from exc


def matches(kind: str, stored: dict[str, Any], params: Params) -> bool:
    """Whether a stored record is the one a delete request names."""
    wanted = build_rdata(kind, params) if IDENTITY[kind] else {}
    return all(str(stored.get(key)) == str(wanted.get(key)) for key in IDENTITY[kind])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_text(kind: str, rdata: dict[str, Any]) -> str:
    """The zone-file text of one rData, as dnspython parses it."""
    if kind in ("A", "AAAA"):
        return str(rdata["ipAddress"])
    if kind == "TXT":
        text = str(rdata["text"])
        chunks = [text[i:i + 255] for i in range(0, len(text), 255)] or [""]
        return " ".join(_quote(chunk) for chunk in chunks)
    if kind == "SOA":
        return (f"{rdata['primaryNameServer']}. {rdata['responsiblePerson']}. {rdata['serial']} {rdata['refresh']} "
                f"{rdata['retry']} {rdata['expire']} {rdata['minimum']}")
    if kind == "MX":
        return f"{rdata['preference']} {rdata['exchange']}."
    if kind == "SRV":
        return f"{rdata['priority']} {rdata['weight']} {rdata['port']} {rdata['target']}."
    single = {"CNAME": "cname", "NS": "nameServer", "PTR": "ptrName"}
    return f"{rdata[single[kind]]}."


def to_wire_rdata(kind: str, rdata: dict[str, Any]) -> dns.rdata.Rdata:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(kind), to_text(kind, rdata))
