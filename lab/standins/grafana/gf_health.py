"""`GET /api/datasources/uid/:uid/health` for Prometheus datasources: what Grafana's Prometheus plugin does.

It runs the instant query `1+1` against the datasource's URL (POST form, or GET with `jsonData.httpMethod:
GET`), and reads `/api/v1/status/buildinfo` for the `details` heuristics. Errors are worded like Grafana's
Go client: `Post "http://prometheus:9090/api/v1/query": dial tcp 10.0.0.5:9090: connect: connection refused
- There was an error returned querying the Prometheus API.`
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

Row = dict[str, Any]
OK_MESSAGE = "Successfully queried the Prometheus API."
ERROR_MESSAGE = "There was an error returned querying the Prometheus API."


class QueryError(Exception):
    """Text that Grafana puts before ERROR_MESSAGE."""


def _resolver() -> str:
    try:
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            if line.startswith("nameserver"):
                return f"{line.split()[1]}:53"
    except (OSError, IndexError):
        pass
    return "127.0.0.53:53"


def _request(source: Row, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes]:
    base = urlsplit(source["url"].rstrip("/"))
    target = base.path + path
    body = urlencode(form) if form and method == "POST" else None
    if form and method == "GET":
        target += "?" + urlencode(form)
    shown = f"{base.scheme}://{base.netloc}{target}"
    host, port = base.hostname or "", base.port or (443 if base.scheme == "https" else 80)
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except socket.gaierror as error:
        raise QueryError(f'{method.title()} "{shown}": dial tcp: lookup {host} on {_resolver()}: no such host') \
            from error
    timeout = float(source["jsonData"].get("timeout") or 30)
    connection: http.client.HTTPConnection
    if base.scheme == "https":
        context = ssl.create_default_context()
        if source["jsonData"].get("tlsSkipVerify"):
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"User-Agent": "Grafana/11.5.0", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if source["basicAuth"]:
        secret = f"{source['basicAuthUser']}:{source['secureJsonData'].get('basicAuthPassword', '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(secret.encode()).decode()
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except TimeoutError as error:
        raise QueryError(f'{method.title()} "{shown}": context deadline exceeded') from error
    except ConnectionRefusedError as error:
        raise QueryError(f'{method.title()} "{shown}": dial tcp {address}:{port}: connect: connection refused') \
            from error
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise QueryError(f'{method.title()} "{shown}": dial tcp {address}:{port}: {reason}') from error
    finally:
        connection.close()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _query(source: Row) -> None:
    method = str(source["jsonData"].get("httpMethod") or "POST").upper()
    status, body = _request(source, "GET" if method == "GET" else "POST", "/api/v1/query",
                            {"query": "1+1", "time": f"{time.time():.3f}"})
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("status") == "error":
        raise QueryError(f"{answer.get('errorType', 'error')}: {answer.get('error', '')}")
    if not 200 <= status < 300:
        raise QueryError(f"{status} {_phrase(status)}".rstrip())
    if not isinstance(answer, dict):
        raise QueryError("invalid character looking for beginning of value")


def _heuristics(source: Row) -> Row | None:
    try:
        status, body = _request(source, "GET", "/api/v1/status/buildinfo")
        data = json.loads(body).get("data") if status == 200 else None
    except (QueryError, ValueError, AttributeError):
        return None
    if not isinstance(data, dict):
        return None
    mimir = bool(data.get("features"))
    return {"application": "Mimir" if mimir else "Prometheus", "features": {"rulerApiEnabled": mimir}}


def check(source: Row) -> tuple[int, Row]:
    """(HTTP status, body) of the health endpoint: 200 OK or 400 ERROR, as Grafana answers."""
    if source["type"] != "prometheus":
        return 404, {"message": "Plugin health check not implemented"}
    try:
        _query(source)
        payload: Row = {"message": OK_MESSAGE, "status": "OK"}
    except QueryError as error:
        payload = {"message": f"{error} - {ERROR_MESSAGE}", "status": "ERROR"}
    details = _heuristics(source)
    if details is not None:
        payload = {"details": details} | payload
    return (200 if payload["status"] == "OK" else 400), payload
