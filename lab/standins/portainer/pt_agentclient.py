"""Talking to an environment: an agent over TLS with signed requests, or a Docker engine (unix socket / tcp).

Mirrors api/agent/version.go (ping) and api/internal/snapshot (Docker snapshot through the agent proxy).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from pt_keys import AgentSigner
from unixhttp import UnixHTTPConnection

log = logging.getLogger("portainer.snapshot")

AGENT_TYPES = (2, 6)
PING_TIMEOUT = 3.0
REQUEST_TIMEOUT = 10.0


class TargetError(Exception):
    """The environment could not be reached or answered something unusable."""


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def normalize_url(url: str) -> str:
    return url if "://" in url else f"tcp://{url}"


def _context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connection(endpoint: dict[str, Any], timeout: float, verify: bool) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(normalize_url(endpoint["URL"]))
    if parts.scheme == "unix":
        return UnixHTTPConnection(parts.path, timeout)
    host, port = parts.hostname or "", parts.port or (9001 if endpoint["Type"] in AGENT_TYPES else 2375)
    if endpoint["Type"] in AGENT_TYPES or endpoint.get("TLSConfig", {}).get("TLS"):
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=_context(verify))
    return http.client.HTTPConnection(host, port, timeout=timeout)


def call(endpoint: dict[str, Any], signer: AgentSigner | None, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None, timeout: float = REQUEST_TIMEOUT, verify: bool = False) -> Reply:
    """One request to the environment's Docker API (signed when it goes to an agent)."""
    sent = dict(headers or {})
    if signer is not None and endpoint["Type"] in AGENT_TYPES:
        sent.update(signer.headers())
    conn = _connection(endpoint, timeout, verify)
    try:
        conn.request(method, path, body=body or None, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, dict(response.getheaders()), response.read())
    except (OSError, http.client.HTTPException) as exc:
        raise TargetError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def ping_agent(url: str, verify: bool = False) -> tuple[str, str]:
    """GET https://host:port/ping (3 s); (agent version, platform) or TargetError.

    Without TLS=true on creation Portainer pings with Go's default (verifying) client, which a self-signed
    agent certificate fails: `verify` reproduces that.
    """
    reply = call({"URL": url, "Type": 2}, None, "GET", "/ping", timeout=PING_TIMEOUT, verify=verify)
    headers = {k.lower(): v for k, v in reply.headers.items()}
    version, platform = headers.get("portainer-agent", ""), headers.get("portainer-agent-platform", "")
    if reply.status != 204 or not version or not platform:
        raise TargetError(f"unexpected agent ping answer: status {reply.status}, headers {sorted(headers)}")
    return version, platform


def docker_get(endpoint: dict[str, Any], signer: AgentSigner, path: str) -> Any:
    reply = call(endpoint, signer, "GET", path)
    if reply.status != 200:
        message = reply.body.decode(errors="replace").strip()
        with contextlib.suppress(ValueError, AttributeError):
            message = json.loads(reply.body).get("message", message)
        raise TargetError(message or f"status {reply.status} for {path}")
    try:
        return json.loads(reply.body)
    except ValueError as exc:
        raise TargetError(f"invalid JSON from {path}: {exc}") from exc


def snapshot(endpoint: dict[str, Any], signer: AgentSigner) -> tuple[dict[str, Any], str]:
    """(DockerSnapshot, agent version); an agent is pinged first, as SnapshotEndpoint does."""
    version = ""
    if endpoint["Type"] in AGENT_TYPES:
        version, _ = ping_agent(endpoint["URL"])
    # api/docker/snapshot.go at 2.23.0: a failed Ping fails the snapshot (the environment goes down); a failed
    # sub-call (info, containers, images, volumes, networks, version) is only logged and leaves its part empty.
    ping = call(endpoint, signer, "GET", "/_ping")
    if ping.status != 200:
        raise TargetError(f"Error response from daemon: status {ping.status} for /_ping")
    raw: dict[str, Any] = {}
    for name, path in (("Info", "/info"), ("Containers", "/containers/json?all=1"), ("Images", "/images/json"),
                       ("Volumes", "/volumes"), ("Networks", "/networks"), ("Version", "/version")):
        try:
            raw[name] = docker_get(endpoint, signer, path)
        except TargetError as exc:
            log.warning("unable to snapshot %s of environment %s: %s", path, endpoint.get("Name"), exc)
            raw[name] = None
    return build_snapshot(raw), version


def build_snapshot(raw: dict[str, Any]) -> dict[str, Any]:
    info, containers = raw["Info"] or {}, raw["Containers"] or []
    states = [c.get("State", "") for c in containers]
    statuses = [c.get("Status", "") for c in containers]
    projects = {(c.get("Labels") or {}).get("com.docker.compose.project") for c in containers} - {None}
    components = [str(c.get("Name", "")).lower() for c in (raw["Version"] or {}).get("Components") or []]
    return {
        "Time": int(time.time()), "DockerVersion": (raw["Version"] or {}).get("Version", ""),
        "Swarm": bool((info.get("Swarm") or {}).get("NodeID")), "TotalCPU": info.get("NCPU", 0),
        "TotalMemory": info.get("MemTotal", 0), "ContainerCount": len(containers),
        "RunningContainerCount": states.count("running"),
        "StoppedContainerCount": sum(state in ("exited", "stopped") for state in states),
        "HealthyContainerCount": sum("(healthy)" in status for status in statuses),
        "UnhealthyContainerCount": sum("(unhealthy)" in status for status in statuses),
        "VolumeCount": len((raw["Volumes"] or {}).get("Volumes") or []), "ImageCount": len(raw["Images"] or []),
        "ServiceCount": 0, "StackCount": len(projects), "DockerSnapshotRaw": raw, "NodeCount": 1,
        "GpuUseAll": False, "GpuUseList": [], "IsPodman": any("podman" in name for name in components),
    }
