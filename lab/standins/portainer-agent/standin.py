"""Portainer Agent 2.23.0 stand-in: `python3 standin.py` (configured by the agent's own environment variables).

Standard mode: HTTPS-only API on AGENT_HOST:AGENT_PORT (0.0.0.0:9001), /ping unauthenticated, every other request
must be signed by Portainer and is proxied to the Docker socket. Edge mode (EDGE=1): no port, polls Portainer and
deploys the Edge stacks it lists (agent_stacks.py).
`python3 standin.py --healthcheck` probes a running instance (both modes).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

import agent_edge as edge
import agent_notary as notary
import agent_stacks as stacks
from standin_serve import QuietServer as Server
from standin_serve import serve_until_signal
from unixhttp import UnixHTTPConnection

VERSION, API_VERSION, PLATFORM = "2.23.0", "2", "1"
AGENT_HEADERS = (("Portainer-Agent", VERSION), ("Portainer-Agent-API-Version", API_VERSION),
                 ("Portainer-Agent-Platform", PLATFORM))
VERSION_PREFIX = re.compile(r"^/v\d+(\.\d+)?(?=/)")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
DOCKER_TIMEOUT = 120.0
EDGE_STATE = Path(tempfile.gettempdir()) / "portainer-edge-agent.json"
log = logging.getLogger("agent")


class AgentHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    notary: notary.Notary
    docker_socket: str

    def send_response(self, code: int, message: str | None = None) -> None:
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        for name, value in AGENT_HEADERS:
            self.send_header(name, value)

    def _reply(self, status: int, body: bytes = b"", headers: list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, message: str, details: str) -> None:
        body = json.dumps({"message": message, "details": details}).encode()
        self._reply(status, body, [("Content-Type", "application/json")])

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/ping", "/v2/ping"):
            self._reply(204)
            return
        problem = self.notary.check(self.headers.get("X-PortainerAgent-PublicKey", ""),
                                    self.headers.get("X-PortainerAgent-Signature", ""))
        if problem is not None:
            self._error(403, problem, "Unauthorized")
            return
        self._proxy(body)

    def _proxy(self, body: bytes) -> None:
        target = VERSION_PREFIX.sub("", self.path, count=1)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "x-registry-auth", "accept")}
        conn = UnixHTTPConnection(self.docker_socket, DOCKER_TIMEOUT)
        try:
            conn.request(self.command, target, body=body or None, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._error(502, "Unable to reach the Docker engine", f"{type(exc).__name__}: {exc}")
            return
        finally:
            conn.close()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_HEADERS]
        self._reply(response.status, payload, kept)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def advertise_address() -> str:
    explicit = os.environ.get("AGENT_ADVERTISE_ADDR", "")
    if explicit:
        return explicit
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def duration(value: str) -> float:
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(h|m|s|)", value))


def run_standard(env: dict[str, str]) -> Server:
    checker = notary.Notary(env.get("AGENT_SECRET", ""))
    handler = type("BoundAgentHandler", (AgentHandler,), {
        "notary": checker,
        "docker_socket": env.get("DOCKER_SOCKET", "/var/run/docker.sock")})
    address = (env.get("AGENT_HOST", "0.0.0.0"), int(env.get("AGENT_PORT", "9001")))  # noqa: S104 - as upstream
    server = Server(address, handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(*map(str, notary.self_signed(advertise_address())))
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    log.info("agent API listening on https://%s:%s (secret: %s)", *address, "yes" if env.get("AGENT_SECRET") else "no")
    if not env.get("AGENT_SECRET"):
        threading.Thread(target=_secret_timeout, args=(server, checker,
                         duration(env.get("AGENT_SECRET_TIMEOUT", "72h"))), daemon=True).start()
    return server


def _secret_timeout(server: Server, checker: notary.Notary, seconds: float) -> None:
    """No Portainer associated in time: stop serving the API but keep the process alive, as upstream."""
    time.sleep(seconds)
    if not checker.associated:
        log.warning("no Portainer instance associated within %ss: shutting down the API server", seconds)
        server.shutdown()
        server.server_close()


def run_edge(env: dict[str, str]) -> edge.Poller:
    if not env.get("EDGE_ID"):
        raise SystemExit("EDGE_ID is required when EDGE=1")
    if not env.get("EDGE_KEY"):
        raise SystemExit("EDGE_KEY is required by the stand-in (it has no key-association UI)")
    insecure = env.get("EDGE_INSECURE_POLL", "").lower() in ("1", "true")
    key = edge.decode_key(env["EDGE_KEY"])
    poller = edge.Poller(key, env["EDGE_ID"], insecure, EDGE_STATE, float(env.get("EDGE_POLL_INTERVAL", "5")))
    settings = stacks.Settings.from_env(env)
    # The stack calls share the poller's TLS settings (EDGE_INSECURE_POLL, SSL_CERT_FILE), as upstream's one client.
    client = edge.EdgeClient(key, env["EDGE_ID"], poller.context, settings.retry_wait, poller.stopped)
    manager = stacks.StackManager(client, env["EDGE_ID"], settings)
    poller.stacks = manager
    manager.start()
    poller.start()
    return poller


def is_edge(env: dict[str, str]) -> bool:
    return env.get("EDGE", "").lower() in ("1", "true")


def healthcheck(env: dict[str, str]) -> int:
    if is_edge(env):
        try:
            state = json.loads(EDGE_STATE.read_text())
        except (OSError, ValueError):
            return 1
        return 0 if time.time() - state["time"] <= 3 * state["checkin"] + 20 else 1
    context = ssl._create_unverified_context()  # noqa: S323 - the agent's own self-signed certificate
    conn = http.client.HTTPSConnection("127.0.0.1", int(env.get("AGENT_PORT", "9001")), timeout=5, context=context)
    try:
        conn.request("GET", "/ping")
        return 0 if conn.getresponse().status == 204 else 1
    except OSError:
        return 1
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    if "--healthcheck" in (sys.argv[1:] if argv is None else argv):
        return healthcheck(env)
    logging.basicConfig(level=env.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.info("Portainer Agent %s stand-in starting (%s mode)", VERSION, "edge" if is_edge(env) else "standard")
    if is_edge(env):
        run_edge(env)
        serve_until_signal()  # Edge mode listens nowhere: the poller's threads do the work
    else:
        serve_until_signal([run_standard(env)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
