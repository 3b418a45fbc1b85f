"""Technitium DNS Server stand-in: HTTP API (5380) and DNS over UDP and TCP (53), state in one JSON file.

Environment: the image's DNS_SERVER_* variables (read on first start), plus STANDIN_BIND, STANDIN_DNS_PORT,
STANDIN_HTTP_PORT, STANDIN_DATA_DIR and STANDIN_PRIVATE_NETWORKS (see README.md).
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

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
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"technitium stand-in: DNS {bind}:{dns_port} udp+tcp, API http://{bind}:{http_port}/", flush=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stop.wait()
    for server in servers:  # every change is already on disk: close the sockets, the daemon threads end with us
        server.server_close()


if __name__ == "__main__":
    main()
