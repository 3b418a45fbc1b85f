"""A typed client for Portainer CE 2.23's HTTP API (bootstrap, the specs, phases 2 and 3).

TLS: Portainer's 9443 serves a self-signed certificate of its own. The client pins it (homelab.clients.pinned_tls:
every connection compares the SHA-256 fingerprint of the certificate the server presents with the recorded one
*during the handshake*, before a byte of the request, a password or a token, is sent, and refuses a different
one). The fingerprint is recorded on first contact (trust on first use, announced by the caller) as
PORTAINER_TLS_FINGERPRINT in the env file; see docs/architecture.md.

Auth: an access token (`X-API-Key`) or a JWT from `login` (`Authorization: Bearer`). Cookies are never kept:
Portainer applies CSRF checks to any request that carries its auth cookie.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from homelab.clients.base import HttpClient, StatusError
from homelab.clients.pinned_tls import PinMismatch, pinned_transport, presented_fingerprint

FINGERPRINT_VAR = "PORTAINER_TLS_FINGERPRINT"
TOKEN_VAR = "PORTAINER_API_TOKEN"  # noqa: S105 - the name of the secret, not its value
ADMIN = "admin"
PORT = 9443  # its own HTTPS (API and UI), where the inventory names no upstream for `portainer`
Json = dict[str, Any]


DEPLOY_TIMEOUT = 300.0  # a Git stack's create or redeploy answers after the clone and `docker compose up`


class PortainerError(StatusError):
    """Portainer refused a request or could not be asked; the message says which and why."""


class PortainerUnreachable(PortainerError):
    """Nothing answered (yet) at the address, or the TLS handshake failed."""


class FingerprintMismatch(PortainerError):
    """The server presented a certificate other than the pinned one."""


class AdminInitTimeout(PortainerError):
    """The 5-minute admin-init window passed without an admin: Portainer locked itself until a restart."""


def server_fingerprint(host: str, port: int, timeout: float = 5.0) -> str:
    """The fingerprint of the certificate Portainer at `host:port` presents (for trust on first use)."""
    try:
        found = presented_fingerprint(host, port, timeout)
    except OSError as exc:
        raise PortainerUnreachable(f"Portainer at {host}:{port} does not answer TLS: {exc}") from None
    if found is None:
        raise PortainerUnreachable(f"Portainer at {host}:{port} presented no certificate")
    return found


@dataclass(frozen=True)
class Status:
    version: str
    instance_id: str


class Portainer(HttpClient):
    """One Portainer server. `Portainer.pinned(address, fingerprint)` for its own self-signed certificate."""

    def __init__(self, base_url: str, transport: httpx.BaseTransport | None = None, api_key: str | None = None,
                 timeout: float = 10.0, verify: ssl.SSLContext | str | bool = True) -> None:
        super().__init__(base_url, timeout, transport, verify=verify)
        self.api_key = api_key
        self.jwt: str | None = None

    @classmethod
    def pinned(cls, host: str, fingerprint: str, port: int = PORT, **kwargs: Any) -> Portainer:
        return cls(f"https://{host}:{port}", transport=pinned_transport(fingerprint), **kwargs)

    # -- plumbing ------------------------------------------------------------------------------------
    def _headers(self, auth: bool) -> dict[str, str]:
        if not auth:
            return {}
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.jwt:
            return {"Authorization": f"Bearer {self.jwt}"}
        raise PortainerError("not authenticated: give an API token or call login() first")

    def request(self, method: str, path: str, auth: bool = True, ok: tuple[int, ...] = (200,),
                **kwargs: Any) -> httpx.Response:
        """Send one request; raise PortainerError unless the status is in `ok`."""
        try:
            response = self._http.request(method, path, headers=self._headers(auth), **kwargs)
        except PinMismatch as exc:
            raise FingerprintMismatch(
                f"Portainer at {exc.host} presented a certificate with SHA-256 {exc.found}, but "
                f"{FINGERPRINT_VAR} pins {exc.pin}: refusing to talk to it. If Portainer was reinstalled "
                f"(new certificate), remove {FINGERPRINT_VAR} from the env file to trust the new one") from None
        except httpx.TransportError as exc:
            raise PortainerUnreachable(f"Portainer at {self.base_url} does not answer: {exc}") from None
        finally:
            self._http.cookies.clear()  # never send portainer_api_key back: CSRF
        if response.status_code == 303 and response.headers.get("redirect-reason") == "AdminInitTimeout":
            raise AdminInitTimeout("Portainer locked itself: no admin was created within 5 minutes of its start "
                                   "(AdminInitTimeout); restart the container to open a new window", 303)
        if response.status_code not in ok:
            raise PortainerError(f"{method} {path}: {response.status_code} {_message(response)}",
                                 response.status_code)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    # -- status and first run ----------------------------------------------------------------------
    def status(self) -> Status:
        """GET /api/system/status (public)."""
        body = self._json("GET", "/api/system/status", auth=False)
        return Status(str(body.get("Version", "")), str(body.get("InstanceID", "")))

    def me(self) -> Json:
        """GET /api/users/me (authenticated): the cheapest proof that a token works. Not /api/system/version:
        Portainer 2.23 answers that with `Build.Env`, its container's whole environment (AGENT_SECRET
        included; upstream api/http/handler/system/version.go), and asks api.github.com for the latest version
        first, with a 5 s timeout."""
        result: Json = self._json("GET", "/api/users/me")
        return result

    def admin_exists(self) -> bool:
        """GET /api/users/admin/check: 204 an admin exists, 404 not yet (AdminInitTimeout when locked)."""
        return self.request("GET", "/api/users/admin/check", auth=False, ok=(204, 404)).status_code == 204

    def init_admin(self, password: str, username: str = ADMIN) -> Json:
        result: Json = self._json("POST", "/api/users/admin/init", auth=False,
                                  json={"Username": username, "Password": password})
        return result

    def login(self, password: str, username: str = ADMIN) -> str:
        """POST /api/auth; the JWT authenticates the following requests (cookies dropped)."""
        body = self._json("POST", "/api/auth", auth=False, json={"Username": username, "Password": password})
        self.jwt = str(body["jwt"])
        return self.jwt

    def create_token(self, user_id: int, password: str, description: str) -> str:
        """POST /api/users/{id}/tokens (JWT only): the raw `ptr_...` key, shown once."""
        headers_key, self.api_key = self.api_key, None  # an API key is refused here: use the JWT
        try:
            body = self._json("POST", f"/api/users/{user_id}/tokens", ok=(200, 201),
                              json={"password": password, "description": description})
        finally:
            self.api_key = headers_key
        return str(body["rawAPIKey"])

    def tokens(self, user_id: int) -> list[Json]:
        result: list[Json] = self._json("GET", f"/api/users/{user_id}/tokens")
        return result

    def delete_token(self, user_id: int, token_id: int) -> None:
        self.request("DELETE", f"/api/users/{user_id}/tokens/{token_id}", ok=(200, 204))

    # -- environments, tags, groups ----------------------------------------------------------------
    def endpoints(self, types: tuple[int, ...] = (), exclude_snapshots: bool = True, **filters: Any) -> list[Json]:
        """GET /api/endpoints; array filters use Portainer's bracket form (`types[]=2`)."""
        params: list[tuple[str, Any]] = [("types[]", t) for t in types]
        params += [("excludeSnapshots", "true")] if exclude_snapshots else []
        params += list(filters.items())
        result: list[Json] = self._json("GET", "/api/endpoints", params=params)
        return result

    def endpoint(self, endpoint_id: int) -> Json:
        result: Json = self._json("GET", f"/api/endpoints/{endpoint_id}")
        return result

    def create_endpoint(self, name: str, creation_type: int, url: str = "", group_id: int = 1,
                        tag_ids: tuple[int, ...] = (), tls: bool = False, tls_skip_verify: bool = False,
                        **extra: str) -> Json:
        """POST /api/endpoints (form): type 2 agent (`tcp://host:9001`, tls=True, tls_skip_verify=True), 4 Edge."""
        form = {"Name": name, "EndpointCreationType": str(creation_type), "URL": url, "GroupID": str(group_id),
                "TagIds": json.dumps(list(tag_ids)), **extra}
        if tls:
            form.update({"TLS": "true", "TLSSkipVerify": str(tls_skip_verify).lower(),
                         "TLSSkipClientVerify": "true"})
        result: Json = self._json("POST", "/api/endpoints", data=form)
        return result

    def update_endpoint(self, endpoint_id: int, **fields: Any) -> Json:
        """PUT /api/endpoints/{id} with Portainer's own field names (`URL`, `GroupID`, `TagIDs`, ...)."""
        result: Json = self._json("PUT", f"/api/endpoints/{endpoint_id}", json=fields)
        return result

    def delete_endpoint(self, endpoint_id: int) -> None:
        self.request("DELETE", f"/api/endpoints/{endpoint_id}", ok=(200, 204))

    def snapshot(self, endpoint_id: int) -> None:
        """POST /api/endpoints/{id}/snapshot: refresh its Status (1 up, 2 down) now."""
        self.request("POST", f"/api/endpoints/{endpoint_id}/snapshot", ok=(200, 204))

    def tags(self) -> list[Json]:
        result: list[Json] = self._json("GET", "/api/tags")
        return result

    def create_tag(self, name: str) -> Json:
        result: Json = self._json("POST", "/api/tags", json={"Name": name})
        return result

    def groups(self) -> list[Json]:
        result: list[Json] = self._json("GET", "/api/endpoint_groups")
        return result

    def create_group(self, name: str, description: str = "", tag_ids: tuple[int, ...] = ()) -> Json:
        result: Json = self._json("POST", "/api/endpoint_groups",
                                  json={"Name": name, "Description": description, "TagIDs": list(tag_ids)})
        return result

    # -- stacks from Git (api/http/handler/stacks at 2.23.0) ---------------------------------------------------
    def stacks(self, endpoint_id: int | None = None) -> list[Json]:
        """GET /api/stacks, optionally of one environment (`filters={"EndpointID": N}`)."""
        params = {"filters": json.dumps({"EndpointID": endpoint_id})} if endpoint_id else {}
        result: list[Json] = self._json("GET", "/api/stacks", params=params)
        return result

    def create_git_stack(self, endpoint_id: int, payload: Json) -> Json:
        """POST /api/stacks/create/standalone/repository: clone, deploy and record a compose stack
        (composeStackFromGitRepositoryPayload). Slow: the clone and `docker compose up` happen before it answers."""
        result: Json = self._json("POST", "/api/stacks/create/standalone/repository", ok=(200,),
                                  params={"endpointId": endpoint_id}, json=payload, timeout=DEPLOY_TIMEOUT)
        return result

    def update_git_stack(self, stack_id: int, endpoint_id: int, payload: Json) -> Json:
        """PUT /api/stacks/{id}/git: the reference, credentials, Env and AutoUpdate (no redeploy)."""
        result: Json = self._json("PUT", f"/api/stacks/{stack_id}/git", params={"endpointId": endpoint_id},
                                  json=payload)
        return result

    def redeploy_git_stack(self, stack_id: int, endpoint_id: int, payload: Json) -> Json:
        """PUT /api/stacks/{id}/git/redeploy: pull the reference and deploy it again."""
        result: Json = self._json("PUT", f"/api/stacks/{stack_id}/git/redeploy", params={"endpointId": endpoint_id},
                                  json=payload, timeout=DEPLOY_TIMEOUT)
        return result

    def stack_file(self, stack_id: int) -> str:
        """GET /api/stacks/{id}/file: the compose file Portainer deploys."""
        return str(self._json("GET", f"/api/stacks/{stack_id}/file").get("StackFileContent", ""))

    def delete_stack(self, stack_id: int, endpoint_id: int) -> None:
        self.request("DELETE", f"/api/stacks/{stack_id}", params={"endpointId": endpoint_id}, ok=(200, 204),
                     timeout=DEPLOY_TIMEOUT)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict):
        return " ".join(str(body[k]) for k in ("message", "details") if body.get(k)) or str(body)[:200]
    return str(body)[:200]
