"""Typed reading of parsed YAML: each accessor checks one field and fails naming its file, line and path."""

from __future__ import annotations

import base64
import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, NoReturn

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")


class SchemaError(Exception):
    """One field is wrong; the message is complete and user-facing."""


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


class Reader:
    """A view of one mapping in the file, at a dotted path, with typed accessors for its fields."""

    def __init__(self, data: Any, file: Path, lines: dict[tuple[str, ...], int],
                 path: tuple[str, ...] = ()) -> None:
        self.data, self.file, self.lines, self.path = data, file, lines, path

    @property
    def base(self) -> Path:
        return self.file.parent

    def child(self, key: str) -> Reader:
        value = self.data.get(key) if isinstance(self.data, dict) else None
        return Reader(value, self.file, self.lines, (*self.path, key))

    def fail(self, message: str) -> NoReturn:
        line = next((self.lines[self.path[:n]] for n in range(len(self.path), 0, -1)
                     if self.path[:n] in self.lines), None)
        where = f"{self.file}:{line}" if line else str(self.file)
        dotted = ".".join(self.path) or "(top level)"
        raise SchemaError(f"{where}: {dotted}: {message}")

    # -- structure ------------------------------------------------------------------------------
    def _require_mapping(self) -> dict[str, Any]:
        if not isinstance(self.data, dict):
            self.fail(f"is {_type_name(self.data)}; expected a mapping")
        return self.data

    def only(self, *allowed: str) -> None:
        """Unknown keys are errors: a typo must not silently disable a check."""
        for key in self._require_mapping():
            if key not in allowed:
                self.child(str(key)).fail(f"unknown key; expected one of {', '.join(allowed)}")

    def _get(self, key: str, required: bool) -> Any:
        value = self._require_mapping().get(key)
        if value is None and required:
            self.child(key).fail("is missing; it is required")
        return value

    def reader(self, key: str) -> Reader:
        self._get(key, required=True)
        sub = self.child(key)
        sub._require_mapping()
        return sub

    def optional_reader(self, key: str) -> Reader | None:
        return self.reader(key) if self._get(key, required=False) is not None else None

    def mapping(self, key: str, required: bool = False) -> dict[str, Reader]:
        value = self._get(key, required)
        if value is None:
            return {}
        sub = self.child(key)
        items = sub._require_mapping()
        if required and not items:
            sub.fail("is empty; expected at least one entry")
        return {str(name): sub.child(str(name)) for name in items}

    def reader_list(self, key: str) -> list[Reader]:
        value = self._get(key, required=False) or []
        sub = self.child(key)
        if not isinstance(value, list):
            sub.fail(f"is {_type_name(value)}; expected a list")
        return [Reader(item, self.file, self.lines, (*sub.path, str(i))) for i, item in enumerate(value)]

    def name_key(self, name: str) -> None:
        """Host and service names become hostnames and test ids: keep them DNS-safe."""
        if not _NAME.match(name):
            self.fail("is not a valid name; expected lower-case letters, digits and '-' (like pve-docker-1)")

    # -- scalars --------------------------------------------------------------------------------
    def _typed(self, key: str, types: tuple[type, ...], expected: str, required: bool) -> Any:
        value = self._get(key, required)
        if value is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            self.child(key).fail(f"is {_type_name(value)} ({value!r}); expected {expected}")
        return value

    def string(self, key: str, required: bool = False) -> str | None:
        value = self._typed(key, (str,), "a string", required)
        if value is not None and not value.strip():
            self.child(key).fail("is an empty string; expected a value")
        return value

    def boolean(self, key: str) -> bool:
        return bool(self._typed(key, (bool,), "true or false", False))

    def number(self, key: str, low: float, high: float) -> float | None:
        value = self._typed(key, (int, float), "a number", False)
        if value is not None and not low <= value <= high:
            self.child(key).fail(f"is {value}; expected a number from {low:g} to {high:g}")
        return value

    def port(self, key: str, required: bool = False) -> int | None:
        value = self._typed(key, (int,), "a port number", required)
        if value is not None and not 1 <= value <= 65535:
            self.child(key).fail(f"is {value}; expected a port from 1 to 65535")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
        value = self._typed(key, (str,), f"one of {', '.join(allowed)}", required)
        if value is not None and value not in allowed:
            self.child(key).fail(f"is {value!r}; expected one of {', '.join(allowed)}")
        return value

    def string_list(self, key: str) -> list[str]:
        value = self._typed(key, (list,), "a list of strings", False) or []
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item:
                self.child(key).child(str(index)).fail(f"is {_type_name(item)}; expected a non-empty string")
        if len(set(value)) != len(value):
            self.child(key).fail(f"lists {sorted({v for v in value if value.count(v) > 1})} twice; expected each once")
        return list(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self._typed(key, (dict,), "a mapping of strings", False) or {}
        for name, item in value.items():
            if not isinstance(item, str) or not item:
                self.child(key).child(str(name)).fail(f"is {_type_name(item)}; expected a non-empty string")
        return {str(k): v for k, v in value.items()}

    def address(self, key: str, required: bool = False) -> IPv4Address | None:
        value = self._typed(key, (str,), "an IPv4 address like 198.51.100.10", required)
        if value is None:
            return None
        try:
            return IPv4Address(value)
        except ValueError:
            self.child(key).fail(f"{value!r} is not an IPv4 address; expected one like 198.51.100.10")

    def network(self, key: str, required: bool = False) -> IPv4Network | None:
        value = self._typed(key, (str,), "a network like 198.51.100.0/24", required)
        if value is None:
            return None
        try:
            return IPv4Network(value)
        except ValueError:
            self.child(key).fail(f"{value!r} is not a network address; expected one like 198.51.100.0/24 "
                                 "(no host bits set)")

    def hostname(self, key: str, required: bool = False, template: bool = False) -> str | None:
        value = self.string(key, required)
        if value is None:
            return None
        plain = value.replace("{host}", "x") if template else value
        if len(plain) > 253 or not all(_LABEL.match(label) for label in plain.split(".")):
            self.child(key).fail(f"{value!r} is not a valid DNS name; expected lower-case labels like "
                                 "portainer.home.example.com")
        return value

    def file_path(self, key: str, base: Path) -> Path | None:
        value = self.string(key)
        return (base / Path(value).expanduser()) if value is not None else None

    def host_key(self, key: str) -> str | None:
        """An OpenSSH public host key, `TYPE BASE64`, as in known_hosts."""
        value = self.string(key)
        if value is None:
            return None
        parts = value.split()
        try:
            valid = len(parts) >= 2 and parts[0] in _KEY_TYPES and bool(base64.b64decode(parts[1], validate=True))
        except ValueError:
            valid = False
        if not valid:
            self.child(key).fail("is not an SSH public host key; expected `ssh-ed25519 AAAA...` "
                                 "(ssh-keyscan -t ed25519 HOST prints it)")
        return " ".join(parts[:2])


def ipv4(value: str) -> IPv4Address:
    return ipaddress.IPv4Address(value)
