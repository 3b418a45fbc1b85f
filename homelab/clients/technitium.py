"""A typed client for Technitium DNS Server's HTTP API (port 5380): login, tokens, zones, records, settings.

Every call is a form POST bounded by a timeout. The token travels both as `Authorization: Bearer` (v15) and
as the `token` form field (before v15), so one client speaks to 13.x and 15.x. Technitium answers HTTP 200
even for failures and says what happened in `status`; any status but `ok` raises `TechnitiumError` carrying
Technitium's own `errorMessage` (`TechnitiumAuthError` for `invalid-token`). Reference: upstream APIDOCS.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from homelab.clients.base import HttpClient

DEFAULT_TIMEOUT = 10.0
# The 4th recursion policy (v13+; before it was `UseSpecifiedNetworks`): only the networks of the ACL recurse.
RECURSION_ACL = "UseSpecifiedNetworkACL"


class TechnitiumError(Exception):
    """A call failed: Technitium said no (its errorMessage is in the message), or it could not be reached."""


class TechnitiumUnreachable(TechnitiumError):
    """Nothing answered at the API's address, or not in time."""


class TechnitiumAuthError(TechnitiumError):
    """Bad credentials, or a token Technitium does not know (`invalid-token`)."""


@dataclass(frozen=True)
class Zone:
    name: str
    type: str
    disabled: bool = False


@dataclass(frozen=True)
class Record:
    name: str
    type: str
    ttl: int
    rdata: dict[str, Any] = field(default_factory=dict)
    comments: str = ""
    disabled: bool = False

    @property
    def address(self) -> str | None:
        """The address of an A or AAAA record."""
        value = self.rdata.get("ipAddress")
        return str(value) if value is not None else None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> Record:
        return cls(name=str(item.get("name", "")).rstrip(".").lower(), type=str(item.get("type", "")),
                   ttl=int(item.get("ttl", 0)), rdata=dict(item.get("rData") or {}),
                   comments=str(item.get("comments") or ""), disabled=bool(item.get("disabled", False)))


def acl_list(value: Any) -> list[str]:
    """`recursionNetworkACL` as a list, whether the server answers a list or a comma-separated string."""
    if value is None or value is False:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(item).strip() for item in items if str(item).strip()]


