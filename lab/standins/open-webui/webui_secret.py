"""WEBUI_SECRET_KEY as upstream's start.sh provides it: from the environment, else from a key file it generates.

The value is never logged; only where it came from is.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path


def load_secret_key(env: Mapping[str, str], say: Callable[[str], None]) -> str:
    """WEBUI_SECRET_KEY, or WEBUI_JWT_SECRET_KEY (legacy), or the key file (WEBUI_SECRET_KEY_FILE, default
    `.webui_secret_key` in the working directory), created with 12 random bytes in base64 when missing."""
    if env.get("WEBUI_SECRET_KEY") or env.get("WEBUI_JWT_SECRET_KEY"):
        return env.get("WEBUI_SECRET_KEY") or env.get("WEBUI_JWT_SECRET_KEY", "")
    say("Loading WEBUI_SECRET_KEY from file, not provided as an environment variable.")
    key_file = Path(env.get("WEBUI_SECRET_KEY_FILE") or ".webui_secret_key")
    if not key_file.exists():
        say("Generating WEBUI_SECRET_KEY")
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(base64.b64encode(secrets.token_bytes(12)).decode() + "\n")
    say(f"Loading WEBUI_SECRET_KEY from {key_file}")
    return key_file.read_text().strip()
