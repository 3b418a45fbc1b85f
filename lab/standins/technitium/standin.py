"""Technitium DNS Server stand-in: HTTP API (5380) and DNS over UDP and TCP (53), state in one JSON file.

Environment: the image's DNS_SERVER_* variables (read on first start), plus STANDIN_BIND, STANDIN_DNS_PORT,
STANDIN_HTTP_PORT, STANDIN_DATA_DIR and STANDIN_PRIVATE_NETWORKS (see README.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

from standin_serve import serve_until_signal
from tdns_api import Api, ApiServer
from tdns_dns import DnsTcpServer, DnsUdpServer, parse_networks
from tdns_store import Store


def main() -> None:
    env = dict(os.environ)
    bind = env.get("STANDIN_BIND", "0.0.0.0")  # noqa: S104 - a container serves every interface it has
    dns_port = int(env.get("STANDIN_DNS_PORT", "53"))
    http_port = int(env.get("STANDIN_HTTP_PORT", "5380"))
    store = Store.open(Path(env.get("STANDIN_DATA_DIR", "/etc/dns")), env)
    private = parse_networks(env.get("STANDIN_PRIVATE_NETWORKS"))
    servers = [DnsUdpServer((bind, dns_port), store, private), DnsTcpServer((bind, dns_port), store, private),
               ApiServer((bind, http_port), Api(store))]
    print(f"technitium stand-in: DNS {bind}:{dns_port} udp+tcp, API http://{bind}:{http_port}/", flush=True)
    serve_until_signal(servers)  # every change is already on disk: nothing else to save


if __name__ == "__main__":
    main()
