"""Real DNS on UDP and TCP: authoritative answers from the zones; recursion policy for everything else.

There is no internet in the lab, so a recursive query that policy allows is answered SERVFAIL with RA set,
and one it does not allow is REFUSED with RA clear, which is what Technitium sends in both cases.
"""

from __future__ import annotations

import ipaddress
import socketserver
import struct
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from tdns_records import to_wire_rdata
from tdns_store import Store, fqdn, in_zone

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RFC_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
               "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10")
MAX_CNAME_CHAIN = 8


def parse_networks(text: str | None) -> list[Network]:
    """Comma-separated CIDRs (STANDIN_PRIVATE_NETWORKS); unset means the RFC private, CGNAT and loopback ranges."""
    items = [t.strip() for t in text.split(",") if t.strip()] if text else list(RFC_PRIVATE)
    return [ipaddress.ip_network(item, strict=False) for item in items]


def _client(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def acl_allows(acl: list[str], address: str) -> bool:
    """Technitium's network ACL: first match wins, `!` denies, no match denies except for loopback."""
    ip = _client(address)
    for entry in acl:
        deny = entry.startswith("!")
        if ip in ipaddress.ip_network(entry.lstrip("!"), strict=False):
            return not deny
    return ip.is_loopback


def recursion_allowed(settings: dict[str, Any], private: list[Network], address: str) -> bool:
    mode = settings["recursion"]
    if mode == "Allow":
        return True
    if mode == "AllowOnlyForPrivateNetworks":
        ip = _client(address)
        return any(ip in net for net in private if net.version == ip.version)
    if mode == "UseSpecifiedNetworkACL":
        return acl_allows(settings.get("recursionNetworkACL") or [], address)
    return False


def _rrset(name: str, kind: str, records: list[dict[str, Any]]) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.from_text(kind))
    for rec in records:
        rrset.add(to_wire_rdata(kind, rec["rData"]), ttl=int(rec["ttl"]))
    return rrset


def _soa_authority(zone: dict[str, Any]) -> dns.rrset.RRset:
    soa = [r for r in zone["records"] if r["type"] == "SOA"]
    rrset = _rrset(zone["name"], "SOA", soa)
    rrset.update_ttl(min(int(soa[0]["ttl"]), int(soa[0]["rData"]["minimum"])))
    return rrset


def _answer_from_zone(response: dns.message.Message, zone: dict[str, Any], name: str, qtype: str) -> None:
    """Fill answer (following CNAMEs inside the zone), or NXDOMAIN / NODATA with the zone's SOA."""
    for _ in range(MAX_CNAME_CHAIN):
        live = [r for r in zone["records"] if not r["disabled"] and r["name"] == name]
        cname = [r for r in live if r["type"] == "CNAME"]
        if cname and qtype not in ("CNAME", "ANY"):
            response.answer.append(_rrset(name, "CNAME", cname))
            name = fqdn(cname[0]["rData"]["cname"])
            if not in_zone(name, zone["name"]):
                return
            continue
        wanted = [r for r in live if qtype in ("ANY", r["type"])]
        for kind in dict.fromkeys(r["type"] for r in wanted):
            response.answer.append(_rrset(name, kind, [r for r in wanted if r["type"] == kind]))
        if not wanted and not response.answer:
            exists = any(r["name"] == name or r["name"].endswith("." + name) for r in zone["records"])
            response.set_rcode(dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN)
            response.authority.append(_soa_authority(zone))
        return


def resolve(store: Store, private: list[Network], query: dns.message.Message, client: str) -> dns.message.Message:
    response = dns.message.make_response(query)
    response.flags &= ~dns.flags.RA
    if query.opcode() != dns.opcode.QUERY or len(query.question) != 1:
        response.set_rcode(dns.rcode.NOTIMP if query.opcode() != dns.opcode.QUERY else dns.rcode.FORMERR)
        return response
    question = query.question[0]
    name, qtype = fqdn(question.name.to_text()), dns.rdatatype.to_text(question.rdtype)
    with store.lock:
        allowed = recursion_allowed(store.settings, private, client)
        if allowed:
            response.flags |= dns.flags.RA
        zone = store.closest_zone(name)
        if zone is not None:
            response.flags |= dns.flags.AA
            _answer_from_zone(response, zone, name, qtype)
        else:
            response.set_rcode(dns.rcode.SERVFAIL if allowed else dns.rcode.REFUSED)
    how = "totalAuthoritative" if zone is not None else "totalRecursive" if allowed else ""
    store.queries.add(dns.rcode.to_text(response.rcode()), how, _client(client).compressed, name, qtype)
    return response


def answer_wire(store: Store, private: list[Network], wire: bytes, client: str, limit: int) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    response = resolve(store, private, query, client)
    size = max(limit, query.payload if query.edns >= 0 else 512)
    try:
        return response.to_wire(max_size=size)
    except dns.exception.TooBig:
        truncated = dns.message.make_response(query)
        truncated.flags = response.flags | dns.flags.TC
        return truncated.to_wire()


class _UdpHandler(socketserver.BaseRequestHandler):
    server: DnsUdpServer

    def handle(self) -> None:
        wire, sock = self.request
        reply = answer_wire(self.server.store, self.server.private, wire, self.client_address[0], 512)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: DnsTcpServer

    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            while header := self._read(2):
                wire = self._read(struct.unpack("!H", header)[0])
                reply = answer_wire(self.server.store, self.server.private, wire, self.client_address[0], 65535)
                if reply is None:
                    return
                self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return b""
            data += chunk
        return data


class DnsUdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: Store, private: list[Network]) -> None:
        self.store, self.private = store, private
        super().__init__(address, _UdpHandler)


class DnsTcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], store: Store, private: list[Network]) -> None:
        self.store, self.private = store, private
        super().__init__(address, _TcpHandler)
