"""Ask many HTTP(S) endpoints at once what answers there, from one process: the by-name and banner probes.

Standard library only, and nothing imported from the project: like `homelab.transport.sweep`, the same source runs here
(the runner) and, sent as `python3 -c`, on any vantage point or host. Each request names the address and port
to connect to, whether to speak TLS, the SNI and the Host header, so a name can be asked of any listener
(NPM's LAN address, the router's public one) and a private Host can be sent under a public SNI.

Nothing is verified here on purpose: the question is "does it answer, and what", not "is the certificate
right" (the TLS specs ask that with verification on). A request that could not be made says why.

Usage on a far side: `python3 -c SOURCE TIMEOUT JSON` where JSON is a list of requests; prints one JSON
object per line: the request's `key` and the `Answer` fields.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

READ_LIMIT = 4096
WORKERS = 64


def _read(sock: socket.socket | ssl.SSLSocket, deadline_timeout: float) -> bytes:
    sock.settimeout(deadline_timeout)
    data = b""
    try:
        while len(data) < READ_LIMIT:
            chunk = sock.recv(READ_LIMIT - len(data))
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and len(data) > 512:
                break
    except (TimeoutError, OSError):
        pass
    return data


def _parse(data: bytes) -> dict[str, Any]:
    """Status, headers (lower-case names) and the start of the body of an HTTP response; or a raw banner."""
    text = data.decode("latin-1")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return {"banner": text[:200]}
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return {"status": int(parts[1]), "headers": headers, "body": body[:400]}


def ask(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request: `{address, port, tls, sni, host, path, listen}`; `listen` first waits for a banner (SSH)."""
    address, port = request["address"], int(request["port"])
    answer: dict[str, Any] = {"key": request.get("key")}
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except TimeoutError:
        return {**answer, "error": "filtered"}
    except ConnectionRefusedError:
        return {**answer, "error": "closed"}
    except OSError as exc:
        return {**answer, "error": "filtered", "detail": str(exc)}
    sock: socket.socket | ssl.SSLSocket = raw
    try:
        if request.get("listen"):
            banner = _read(raw, min(timeout, 1.0))
            if banner:
                return {**answer, **_parse(banner)}
        if request.get("tls"):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            raw.settimeout(timeout)
            try:
                sock = context.wrap_socket(raw, server_hostname=request.get("sni") or None)
            except ssl.SSLError as exc:
                return {**answer, "error": "tls-refused", "detail": exc.reason or str(exc)}
            except (TimeoutError, OSError) as exc:
                return {**answer, "error": "tls-failed", "detail": str(exc) or type(exc).__name__}
        host = request.get("host") or address
        sock.settimeout(timeout)
        sock.sendall(f"GET {request.get('path', '/')} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: homelab-probe\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = _read(sock, timeout)
        if not data:
            return {**answer, "error": "no-response"}
        return {**answer, **_parse(data)}
    except OSError as exc:
        return {**answer, "error": "reset", "detail": str(exc) or type(exc).__name__}
    finally:
        sock.close()


def ask_all(requests: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    if not requests:
        return []
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(requests))) as pool:
        return list(pool.map(lambda r: ask(r, timeout), requests))


def main(argv: list[str]) -> None:
    for answer in ask_all(json.loads(argv[1]), float(argv[0])):
        print(json.dumps(answer))


if __name__ == "__main__":
    main(sys.argv[1:])
