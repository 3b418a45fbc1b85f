"""HTTP plumbing: request and response values, Portainer's error envelope, a regex router, form parsing."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.cookies import CookieError, SimpleCookie
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes = b""
    raw_query: str = ""
    params: dict[str, str] = field(default_factory=dict)
    user: dict[str, Any] | None = None
    auth_kind: str = ""  # "jwt" or "apikey" once authenticated

    @property
    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except CookieError:
            return {}
        return {name: morsel.value for name, morsel in jar.items()}

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise HttpError(400, "Invalid request payload", str(exc)) from exc

    def form(self) -> dict[str, str]:
        """multipart/form-data or urlencoded fields (file parts decoded as text), first value wins."""
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            return parse_multipart(ctype, self.body)
        pairs = urllib.parse.parse_qsl(self.body.decode(errors="replace"), keep_blank_values=True)
        fields: dict[str, str] = {}
        for key, value in pairs:
            fields.setdefault(key, value)
        return fields


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class HttpError(Exception):
    """A handler error rendered as Portainer's envelope {"message", "details"} (both omitted when empty)."""

    def __init__(self, status: int, message: str, details: str = "", headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.message, self.details = status, message, details
        self.headers = headers or []

    def response(self) -> Response:
        body: dict[str, str] = {}
        if self.message:
            body["message"] = self.message
        if self.details:
            body["details"] = self.details[:1].upper() + self.details[1:]
        return json_response(body, self.status, self.headers)


def read_body(handler: Any) -> bytes:
    """A request's body from a BaseHTTPRequestHandler: chunked (as docker-compose sends it) or by Content-Length."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while (size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return bytes(handler.rfile.read(length)) if length > 0 else b""


def json_response(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(status, body, [("Content-Type", "application/json"), *(headers or [])])


def no_content() -> Response:
    return Response(204)


def parse_multipart(content_type: str, body: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, payload.decode(errors="replace"))
    return fields


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    access: str  # "public" | "auth" | "admin"


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, access: str = "admin") -> None:
        """`template` like /api/endpoints/{id}; `{name}` matches one segment, `{rest*}` the remainder."""
        regex = re.sub(r"\{(\w+)\*\}", r"(?P<\1>.*)", template)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self.routes.append(Route(method, re.compile(f"^{regex}$"), handler, access))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "*"):
                return route, found.groupdict()
            allowed = allowed or bool(found)
        if allowed:
            raise HttpError(405, "Method Not Allowed")
        raise HttpError(404, "Not Found")


def int_param(req: Request, name: str, what: str = "environment identifier") -> int:
    try:
        return int(req.params[name])
    except (KeyError, ValueError) as exc:
        raise HttpError(400, f"Invalid {what} route variable", str(exc)) from exc


def ci_get(payload: dict[str, Any], name: str, default: Any = None) -> Any:
    """Go's encoding/json matches field names case-insensitively; so does this lookup."""
    for key, value in payload.items():
        if key.lower() == name.lower():
            return value
    return default
