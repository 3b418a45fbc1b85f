"""Socket.IO v5 (the protocol of Socket.IO 4.x) over the Engine.IO sessions: the main namespace, events with
acknowledgements, and emits to one socket or to every logged-in socket. Binary packets are not supported
(Uptime Kuma's events carry JSON only).

Packets are `<type>[<namespace>,][<ack id>][<json>]`: `0` connect (answered `0{"sid"}`), `1` disconnect,
`2` event `["name", ...args]`, `3` ack `[...results]`, `4` connect error.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from collections.abc import Callable
from typing import Any

from kuma_engineio import MESSAGE, EngineServer, Session

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR = "01234"
PACKET = re.compile(r"(?P<type>\d)(?:(?P<nsp>/[^,]*),)?(?P<id>\d+)?(?P<data>.*)", re.DOTALL)


class Socket:
    """One client on the main namespace; `user_id` is set by a successful login."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sid = secrets.token_urlsafe(15)
        self.connected = False
        self.user_id: int | None = None
        self.after_ack: list[Callable[[], None]] = []  # what Kuma sends after calling back (deleteMonitor, login)

    def emit(self, event: str, *args: Any) -> None:
        self.session.send(MESSAGE + EVENT + json.dumps([event, *args], separators=(",", ":")))

    def ack(self, ack_id: str, results: list[Any]) -> None:
        self.session.send(MESSAGE + ACK + ack_id + json.dumps(results, separators=(",", ":")))


# An event handler gets the socket and the event's arguments; what it returns is the acknowledgement's
# argument list (None: no arguments), sent only when the client asked for one.
Handler = Callable[[Socket, list[Any]], list[Any] | None]


class SocketServer:
    def __init__(self, handlers: dict[str, Handler], on_connect: Callable[[Socket], None],
                 unknown: Handler) -> None:
        self.handlers, self.on_connect, self.unknown = handlers, on_connect, unknown
        self.sockets: dict[str, Socket] = {}
        self.lock = threading.Lock()
        self.engine = EngineServer(self._open, self._message, self._close)

    def logged_in(self) -> list[Socket]:
        with self.lock:
            return [s for s in self.sockets.values() if s.connected and s.user_id is not None]

    def emit_to_users(self, event: str, *args: Any) -> None:
        """Like Kuma's `io.to(userID).emit`: every socket of the (only) user."""
        for sock in self.logged_in():
            sock.emit(event, *args)

    def _open(self, session: Session) -> None:
        with self.lock:
            self.sockets[session.sid] = Socket(session)

    def _close(self, session: Session) -> None:
        with self.lock:
            self.sockets.pop(session.sid, None)

    def _message(self, session: Session, text: str) -> None:
        sock = self.sockets.get(session.sid)
        match = PACKET.fullmatch(text)
        if sock is None or match is None:
            return
        kind, namespace, ack_id = match["type"], match["nsp"] or "/", match["id"]
        if namespace != "/":
            sock.session.send(f"{MESSAGE}{CONNECT_ERROR}{namespace},{json.dumps({'message': 'Invalid namespace'})}")
        elif kind == CONNECT:
            sock.connected = True
            sock.session.send(MESSAGE + CONNECT + json.dumps({"sid": sock.sid}))
            self.on_connect(sock)
        elif kind == DISCONNECT:
            sock.connected, sock.user_id = False, None
        elif kind == EVENT and sock.connected:
            self._event(sock, json.loads(match["data"] or "[]"), ack_id)

    def _event(self, sock: Socket, data: Any, ack_id: str | None) -> None:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return
        name, args = data[0], data[1:]
        handler = self.handlers.get(name)
        try:
            results = (handler or self.unknown)(sock, [name, *args] if handler is None else args)
        except Exception as exc:  # Kuma's handlers answer {ok: false} from their catch; so does every failure here
            if not isinstance(exc, ValueError):  # ValueError: a refusal with Kuma's message; anything else: a bug
                print(f"uptime-kuma stand-in: event {name!r} failed: {exc!r}", file=sys.stderr, flush=True)
            results = [{"ok": False, "msg": str(exc)}]
        if ack_id is not None:
            sock.ack(ack_id, results or [])
        later, sock.after_ack = sock.after_ack, []
        for step in later:
            step()
