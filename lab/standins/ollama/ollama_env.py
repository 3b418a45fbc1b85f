"""Ollama's settings from the environment, read as upstream's envconfig reads them (OLLAMA_HOST, OLLAMA_KEEP_ALIVE)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ollama_wire import DEFAULT_KEEP_ALIVE, FOREVER, SECOND, parse_duration


@dataclass(frozen=True)
class Address:
    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def host(value: str | None = None) -> Address:
    """OLLAMA_HOST: `[scheme://]host[:port]`; empty is 127.0.0.1:11434, a bare host gets port 11434."""
    text = (os.environ.get("OLLAMA_HOST", "") if value is None else value).strip()
    scheme, found, rest = text.partition("://")
    if not found:
        scheme, rest = "http", text
    default_port = {"http": 80, "https": 443}.get(scheme, 11434) if found else 11434
    hostport = rest.split("/", 1)[0]
    name, port = "127.0.0.1", default_port
    if hostport.startswith("[") and "]:" in hostport:
        name, _, digits = hostport[1:].partition("]:")
        port = int(digits) if digits.isdigit() and int(digits) <= 65535 else default_port
    elif hostport.count(":") == 1:
        name, _, digits = hostport.partition(":")
        port = int(digits) if digits.isdigit() and int(digits) <= 65535 else default_port
    elif hostport:
        name = hostport.strip("[]")
    return Address(scheme, name or "", port)


def keep_alive_default() -> int:
    """OLLAMA_KEEP_ALIVE: a duration ("10m") or whole seconds; unset or unreadable is 5m, negative forever."""
    text = os.environ.get("OLLAMA_KEEP_ALIVE", "")
    try:
        value = parse_duration(text)
    except ValueError:
        value = int(text) * SECOND if text.lstrip("-").isdigit() else DEFAULT_KEEP_ALIVE
    return FOREVER if value < 0 else value
