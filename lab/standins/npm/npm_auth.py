"""NPM's API tokens: RS256 JWTs valid for one day, signed with a key pair kept in the data directory (keys.json)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from npm_store import ApiError

TOKEN_LIFETIME = 24 * 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    def __init__(self, data_dir: Path) -> None:
        path = data_dir / "keys.json"
        if path.exists():
            pem = json.loads(path.read_text())["key"].encode()
            loaded = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self.key = loaded
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            private = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()).decode()
            public = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            path.write_text(json.dumps({"key": private, "pub": public}))
            path.chmod(0o600)

    def issue(self, user_id: int) -> dict[str, str]:
        """The body of `POST /api/tokens`: `{"token": ..., "expires": ISO-8601}`."""
        now = int(time.time())
        claims = {"iss": "api", "attrs": {"id": user_id}, "scope": ["user"], "jti": secrets.token_hex(6),
                  "iat": now, "exp": now + TOKEN_LIFETIME}
        signing_input = _b64(b'{"alg":"RS256","typ":"JWT"}') + "." + _b64(json.dumps(claims).encode())
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        expires = datetime.fromtimestamp(now + TOKEN_LIFETIME, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"token": signing_input + "." + _b64(signature), "expires": expires}

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token this instance signed; 400 errors as NPM's jwt middleware gives."""
        try:
            header, payload, signature = token.split(".")
            self.key.public_key().verify(_unb64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(),
                                         hashes.SHA256())
            claims: dict[str, Any] = json.loads(_unb64(payload))
        except (ValueError, InvalidSignature) as exc:
            raise ApiError(401, "Invalid token") from exc
        if claims.get("exp", 0) < time.time():
            raise ApiError(400, "Token has expired")
        return claims
