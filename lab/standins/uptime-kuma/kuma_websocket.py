"""The server side of RFC 6455 WebSocket, as much as Engine.IO needs: the handshake key, text frames in and out,
fragmentation, ping/pong and close. Frames from clients are masked; frames from the server are not."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
from io import BufferedIOBase

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 16 * 1024 * 1024  # Engine.IO's maxPayload is 1 MB; anything this large is not a Kuma client


class WebSocketClosed(Exception):
    """The peer closed the connection (a close frame, or end of stream)."""


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()  # noqa: S324 - RFC 6455


def frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One unmasked, final frame."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def _read_exact(stream: BufferedIOBase, size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        raise WebSocketClosed("end of stream")
    return data


def _read_frame(stream: BufferedIOBase) -> tuple[bool, int, bytes]:
    first, second = _read_exact(stream, 2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", _read_exact(stream, 2))[0]
    elif size == 127:
        size = struct.unpack("!Q", _read_exact(stream, 8))[0]
    if size > MAX_MESSAGE:
        raise WebSocketClosed(f"frame of {size} bytes")
    mask = _read_exact(stream, 4) if second & 0x80 else b""
    payload = _read_exact(stream, size)
    if mask and size:
        key = (mask * (size // 4 + 1))[:size]
        payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return bool(first & 0x80), first & 0x0F, payload


def read_message(stream: BufferedIOBase, send: Callable[[bytes], None]) -> str:
    """The next text message; answers pings on the way; raises WebSocketClosed on close or end of stream."""
    parts: list[bytes] = []
    while True:
        final, opcode, payload = _read_frame(stream)
        if opcode == PING:
            send(frame(payload, PONG))
        elif opcode == CLOSE:
            send(frame(payload[:2], CLOSE))
            raise WebSocketClosed("close frame")
        elif opcode in (TEXT, BINARY, CONTINUATION):
            parts.append(payload)
            if sum(map(len, parts)) > MAX_MESSAGE:
                raise WebSocketClosed("message too large")
            if final:
                return b"".join(parts).decode("utf-8", errors="replace")
