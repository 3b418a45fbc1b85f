"""A local Docker API proxy for one environment (api/http/proxy/factory/agent.go NewAgentProxy at 2.23.0).

`docker compose` is pointed at it (its host option: TCP on 127.0.0.1:PORT); each request is forwarded to the
environment with pt_agentclient.call, which adds the agent's signature headers (X-PortainerAgent-PublicKey and
-Signature).
Requests and answers are buffered: enough for `up -d`, `pull` and `down`, not for attach/hijack.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pt_agentclient as agentclient
from pt_keys import AgentSigner
from pt_web import read_body

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
PROXY_TIMEOUT = 600.0  # image pulls stream for a while


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AgentProxy

    def _forward(self) -> None:
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            reply = agentclient.call(self.server.endpoint, self.server.signer, self.command, self.path, body,
                                     headers, timeout=PROXY_TIMEOUT)
        except agentclient.TargetError as exc:
            reply = agentclient.Reply(502, {"Content-Type": "text/plain"}, f"{exc}\n".encode())
        self.send_response_only(reply.status)
        for name, value in reply.headers.items():
            if name.lower() not in HOP_HEADERS:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    def _body(self) -> bytes:
        return read_body(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


class AgentProxy(ThreadingHTTPServer):
    """Listens on 127.0.0.1:<ephemeral>; `with AgentProxy(...) as proxy:` closes it afterwards, as upstream's
    ComposeStackManager defers proxy.Close()."""

    daemon_threads = True

    def __init__(self, endpoint: dict[str, Any], signer: AgentSigner) -> None:
        self.endpoint, self.signer = endpoint, signer
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, name="agent-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.server_address[1]}"

    def __exit__(self, *args: Any) -> None:
        self.shutdown()
        self.server_close()
