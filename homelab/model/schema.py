"""Typed reading of parsed YAML: each accessor checks one field and fails naming its file, line and path."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, NoReturn

from homelab.model.yamlfile import dotted

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
_SCALARS = (str, int, float, bool)


class SchemaError(Exception):
    """One field is wrong; the message is complete and user-facing."""


_TYPE_NAMES: dict[type, str] = {
    dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "an integer", float: "a number",
    type(None): "empty", datetime.date: "a date", datetime.datetime: "a date and time",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def describe(value: Any) -> str:
    """`a string ('80')`, `a mapping`: the type, and the value when it is short enough to quote."""
    if isinstance(value, datetime.date):
        return f"{_type_name(value)} ({value})"
    if isinstance(value, _SCALARS):
        shown = repr(value)
        return f"{_type_name(value)} ({shown if len(shown) <= 60 else shown[:57] + '...'})"
    return _type_name(value)


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

    def has(self, key: str) -> bool:
        return isinstance(self.data, dict) and self.data.get(key) is not None

    def fail(self, message: str) -> NoReturn:
        line = next((self.lines[self.path[:n]] for n in range(len(self.path), -1, -1)
                     if self.path[:n] in self.lines), None)
        where = f"{self.file}:{line}" if line else str(self.file)
        raise SchemaError(f"{where}: {dotted(self.path)}: {message}")

    # -- structure ------------------------------------------------------------------------------
    def _require_mapping(self, expected: str = "a mapping") -> dict[str, Any]:
        if not isinstance(self.data, dict):
            self.fail(f"is {describe(self.data)}; expected {expected}")
        for key in self.data:
            if not isinstance(key, str):
                self.child(str(key)).fail(f"the key {key!r} is {_type_name(key)}; expected a name (quote it)")
        return self.data

    def only(self, *allowed: str, expected: str = "a mapping") -> None:
        """Unknown keys are errors: a typo must not silently disable a check."""
        for key in self._require_mapping(expected):
            if key not in allowed:
                self.child(key).fail(f"unknown key; expected one of {', '.join(allowed)}")

    def _get(self, key: str, required: bool, expected: str) -> Any:
        data = self._require_mapping()
        value = data.get(key)
        if value is None and required:
            self.child(key).fail(f"{'is empty' if key in data else 'is missing'}; expected {expected}")
        return value

    def reader(self, key: str, expected: str = "a mapping") -> Reader:
        self._get(key, True, expected)
        sub = self.child(key)
        sub._require_mapping(expected)
        return sub

    def optional_reader(self, key: str, expected: str = "a mapping") -> Reader | None:
        return self.reader(key, expected) if self._get(key, False, expected) is not None else None

    def mapping(self, key: str, required: bool = False, expected: str = "a mapping") -> dict[str, Reader]:
        value = self._get(key, required, expected)
        if value is None:
            return {}
        sub = self.child(key)
        items = sub._require_mapping(expected)
        if required and not items:
            sub.fail(f"is empty; expected {expected} with at least one entry")
        return {name: sub.child(name) for name in items}

    def reader_list(self, key: str, expected: str) -> list[Reader]:
        value = self._get(key, False, expected)
        value = [] if value is None else value
        sub = self.child(key)
        if not isinstance(value, list):
            sub.fail(f"is {describe(value)}; expected {expected}")
        return [Reader(item, self.file, self.lines, (*sub.path, str(i))) for i, item in enumerate(value)]

    def name_key(self, name: str) -> None:
        """Host and service names become hostnames and test ids: keep them DNS-safe."""
        if not _NAME.match(name):
            self.fail("is not a valid name; expected lower-case letters, digits and '-' (like pve-docker-1)")

    # -- scalars --------------------------------------------------------------------------------
    def _typed(self, key: str, types: tuple[type, ...], expected: str, required: bool) -> Any:
        value = self._get(key, required, expected)
        if value is not None and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
            self.child(key).fail(f"is {describe(value)}; expected {expected}")
        return value

    def string(self, key: str, required: bool = False, expected: str = "a string") -> str | None:
        value: str | None = self._typed(key, (str,), expected, required)
        if value is not None and not value.strip():
            self.child(key).fail(f"is an empty string; expected {expected}")
        return value

    def boolean(self, key: str) -> bool:
        return bool(self._typed(key, (bool,), "true or false", False))

    def number(self, key: str, low: float, high: float) -> float | None:
        expected = f"a number from {low:g} to {high:g}"
        value: float | None = self._typed(key, (int, float), expected, False)
        if value is not None and not low <= value <= high:
            self.child(key).fail(f"is {value}; expected {expected}")
        return value

    def integer(self, key: str, low: int, high: int) -> int | None:
        expected = f"a whole number from {low} to {high}"
        value: int | None = self._typed(key, (int,), expected, False)
        if value is not None and not low <= value <= high:
            self.child(key).fail(f"is {value}; expected {expected}")
        return value

    def port(self, key: str, required: bool = False) -> int | None:
        value: int | None = self._typed(key, (int,), "a port number from 1 to 65535 (unquoted)", required)
        if value is not None and not 1 <= value <= 65535:
            self.child(key).fail(f"is {value}; expected a port number from 1 to 65535")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], required: bool = False) -> str | None:
        value: str | None = self._typed(key, (str,), f"one of {', '.join(allowed)}", required)
        if value is not None and value not in allowed:
            self.child(key).fail(f"is {value!r}; expected one of {', '.join(allowed)}")
        return value

    def string_list(self, key: str, expected: str = "a list of strings", non_empty: bool = False) -> list[str]:
        value = self._typed(key, (list,), expected, False)
        if value is None:
            return []
        if non_empty and not value:
            self.child(key).fail(f"is an empty list; expected {expected}, or leave the key out")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.child(key).child(str(index)).fail(f"is {describe(item)}; expected a non-empty string")
        for index, item in enumerate(value):
            if item in value[:index]:
                self.child(key).child(str(index)).fail(f"{item!r} is listed twice; expected each once")
        return list(value)

    def string_map(self, key: str) -> dict[str, str]:
        value = self._typed(key, (dict,), "a mapping of names to strings", False)
        if value is None:
            return {}
        sub = self.child(key)
        for name, item in sub._require_mapping().items():
            if not isinstance(item, str) or not item.strip():
                sub.child(name).fail(f"is {describe(item)}; expected a non-empty string")
        return dict(value)

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
            pass
        try:
            strict = IPv4Network(value, strict=False)
        except ValueError:
            self.child(key).fail(f"{value!r} is not a network; expected one like 198.51.100.0/24")
        self.child(key).fail(f"{value} has host bits set; expected the network address {strict}")

    def hostname(self, key: str, required: bool = False, template: bool = False,
                 example: str = "portainer.home.example.com") -> str | None:
        example = "chat-{host}.home.example.com" if template else example
        value = self.string(key, required, expected=f"a DNS name like {example}")
        if value is None:
            return None
        plain = value.replace("{host}", "x") if template else value
        if template and ("{" in plain or "}" in plain):
            self.child(key).fail(f"{value!r} has an unknown placeholder; expected only {{host}} (the host's name)")
        if len(plain) > 253 or not all(_LABEL.match(label) for label in plain.split(".")):
            self.child(key).fail(f"{value!r} is not a valid DNS name; expected lower-case labels of letters, "
                                 f"digits and '-' separated by dots, like {example}")
        return value

    def file_path(self, key: str, base: Path) -> Path | None:
        value = self.string(key, expected="a file path")
        if value is None:
            return None
        try:
            return base / Path(value).expanduser()
        except RuntimeError:
            user = value.split("/")[0]
            self.child(key).fail(f"{value!r}: {user} names no user with a home directory here; "
                                 "expected ~/... or an absolute path")

    def host_key(self, key: str) -> str | None:
        """An OpenSSH public host key, `TYPE BASE64`, as in known_hosts; the key's blob must name the same type."""
        value = self.string(key, expected="an SSH public host key like `ssh-ed25519 AAAA...`")
        if value is None:
            return None
        parts = value.split()
        if not parts or parts[0] not in _KEY_TYPES:
            self.child(key).fail(f"{value.split()[0]!r} is not an SSH host key type; expected `TYPE DATA` with TYPE "
                                 f"one of {', '.join(_KEY_TYPES)} (ssh-keyscan -t ed25519 HOST prints it)")
        try:
            blob = base64.b64decode(parts[1], validate=True) if len(parts) >= 2 else b""
        except ValueError:
            blob = b""
        size = int.from_bytes(blob[:4], "big")
        if blob[4:4 + size] != parts[0].encode():
            self.child(key).fail(f"the key data is not a base64 {parts[0]} key; expected the `{parts[0]} AAAA...` "
                                 "part of a line that ssh-keyscan HOST prints")
        return " ".join(parts[:2])


def ipv4(value: str) -> IPv4Address:
    return ipaddress.IPv4Address(value)
