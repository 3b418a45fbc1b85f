"""Which management APIs must refuse a request without credentials, and how each refuses (the upstream servers' own
answers at the pinned tags). Asked through NPM by each service's name, as a browser or a script on the LAN would.

A service with a name and no entry here fails HARD-AUTH-001 until one is added: a new UI is never assumed safe.
Prometheus and Ollama have no login at all: their exposure is their only guard, an accepted risk the report lists
(homelab.report.risks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Login:
    path: str                       # an API call that needs a logged-in user
    refused: tuple[int, ...] = (401,)
    json_status: str = ""           # Technitium answers HTTP 200 with {"status": "invalid-token"}
    # Where the server itself tells visitors whether it asks for a login at all (path, dotted JSON key): a server
    # with its login turned off may still refuse `path` without a token while signing anyone in as its admin
    auth_flag: tuple[str, str] | None = None

    def login_off(self, body: str) -> bool | None:
        """True when the server says its login is off; None when its answer does not say."""
        if self.auth_flag is None:
            return None
        try:
            found: object = json.loads(body)
        except ValueError:
            return None
        for key in self.auth_flag[1].split("."):
            found = found.get(key) if isinstance(found, dict) else None
        return None if not isinstance(found, bool) else not found

    def refuses(self, status: int, body: str) -> bool:
        if self.json_status:
            try:
                return status == 200 and json.loads(body).get("status") == self.json_status
            except (ValueError, AttributeError):
                return False
        return status in self.refused


LOGINS: dict[str, Login] = {
    "portainer": Login("/api/endpoints"),                            # api/http/security/bouncer.go: 401
    "npm": Login("/api/nginx/proxy-hosts", (401, 403)),              # backend/lib/access.js: 403 Permission Denied
    "technitium": Login("/api/zones/list", json_status="invalid-token"),
    "uptime-kuma": Login("/metrics"),                                # server/auth.js basic auth: 401
    "grafana": Login("/api/org"),                                    # anonymous access off: 401
    # get_admin_user: 401 Not authenticated. With WEBUI_AUTH=false the same call still refuses, but signin makes
    # anyone admin@localhost; /api/config tells visitors `features.auth` (backend/open_webui/main.py, 0.6.5)
    "open-webui": Login("/api/v1/users/", (401, 403), auth_flag=("/api/config", "features.auth")),
}
NO_LOGIN: dict[str, str] = {
    "prometheus": "Prometheus has no login (its web UI and API are open to whoever reaches 9090 or its name)",
    "ollama": "Ollama has no login (anyone who reaches 11434 or its name can run and pull models)",
}
