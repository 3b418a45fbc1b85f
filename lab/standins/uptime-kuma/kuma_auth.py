"""Uptime Kuma 1.23's login pieces: the setup password rule (check-password-strength's "Too weak") and the
login token (an HS256 JWT of `{username, h}`, `h` a SHAKE256 digest of the stored password hash, so a
password change voids old tokens)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

TOO_WEAK = ("Password is too weak. It should contain alphabetic and numeric characters. "
            "It must be at least 6 characters in length.")
CLASSES = (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]")


def too_weak(password: str) -> bool:
    """check-password-strength: "Weak" needs 6 characters from 2 of lower, upper, digit, symbol."""
    return len(password) < 6 or sum(bool(re.search(c, password)) for c in CLASSES) < 2


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def password_digest(password_hash: str) -> str:
    return hashlib.shake_256(password_hash.encode()).hexdigest(16)  # util-server shake256(data, 16)


def make_token(username: str, password_hash: str, secret: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps({"username": username, "h": password_digest(password_hash),
                            "iat": int(time.time())}).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def read_token(token: Any, secret: str) -> dict[str, Any]:
    """The token's claims; ValueError when it is not one this server signed."""
    parts = str(token).split(".")
    if len(parts) != 3:
        raise ValueError("jwt malformed")
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(parts[2])):
        raise ValueError("invalid signature")
    claims = json.loads(_unb64(parts[1]))
    if not isinstance(claims, dict):
        raise ValueError("jwt malformed")
    return claims
