"""Request-body checks as NPM's JSON schemas make them (additionalProperties false), with ajv-6 style messages."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from npm_store import ApiError

Check = Callable[[str, Any], str | None]
DOMAIN = re.compile(r"^[^&| @!#%^();:/\\}{=+?<>,~`'\"]+$")


def _string(min_len: int = 0, max_len: int = 100_000) -> Check:
    def check(path: str, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{path} should be string"
        if not min_len <= len(value) <= max_len:
            return f"{path} should NOT be {'shorter' if len(value) < min_len else 'longer'} than {min_len} characters"
        return None
    return check


def _integer(low: int, high: int = 2**31) -> Check:
    def check(path: str, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{path} should be integer"
        if not low <= value <= high:
            return f"{path} should be {'>=' if value < low else '<='} {low if value < low else high}"
        return None
    return check


def _boolean(path: str, value: Any) -> str | None:
    return None if isinstance(value, bool) else f"{path} should be boolean"


def _object(path: str, value: Any) -> str | None:
    return None if isinstance(value, dict) else f"{path} should be object"


def _array(path: str, value: Any) -> str | None:
    return None if isinstance(value, list) else f"{path} should be array"


def _enum(*allowed: str) -> Check:
    def check(path: str, value: Any) -> str | None:
        return None if value in allowed else f"{path} should be equal to one of the allowed values"
    return check


def _domains(path: str, value: Any) -> str | None:
    if not isinstance(value, list):
        return f"{path} should be array"
    if not 1 <= len(value) <= 100:
        return f"{path} should NOT have {'fewer than 1' if not value else 'more than 100'} items"
    if len(set(value)) != len(value):
        return f"{path} should NOT have duplicate items"
    for index, item in enumerate(value):
        if not isinstance(item, str) or not DOMAIN.match(item):
            return f'{path}[{index}] should match pattern "{DOMAIN.pattern}"'
    return None


def _certificate_id(path: str, value: Any) -> str | None:
    if value == "new":
        return None
    return _integer(0)(path, value)


PROXY_HOST: dict[str, Check] = {
    "domain_names": _domains, "forward_scheme": _enum("http", "https"), "forward_host": _string(1, 255),
    "forward_port": _integer(1, 65535), "certificate_id": _certificate_id, "ssl_forced": _boolean,
    "hsts_enabled": _boolean, "hsts_subdomains": _boolean, "http2_support": _boolean, "block_exploits": _boolean,
    "caching_enabled": _boolean, "allow_websocket_upgrade": _boolean, "access_list_id": _integer(0),
    "advanced_config": _string(), "enabled": _boolean, "meta": _object, "locations": _array,
}
PROXY_HOST_REQUIRED = ("domain_names", "forward_scheme", "forward_host", "forward_port")
CERT_META_212 = ("certificate", "certificate_key", "dns_challenge", "dns_provider", "dns_provider_credentials",
                 "letsencrypt_agree", "letsencrypt_email", "propagation_seconds")
CERT_META_213 = (*CERT_META_212[:5], "letsencrypt_certificate", "propagation_seconds", "key_type")
CERTIFICATE: dict[str, Check] = {"provider": _enum("letsencrypt", "other"), "nice_name": _string(),
                                 "domain_names": _array, "meta": _object}
IPV4 = re.compile(r"^([0-9]{1,3}\.){3}[0-9]{1,3}(/([0-9]|[1-2][0-9]|3[0-2]))?$")  # NPM's own pattern


def _address(path: str, value: Any) -> str | None:
    """NPM's `oneOf`: an IPv4 address or network (its loose pattern), an IPv6 one, or `all`."""
    if isinstance(value, str) and (value == "all" or IPV4.match(value) or _ipv6(value)):
        return None
    return f"{path} should match exactly one schema in oneOf"


def _ipv6(value: str) -> bool:
    address, _, prefix = value.partition("/")
    if prefix and not (prefix.isdigit() and int(prefix) <= 128):
        return False
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


def _objects(properties: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An array of objects, each with additionalProperties false (the items and clients of an access list)."""
    def check(path: str, value: Any) -> str | None:
        if not isinstance(value, list):
            return f"{path} should be array"
        for index, item in enumerate(value):
            try:
                validate(item, properties, required, f"{path}[{index}]", allow_empty=True)
            except ApiError as exc:
                return str(exc)
        return None
    return check


DIRECTIVE = _enum("allow", "deny")
# schema/paths/nginx/access-lists: POST requires `name` and has `meta`; PUT has no `meta`, at least one
# property, and an empty password there means "keep this user's password". Neither requires a key inside
# items or clients; the stand-in requires username and password on create (NPM fails in its database).
ACCESS_LIST: dict[str, Check] = {
    "name": _string(1), "satisfy_any": _boolean, "pass_auth": _boolean,
    "items": _objects({"username": _string(1), "password": _string(1)}, ("username", "password")),
    "clients": _objects({"address": _address, "directive": DIRECTIVE}), "meta": _object}
ACCESS_LIST_UPDATE: dict[str, Check] = {
    "name": _string(1), "satisfy_any": _boolean, "pass_auth": _boolean,
    "items": _objects({"username": _string(1), "password": _string()}, ("username",)),
    "clients": _objects({"address": _address, "directive": DIRECTIVE})}
TOKEN: dict[str, Check] = {"identity": _string(1), "secret": _string(1), "scope": _enum("user")}


def validate(body: Any, properties: dict[str, Check], required: tuple[str, ...] = (), path: str = "data",
             allow_empty: bool = False) -> None:
    """Raise 400 with the first problem found, as NPM's validator reports it."""
    if not isinstance(body, dict):
        raise ApiError(400, f"{path} should be object")
    if not body and not required and not allow_empty:
        raise ApiError(400, f"{path} should NOT have fewer than 1 properties")
    for name in required:
        if name not in body:
            raise ApiError(400, f"{path} should have required property '{name}'")
    for name, value in body.items():
        check = properties.get(name)
        if check is None:
            raise ApiError(400, f"{path} should NOT have additional properties")
        problem = check(f"{path}.{name}", value)
        if problem:
            raise ApiError(400, problem)


def proxy_host_properties(version: tuple[int, int, int]) -> dict[str, Check]:
    """`trust_forwarded_proto` exists from 2.14.0; older versions reject it as an additional property."""
    return PROXY_HOST | ({"trust_forwarded_proto": _boolean} if version >= (2, 14, 0) else {})


def certificate_meta_keys(version: tuple[int, int, int]) -> tuple[str, ...]:
    return CERT_META_213 if version >= (2, 13, 0) else CERT_META_212
