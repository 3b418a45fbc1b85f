"""Uptime Kuma 1.23.16's monitor as its Socket.IO events see it: `Monitor.toJSON()` (server/model/monitor.js),
what `add` stores and what `editMonitor` copies (server/server.js), and `Monitor.validate()`."""

from __future__ import annotations

from typing import Any

from kuma_store import MONITOR_TYPES, Row

VERSION = "1.23.16"
MIN_INTERVAL, MAX_INTERVAL = 20, 2_073_600  # src/util.ts MIN/MAX_INTERVAL_SECOND

# The columns toJSON returns as stored, with a fresh row's defaults (monitor.js toJSON, includeSensitiveData).
COLUMNS: Row = {
    "description": None, "parent": None, "url": None, "method": "GET", "hostname": None, "port": None,
    "maxretries": 0, "weight": 2000, "type": "http", "timeout": 48, "interval": 60, "retryInterval": 60,
    "resendInterval": 0, "keyword": None, "invertKeyword": False, "expiryNotification": False, "ignoreTls": False,
    "upsideDown": False, "packetSize": 56, "maxredirects": 10, "accepted_statuscodes": ["200-299"],
    "dns_resolve_type": "A", "dns_resolve_server": "1.1.1.1", "dns_last_result": None, "docker_container": None,
    "docker_host": None, "proxyId": None, "mqttTopic": None, "mqttSuccessMessage": None, "databaseQuery": None,
    "authMethod": None, "grpcUrl": None, "grpcProtobuf": None, "grpcMethod": None, "grpcServiceName": None,
    "grpcEnableTls": False, "radiusCalledStationId": None, "radiusCallingStationId": None, "game": None,
    "gamedigGivenPortOnly": True, "httpBodyEncoding": None, "jsonPath": None, "expectedValue": None,
    "kafkaProducerTopic": None, "kafkaProducerBrokers": None, "kafkaProducerSsl": False,
    "kafkaProducerAllowAutoTopicCreation": False, "kafkaProducerMessage": None,
    "headers": None, "body": None, "grpcBody": None, "grpcMetadata": None, "basic_auth_user": None,
    "basic_auth_pass": None, "oauth_client_id": None, "oauth_client_secret": None, "oauth_token_url": None,
    "oauth_scopes": None, "oauth_auth_method": None, "pushToken": None, "databaseConnectionString": None,
    "radiusUsername": None, "radiusPassword": None, "radiusSecret": None, "mqttUsername": None,
    "mqttPassword": None, "authWorkstation": None, "authDomain": None, "tlsCa": None, "tlsCert": None,
    "tlsKey": None, "kafkaProducerSaslOptions": None,
}
# What editMonitor copies from the client's monitor (everything but id, weight, active and dns_last_result);
# a field the client leaves out becomes null, as in 1.23.
EDITABLE = ("name", *(key for key in COLUMNS if key not in ("weight", "dns_last_result")))


class KumaError(ValueError):
    """An event's failure; its message is what Kuma's callback carries as `msg`."""


def to_json(monitor: Row, tags: list[Row]) -> Row:
    """A stored monitor in toJSON's shape."""
    notifications = monitor.get("notificationIDList") or {}
    return {"id": monitor["id"], "name": monitor["name"], "pathName": monitor["name"], "childrenIDs": [],
            **{key: monitor.get(key, default) for key, default in COLUMNS.items()},
            "active": bool(monitor.get("active", True)), "forceInactive": False,
            "notificationIDList": {str(k): True for k, on in notifications.items() if on},
            "tags": tags, "maintenance": False, "screenshot": None, "includeSensitiveData": True}


def _check_statuscodes(monitor: Row) -> None:
    codes = monitor.get("accepted_statuscodes")
    if not isinstance(codes, list):
        raise KumaError("Cannot read properties of undefined (reading 'every')")
    if not all(isinstance(code, str) for code in codes):
        raise KumaError("Accepted status codes are not all strings")


def validate(monitor: Row) -> None:
    if monitor.get("type") not in MONITOR_TYPES:
        raise KumaError(f"stand-in: monitor type {monitor.get('type')!r} is not implemented "
                        f"(only {', '.join(MONITOR_TYPES)})")
    interval = monitor.get("interval") or 0
    if not isinstance(interval, int | float):
        raise KumaError(f"Interval cannot be less than {MIN_INTERVAL} seconds")
    if interval > MAX_INTERVAL:
        raise KumaError(f"Interval cannot be more than {MAX_INTERVAL} seconds")
    if interval < MIN_INTERVAL:
        raise KumaError(f"Interval cannot be less than {MIN_INTERVAL} seconds")


def _port(value: Any) -> int | None:
    """editMonitor's parseInt(monitor.port); NaN is stored as null."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def added(monitor: Row) -> Row:
    """The fields `add` stores: the client's monitor, validated, with its notifications kept as a map."""
    _check_statuscodes(monitor)
    fields = {key: value for key, value in monitor.items() if key != "id"}
    fields["active"] = monitor.get("active") is not False
    validate(fields)
    return fields


def edited(monitor: Row) -> Row:
    """The fields editMonitor copies onto the stored monitor."""
    _check_statuscodes(monitor)
    fields = {key: monitor.get(key) for key in EDITABLE}
    fields["port"] = _port(monitor.get("port"))
    fields["proxyId"] = monitor.get("proxyId") if isinstance(monitor.get("proxyId"), int) else None
    fields["notificationIDList"] = monitor.get("notificationIDList") or {}
    validate(fields)
    return fields
