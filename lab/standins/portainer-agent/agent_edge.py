"""Edge mode: no listening port; poll Portainer's /api/endpoints/{id}/edge/status every `checkin` seconds and hand
the listed stacks to agent_stacks (agent edge/poll.go and edge/client/portainer_edge_client.go at 2.23.0: the poll,
its 8-entry ETag cache, and the two Edge stack calls). Every call verifies Portainer's certificate alike."""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import logging
import os
import ssl
import threading
import time
import urllib.parse
import zoneinfo
from collections import OrderedDict
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any, Protocol

VERSION = "2.23.0"
POLL_TIMEOUT = 10.0
CACHE_SIZE = 8  # client.reqCache: lru.New(8)
log = logging.getLogger("agent.edge")


@dataclass(frozen=True)
class EdgeKey:
    portainer_url: str
    tunnel_addr: str
    fingerprint: str
    endpoint_id: int


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: Message


class PortainerError(Exception):
    """Portainer refused an Edge stack call."""


class StackSink(Protocol):
    """What the poll hands the Edge stacks to (agent_stacks.StackManager)."""

    def update(self, polled: list[Any] | None) -> None: ...

    def reset(self) -> None: ...


def decode_key(key: str) -> EdgeKey:
    """EDGE_KEY = base64 RawStdEncoding of "<Portainer URL>|<tunnel host:port>|<fingerprint>|<endpoint id>"."""
    try:
        text = base64.b64decode(key.strip() + "=" * (-len(key.strip()) % 4), validate=True).decode()
        url, tunnel, fingerprint, ident = text.split("|")
        if not url.startswith(("https://", "http://")):
            raise ValueError(f"Portainer URL {url!r} is not http(s)")
        return EdgeKey(url.rstrip("/"), tunnel, fingerprint, int(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid EDGE_KEY ({exc})") from exc


def portainer_context(insecure: bool) -> ssl.SSLContext:
    """The system CAs, or SSL_CERT_FILE in their place (OpenSSL reads it as Go does); EDGE_INSECURE_POLL: none."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def call(context: ssl.SSLContext, method: str, url: str, headers: dict[str, str], body: bytes | None = None,
         timeout: float = POLL_TIMEOUT) -> Answer:
    """One request to Portainer. Every HTTP status is an answer; a transport or TLS failure raises OSError.
    http.client rather than urllib: Go sends no Content-Type of its own on the status PUT, urllib would."""
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.read(), response.headers)
    except http.client.HTTPException as exc:
        raise OSError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def time_zone() -> str:
    """Go's time.Local.String() (time/zoneinfo_unix.go initLocal): "Local" from /etc/localtime, the TZ name when
    it loads, else "UTC"."""
    tz = os.environ.get("TZ")
    if tz is None:
        return "Local" if os.path.isfile("/etc/localtime") else "UTC"
    tz = tz.removeprefix(":")
    if tz.startswith("/"):
        return ("Local" if tz == "/etc/localtime" else tz) if os.path.isfile(tz) else "UTC"
    if tz and tz != "UTC":
        try:
            zoneinfo.ZoneInfo(tz)
            return tz
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    return "UTC"


class EdgeClient:
    """PortainerEdgeClient's Edge stack calls, over the poller's TLS context (EDGE_INSECURE_POLL, SSL_CERT_FILE)."""

    def __init__(self, key: EdgeKey, edge_id: str, context: ssl.SSLContext, retry_wait: float,
                 stopped: threading.Event) -> None:
        self.key, self.edge_id, self.context = key, edge_id, context
        self.retry_wait, self.stopped = retry_wait, stopped

    def stack_config(self, ident: int, version: int) -> dict[str, Any]:
        """GetEdgeStackConfig: only the Edge ID header and ?version=N; anything but 200 fails."""
        url = f"{self.key.portainer_url}/api/endpoints/{self.key.endpoint_id}/edge/stacks/{ident}?version={version}"
        answer = call(self.context, "GET", url, {"X-PortainerAgent-EdgeID": self.edge_id})
        if answer.status != 200:
            log.error("GetEdgeStackConfig operation failed (response code %s, stack %s)", answer.status, ident)
            raise PortainerError("GetEdgeStackConfig operation failed")
        try:
            payload = json.loads(answer.body)
        except ValueError as exc:
            raise PortainerError(f"unreadable Edge stack config: {exc}") from exc
        if not isinstance(payload, dict):
            raise PortainerError("unreadable Edge stack config: not a JSON object")
        return payload

    def set_status(self, ident: int, status: int, error: str = "") -> bool:
        """SetEdgeStackStatus: retried every retry_wait on transport errors and 5xx; any other non-200 fails."""
        body = json.dumps({"Error": error, "Status": status, "EndpointID": self.key.endpoint_id,
                           "Time": int(time.time())}).encode()
        url = f"{self.key.portainer_url}/api/edge_stacks/{ident}/status"
        headers = {"X-PortainerAgent-EdgeID": self.edge_id, "X-Portainer-No-Body": "1"}
        while True:
            try:
                answer = call(self.context, "PUT", url, headers, body)
                if answer.status < 500:
                    break
                reason = f"{answer.status}"
            except OSError as exc:
                reason = str(exc)
            log.warning("could not set edge stack status (stack %s, status %s), retrying...: %s", ident, status, reason)
            if self.stopped.wait(self.retry_wait):
                return False
        if answer.status != 200:
            log.error("SetEdgeStackStatus operation failed (response code %s, stack %s)", answer.status, ident)
            return False
        log.info("Edge stack %s: status %s%s", ident, status, f" ({error})" if error else "")
        return True


class Poller(threading.Thread):
    """Polls with bounded timeouts and keeps going through every error; records the last good poll time."""

    def __init__(self, key: EdgeKey, edge_id: str, insecure: bool, state_file: Path | None = None,
                 interval: float = 5.0, stacks: StackSink | None = None) -> None:
        super().__init__(name="edge-poller", daemon=True)
        self.key, self.edge_id, self.state_file = key, edge_id, state_file
        self.context = portainer_context(insecure)
        self.checkin = interval  # until Portainer answers with its own `checkin`
        self.cache: OrderedDict[str, dict[str, Any]] = OrderedDict()  # ETag -> body, least recently used first
        self.stacks = stacks
        self.stopped = threading.Event()
        self.polls = 0

    def url(self) -> str:
        return f"{self.key.portainer_url}/api/endpoints/{self.key.endpoint_id}/edge/status"

    def headers(self) -> dict[str, str]:
        return {"If-None-Match": ",".join(self.cache), "Portainer-Agent": VERSION,
                "X-PortainerAgent-EdgeID": self.edge_id, "X-PortainerAgent-TimeZone": time_zone(),
                "Portainer-Agent-Platform": "1", "X-PortainerAgent-Update-ID": "0"}

    def poll_once(self) -> bool:
        try:
            answer = call(self.context, "GET", self.url(), self.headers())
        except OSError as exc:
            log.warning("edge check-in failed: %s", exc)
            return False
        etag = answer.headers.get("ETag", "")
        if answer.status == 304 and etag in self.cache:  # cachedResponse: the body cached for that ETag
            self.cache.move_to_end(etag)
            body = self.cache[etag]
            log.info("edge check-in ok (not modified)")
        elif answer.status != 200:
            log.warning("edge check-in refused: %s %s", answer.status, answer.body[:300].decode(errors="replace"))
            if self.stacks is not None:  # poll.go: a NonOkResponseError makes the agent forget its Edge stacks
                self.stacks.reset()
            return False
        else:
            try:
                body = json.loads(answer.body or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the answer is not a JSON object")
            except ValueError as exc:
                log.warning("edge check-in failed: %s", exc)
                return False
            self._remember(etag, body)
            log.info("edge check-in ok: status=%s checkin=%ss", body.get("status"), body.get("checkin"))
        self.checkin = float(body.get("checkin") or self.checkin)
        self.polls += 1
        if self.state_file is not None:
            self.state_file.write_text(json.dumps({"time": time.time(), "checkin": self.checkin}))
        if self.stacks is not None:
            self.stacks.update(body.get("stacks"))
        return True

    def _remember(self, etag: str, body: dict[str, Any]) -> None:
        if not etag:
            return
        self.cache[etag] = body
        self.cache.move_to_end(etag)
        while len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)

    def run(self) -> None:
        log.info("edge mode: polling %s every %ss (Edge ID %s)", self.url(), self.checkin, self.edge_id)
        while not self.stopped.is_set():
            self.poll_once()
            self.stopped.wait(self.checkin)
