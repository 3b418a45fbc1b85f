"""Portainer CE 2.23.0 stand-in: `python3 standin.py [--data /data] [--bind-https :9443] [--http-enabled] ...`.

Listeners as upstream: HTTPS :9443 (self-signed, HTTP/1.1 only), HTTP :9000 only with --http-enabled, and the
Edge tunnel port :8000 (accepts and closes: no chisel tunnel). `--healthcheck` probes a running instance.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import ssl
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

from pt_app import App, Config
from pt_snapshots import SnapshotLoop
from pt_web import HttpError, Request, read_body
from standin_serve import QuietServer as Server
from standin_serve import serve_until_signal

log = logging.getLogger("portainer")


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: App

    def send_response(self, code: int, message: str | None = None) -> None:  # no Server header, like Go
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _serve(self) -> None:
        split = urllib.parse.urlsplit(self.path)
        req = Request(self.command, urllib.parse.unquote(split.path),
                      urllib.parse.parse_qs(split.query, keep_blank_values=True), self.headers, self._body(),
                      split.query)
        try:
            response = self.app.handle(req)
        except Exception as exc:
            log.exception("handler failed: %s %s", self.command, self.path)
            response = HttpError(500, "Internal server error", str(exc)).response()
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _body(self) -> bytes:
        return read_body(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def split_address(value: str, default_host: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]") or default_host, int(port)


def seconds(value: str) -> float:
    """Go-style durations ("5m", "30s", "1h", "1.5") as seconds."""
    total, units = 0.0, {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "": 1.0}
    for number, unit in re.findall(r"([\d.]+)(ms|h|m|s|)", value.strip()):
        total += float(number) * units[unit]
    return total


def listener(app: App, address: tuple[str, int], tls: bool) -> Server:
    handler = type("BoundHandler", (ApiHandler,), {"app": app})
    server = Server(address, handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(*map(str, app.tls_files))
        context.set_alpn_protocols(["http/1.1"])  # HTTP/2 disabled, as upstream
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    log.info("listening on %s:%s (%s)", *address, "https" if tls else "http")
    return server


def tunnel_listener(address: tuple[str, int]) -> socket.socket:
    """The Edge tunnel port: accepts TCP and closes at once (the stand-in has no chisel server)."""
    sock = socket.create_server(address, reuse_port=False)

    def accept() -> None:
        while True:
            conn, _ = sock.accept()
            conn.close()

    threading.Thread(target=accept, name="tunnel", daemon=True).start()
    log.info("edge tunnel port on %s:%s (accept-and-close stand-in)", *address)
    return sock


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", "-d", default=env("DATA_PATH", "/data"))
    parser.add_argument("--bind", default=":9000", help="HTTP address (served only with --http-enabled)")
    parser.add_argument("--bind-https", default=":9443")
    parser.add_argument("--tunnel-port", default="8000")
    parser.add_argument("--tunnel-addr", default="")
    all_interfaces = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface, as upstream
    parser.add_argument("--host-ip", default=env("BIND_HOST", all_interfaces), help="default host for listeners")
    parser.add_argument("--http-enabled", action="store_true")
    parser.add_argument("--http-disabled", action="store_true", help="accepted for compatibility (the default)")
    parser.add_argument("--edge-compute", action="store_true", help="EnableEdgeComputeFeatures, set at every start")
    parser.add_argument("--admin-init-timeout", default=env("ADMIN_INIT_TIMEOUT", "300"))
    parser.add_argument("--snapshot-interval", default=env("SNAPSHOT_INTERVAL", "300"))
    parser.add_argument("--edge-checkin", type=int, default=int(env("EDGE_CHECKIN_INTERVAL", "5")))
    parser.add_argument("--heartbeat-slack", type=int, default=int(env("HEARTBEAT_SLACK", "20")))
    parser.add_argument("--log-level", default=env("LOG_LEVEL", "INFO"))
    parser.add_argument("--healthcheck", action="store_true", help="probe GET /api/system/status and exit")
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"portainer stand-in: ignoring unsupported arguments {unknown}", file=sys.stderr)
    return args


def healthcheck(args: argparse.Namespace) -> int:
    host, port = split_address(args.bind_https, "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - a comparison, not a bind
    context = ssl._create_unverified_context()  # noqa: S323 - our own self-signed certificate
    try:
        with urllib.request.urlopen(f"https://{host}:{port}/api/system/status", context=context, timeout=5) as r:
            return 0 if r.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.healthcheck:
        return healthcheck(args)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config(Path(args.data), os.environ.get("AGENT_SECRET", ""), seconds(args.admin_init_timeout),
                    seconds(args.snapshot_interval), args.edge_checkin, args.heartbeat_slack, int(args.tunnel_port),
                    args.edge_compute)
    app = App(config)
    servers = [listener(app, split_address(args.bind_https, args.host_ip), tls=True)]
    if args.http_enabled:
        servers.append(listener(app, split_address(args.bind, args.host_ip), tls=False))
    tunnel_listener((args.tunnel_addr or args.host_ip, int(args.tunnel_port)))
    SnapshotLoop(app).start()
    app.gitops.resume_all()
    log.info("Portainer CE 2.23.0 stand-in ready (instance %s)", app.store.data["instance_id"])
    serve_until_signal(servers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
