"""Edge mode: no listening port; poll Portainer's /api/endpoints/{id}/edge/status every `checkin` seconds."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VERSION = "2.23.0"
POLL_TIMEOUT = 10.0
log = logging.getLogger("agent.edge")


@dataclass(frozen=True)
class EdgeKey:
    portainer_url: str
    tunnel_addr: str
    fingerprint: str
    endpoint_id: int


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


class Poller(threading.Thread):
    """Polls with bounded timeouts and keeps going through every error; records the last good poll time."""

    def __init__(self, key: EdgeKey, edge_id: str, insecure: bool, state_file: Path | None = None,
                 interval: float = 5.0) -> None:
        super().__init__(name="edge-poller", daemon=True)
        self.key, self.edge_id, self.state_file = key, edge_id, state_file
        self.context = ssl.create_default_context()
        if insecure:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.checkin = interval  # until Portainer answers with its own `checkin`
        self.etag = ""
        self.stopped = threading.Event()
        self.polls = 0

    def url(self) -> str:
        return f"{self.key.portainer_url}/api/endpoints/{self.key.endpoint_id}/edge/status"

    def poll_once(self) -> bool:
        headers = {"X-PortainerAgent-EdgeID": self.edge_id, "Portainer-Agent-Platform": "1",
                   "Portainer-Agent": VERSION}
        if self.etag:
            headers["If-None-Match"] = self.etag
        request = urllib.request.Request(self.url(), headers=headers)  # noqa: S310 - http(s) checked in decode_key
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=POLL_TIMEOUT) as response:  # noqa: S310
                body = json.loads(response.read() or b"{}")
                self.etag = response.headers.get("ETag", "")
                self.checkin = float(body.get("checkin") or self.checkin)
                log.info("edge check-in ok: status=%s checkin=%ss", body.get("status"), body.get("checkin"))
        except urllib.error.HTTPError as exc:
            if exc.code != 304:
                log.warning("edge check-in refused: %s %s", exc.code, exc.read()[:300].decode(errors="replace"))
                return False
            log.info("edge check-in ok (not modified)")
        except (OSError, ValueError) as exc:
            log.warning("edge check-in failed: %s", exc)
            return False
        self.polls += 1
        if self.state_file is not None:
            self.state_file.write_text(json.dumps({"time": time.time(), "checkin": self.checkin}))
        return True

    def run(self) -> None:
        log.info("edge mode: polling %s every %ss (Edge ID %s)", self.url(), self.checkin, self.edge_id)
        while not self.stopped.is_set():
            self.poll_once()
            self.stopped.wait(self.checkin)
