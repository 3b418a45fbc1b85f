"""An Engine.IO v4 server (what Socket.IO 4.x, and so Uptime Kuma 1.23, speaks underneath) on the stdlib HTTP
server: long-polling and WebSocket transports, the polling-to-WebSocket upgrade, and server pings.

Polling: `GET /socket.io/?EIO=4&transport=polling` opens a session (`0{"sid",...}`); later GETs wait for
packets (at most one ping interval, then a noop) and POSTs deliver packets, both joined by \\x1e. WebSocket:
a session opened directly, or an upgrade of a polling one (`2probe` → `3probe`, then `5`). Every
`PING_INTERVAL` the server sends `2`; a session that has not answered `3` within `PING_TIMEOUT` is closed.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from kuma_websocket import WebSocketClosed, accept_key, frame, read_message

PING_INTERVAL, PING_TIMEOUT, MAX_PAYLOAD = 25.0, 20.0, 1_000_000  # Socket.IO 4's defaults, which Kuma keeps
SEPARATOR = "\x1e"
PACKETS_PER_POLL = 16  # python-engineio's clients refuse a payload of more packets; the rest waits for the next GET
OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
ERRORS = {0: "Transport unknown", 1: "Session ID unknown", 2: "Bad handshake method", 3: "Bad request",
          4: "Forbidden", 5: "Unsupported protocol version"}


class Session:
    """One Engine.IO connection; `send` queues for the next poll or writes a WebSocket frame."""

    def __init__(self, engine: EngineServer) -> None:
        self.sid = secrets.token_urlsafe(15)
        self.engine = engine
        self.cond = threading.Condition()
        self.queue: list[str] = []
        self.ws_send: Callable[[bytes], None] | None = None
        self.shutdown: Callable[[], None] | None = None
        self.polling = self.upgrading = self.closed = False
        self.last_ping, self.ping_sent = time.monotonic(), 0.0

    def send(self, packet: str) -> None:
        with self.cond:
            if self.closed:
                return
            if self.ws_send is None:
                self.queue.append(packet)
                self.cond.notify_all()
                return
            with contextlib.suppress(OSError):  # the reader thread sees the broken socket and closes the session
                self.ws_send(frame(packet.encode()))

    def attach_websocket(self, send: Callable[[bytes], None], shutdown: Callable[[], None]) -> None:
        with self.cond:
            self.ws_send, self.shutdown = send, shutdown
            queued, self.queue = self.queue, []
            for packet in queued:
                send(frame(packet.encode()))
            self.cond.notify_all()

    def poll(self) -> list[str] | None:
        """Packets for a polling GET: waits up to one ping interval; None when another GET is already waiting."""
        with self.cond:
            if self.polling:
                return None
            self.polling = True
            self.cond.wait_for(lambda: self.queue or self.closed or self.upgrading, timeout=PING_INTERVAL)
            packets, self.queue = self.queue[:PACKETS_PER_POLL], self.queue[PACKETS_PER_POLL:]
            self.polling = False
            return packets or [CLOSE if self.closed else NOOP]


class EngineServer:
    """Sessions under `/socket.io/`; the layer above gets `on_open`, `on_message` (text) and `on_close`."""

    def __init__(self, on_open: Callable[[Session], None], on_message: Callable[[Session, str], None],
                 on_close: Callable[[Session], None]) -> None:
        self.on_open, self.on_message, self.on_close = on_open, on_message, on_close
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._pinger, daemon=True).start()

    # --- HTTP entry point -------------------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(handler.path).query).items()}
        if query.get("EIO") != "4":
            self._error(handler, 5)
        elif query.get("transport") == "websocket" and handler.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket(handler, query.get("sid"))
        elif query.get("transport") != "polling":
            self._error(handler, 0)
        elif "sid" not in query:
            self._open_polling(handler) if handler.command == "GET" else self._error(handler, 2)
        elif (session := self.sessions.get(query["sid"])) is None or session.ws_send is not None:
            self._error(handler, 1 if session is None else 3)
        elif handler.command == "GET":
            self._poll(handler, session)
        else:
            self._post(handler, session)

    def _open_polling(self, handler: BaseHTTPRequestHandler) -> None:
        session = self._new_session()
        self._reply(handler, 200, self._open_packet(session, ["websocket"]), "text/plain; charset=UTF-8")
        self.on_open(session)

    def _poll(self, handler: BaseHTTPRequestHandler, session: Session) -> None:
        packets = session.poll()
        if packets is None:
            self._error(handler, 3)
            self.close(session)
        else:
            self._reply(handler, 200, SEPARATOR.join(packets), "text/plain; charset=UTF-8")

    def _post(self, handler: BaseHTTPRequestHandler, session: Session) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD:
            self._error(handler, 3, 413)
            self.close(session)
            return
        body = handler.rfile.read(length).decode("utf-8", errors="replace")
        self._reply(handler, 200, "ok", "text/html")
        for packet in body.split(SEPARATOR):
            self.receive(session, packet)

    # --- WebSocket --------------------------------------------------------------------------------------------
    def _websocket(self, handler: BaseHTTPRequestHandler, sid: str | None) -> None:
        session = self.sessions.get(sid) if sid else None
        origin, host = handler.headers.get("Origin"), handler.headers.get("Host")
        if sid and (session is None or session.ws_send is not None):
            self._error(handler, 1 if session is None else 3)
            return
        if origin and urlsplit(origin).netloc != host:  # Kuma's allowRequest: a browser's origin must match
            self._error(handler, 4, 403)
            return
        handler.send_response(101)
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        handler.send_header("Sec-WebSocket-Accept", accept_key(handler.headers.get("Sec-WebSocket-Key", "")))
        handler.end_headers()
        handler.close_connection = True
        write_lock = threading.Lock()
        connection: socket.socket = handler.connection

        def send(data: bytes) -> None:
            with write_lock:
                connection.sendall(data)

        def shutdown() -> None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

        try:
            if session is None:
                session = self._new_session()
                send(frame(self._open_packet(session, []).encode()))
                session.attach_websocket(send, shutdown)
                self.on_open(session)
            else:
                self._upgrade(handler, session, send, shutdown)
            while not session.closed:
                self.receive(session, read_message(handler.rfile, send))
        except (WebSocketClosed, OSError, ValueError):
            pass
        finally:
            if session is not None and session.ws_send is send:
                self.close(session)

    def _upgrade(self, handler: BaseHTTPRequestHandler, session: Session, send: Callable[[bytes], None],
                 shutdown: Callable[[], None]) -> None:
        """Probe, then switch: a waiting poll is answered with a noop so that the client can stop polling."""
        if read_message(handler.rfile, send) != PING + "probe":
            raise WebSocketClosed("no probe")
        send(frame((PONG + "probe").encode()))
        with session.cond:
            session.upgrading = True
            session.cond.notify_all()
        try:
            while (packet := read_message(handler.rfile, send)) != UPGRADE:
                if packet != NOOP:
                    raise WebSocketClosed(f"unexpected {packet[:10]!r} during upgrade")
        except (WebSocketClosed, OSError):
            session.upgrading = False  # the client goes on polling
            raise
        session.attach_websocket(send, shutdown)

    # --- packets and sessions ---------------------------------------------------------------------------------
    def receive(self, session: Session, packet: str) -> None:
        if not packet:
            return
        kind, data = packet[0], packet[1:]
        if kind == MESSAGE:
            try:
                self.on_message(session, data)
            except Exception as exc:  # one bad event must not end the session
                print(f"uptime-kuma stand-in: socket.io handler failed: {exc!r}", file=sys.stderr, flush=True)
        elif kind == PONG:
            session.ping_sent = 0.0
        elif kind == PING:
            session.send(PONG + data)
        elif kind == CLOSE:
            self.close(session)

    def close(self, session: Session) -> None:
        with session.cond:
            if session.closed:
                return
            session.closed = True
            session.cond.notify_all()
        with self.lock:
            self.sessions.pop(session.sid, None)
        if session.shutdown is not None:
            session.shutdown()
        self.on_close(session)

    def _new_session(self) -> Session:
        session = Session(self)
        with self.lock:
            self.sessions[session.sid] = session
        return session

    def _pinger(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self.lock:
                sessions = list(self.sessions.values())
            for session in sessions:
                if session.ping_sent and now - session.ping_sent > PING_TIMEOUT:
                    self.close(session)
                elif not session.ping_sent and now - session.last_ping >= PING_INTERVAL:
                    session.last_ping = session.ping_sent = now
                    session.send(PING)

    @staticmethod
    def _open_packet(session: Session, upgrades: list[str]) -> str:
        return OPEN + json.dumps({"sid": session.sid, "upgrades": upgrades, "pingInterval": int(PING_INTERVAL * 1000),
                                  "pingTimeout": int(PING_TIMEOUT * 1000), "maxPayload": MAX_PAYLOAD})

    def _error(self, handler: BaseHTTPRequestHandler, code: int, status: int = 400) -> None:
        self._reply(handler, status, json.dumps({"code": code, "message": ERRORS[code]}), "application/json")

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, text: str, content_type: str) -> None:
        payload = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)