class Technitium(HttpClient):
    """One API endpoint, e.g. `Technitium("http://198.51.100.10:5380")`; log in or pass a token."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(base_url, timeout, transport)
        self.token = token
        self.user: str | None = None  # who `login` signed in

    # --- transport ------------------------------------------------------------------------------------------
    def call(self, path: str, **params: str | int | bool | None) -> dict[str, Any]:
        """POST `path` with `params` (None dropped, booleans as true/false); the JSON body when status is ok."""
        form = {k: _form_value(v) for k, v in params.items() if v is not None}
        headers = {}
        if self.token:
            form["token"] = self.token
            headers["Authorization"] = f"Bearer {self.token}"
        where = f"Technitium at {self.base_url}"
        try:
            answer = self._http.post(path, data=form, headers=headers)
        except httpx.TimeoutException:
            raise TechnitiumUnreachable(f"{where}{path}: no answer within {self._http.timeout.read}s") from None
        except httpx.HTTPError as exc:
            raise TechnitiumUnreachable(f"{where}{path}: cannot connect ({type(exc).__name__}: {exc})") from None
        if answer.status_code != 200:
            raise TechnitiumError(f"{where}{path}: HTTP {answer.status_code}; expected 200 (is this Technitium's "
                                  "API port, and does this version have that call?)")
        try:
            body = answer.json()
        except ValueError:
            raise TechnitiumError(f"{where}{path}: the answer is not JSON; expected Technitium's API") from None
        if not isinstance(body, dict):
            raise TechnitiumError(f"{where}{path}: the answer is not a JSON object")
        status = body.get("status")
        if status == "ok":
            return body
        message = body.get("errorMessage") or f"status {status!r}"
        if status in ("invalid-token", "2fa-required"):
            raise TechnitiumAuthError(f"{where}{path}: {message}")
        raise TechnitiumError(f"{where}{path}: {message}")

    # --- users and tokens -----------------------------------------------------------------------------------
    def login(self, user: str, password: str) -> str:
        """Open a session (expires after 30 min idle) and use its token for the next calls."""
        try:
            body = self.call("/api/user/login", user=user, **{"pass": password})
        except (TechnitiumAuthError, TechnitiumUnreachable):
            raise
        except TechnitiumError as exc:
            raise TechnitiumAuthError(str(exc)) from None
        self.token = str(body["token"])
        self.user = user
        return self.token

    def create_token(self, name: str, user: str | None = None) -> str:
        """A non-expiring API token named `name` (shown in the console) for `user`, by default the one `login`
        signed in. With a session this is /api/admin/sessions/createToken (user, tokenName): 13.6's
        /api/user/createToken is a login that wants `user` and `pass` and answers a session-only call
        "Parameter 'user' missing." (DnsServerCore/DnsWebService.cs, WebServiceAuthApi.CreateApiToken)."""
        owner = user or self.user
        if owner is None:
            raise TechnitiumError(f"Technitium at {self.base_url}: create_token needs the user the token is for "
                                  "(log in first, or name the user)")
        body = self.call("/api/admin/sessions/createToken", user=owner, tokenName=name)
        return str(body["response"]["token"])

    def session(self) -> dict[str, Any]:
        return self.call("/api/user/session/get")

    # --- zones ----------------------------------------------------------------------------------------------
    def zones(self) -> list[Zone]:
        zones = self.call("/api/zones/list")["response"].get("zones") or []
        return [Zone(str(z["name"]).lower(), str(z.get("type", "")), bool(z.get("disabled", False))) for z in zones]

    def zone(self, name: str) -> Zone | None:
        return next((z for z in self.zones() if z.name == name.lower()), None)

    def create_zone(self, name: str, kind: str = "Primary") -> None:
        self.call("/api/zones/create", zone=name, type=kind)

    # --- records --------------------------------------------------------------------------------------------
    def records(self, domain: str, zone: str | None = None, list_zone: bool = False) -> list[Record]:
        """The records at `domain` (every record of the zone with `list_zone`)."""
        body = self.call("/api/zones/records/get", domain=domain, zone=zone, listZone=list_zone or None)
        return [Record.from_json(r) for r in body["response"].get("records") or []]

    def add_record(self, domain: str, kind: str, zone: str | None = None, ttl: int | None = None,
                   overwrite: bool = False, comments: str | None = None, **rdata: str | int) -> Record:
        """Add a record (`ipAddress=` for A/AAAA, `cname=`, `text=`...); `overwrite` replaces the RRset."""
        body = self.call("/api/zones/records/add", domain=domain, zone=zone, type=kind, ttl=ttl,
                         overwrite=overwrite or None, comments=comments, **rdata)
        return Record.from_json(body["response"].get("addedRecord") or {})

    def add_a(self, domain: str, address: str, zone: str | None = None, ttl: int | None = None,
              overwrite: bool = True, comments: str | None = None) -> Record:
        return self.add_record(domain, "A", zone=zone, ttl=ttl, overwrite=overwrite, comments=comments,
                               ipAddress=address)

    def delete_record(self, domain: str, kind: str, zone: str | None = None, **rdata: str | int) -> None:
        """Delete one record; A/AAAA are named by `ipAddress=`, TXT by `text=` (CNAME by name only)."""
        self.call("/api/zones/records/delete", domain=domain, zone=zone, type=kind, **rdata)

    # --- settings -------------------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return dict(self.call("/api/settings/get")["response"])

    def set_settings(self, **values: str | int | bool) -> dict[str, Any]:
        """Change the named settings only (lists comma-separated, `false` clears); the settings after it."""
        return dict(self.call("/api/settings/set", **values)["response"])


def _form_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
