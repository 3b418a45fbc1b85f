"""What an Edge agent deployed, as the host's own engine reports it: each service of an Edge stack has a container
of the agent's project (`edge_<stack>`), running and not unhealthy, made by the agent from the Edge stack's file
(its compose label `config_files` is the file the agent wrote, /tmp/edge_stacks/ID/ENTRYPOINT in its container).
The agent's status in Portainer is its own claim; this is what runs (GIT-EDGE-002 judges both)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homelab.clients.portainer_edge import AGENT_FILES

CONFIG_FILES = "com.docker.compose.project.config_files"
SERVICE = "com.docker.compose.service"


def agent_file(stack: dict[str, Any]) -> str:
    """The compose file the agent runs for the Edge stack (agent 2.23.0: edge/stack/stack.go, -f FOLDER/ENTRY)."""
    return f"{AGENT_FILES}/{stack['Id']}/{stack.get('EntryPoint', '')}"


def not_agent_made(services: Iterable[str], containers: Iterable[Any], wanted_file: str) -> list[str]:
    """Each service without a running, not unhealthy container made from `wanted_file`; empty when all are."""
    by_service: dict[str, Any] = {}
    for container in containers:
        labels = container.attrs.get("Config", {}).get("Labels") or {}
        by_service.setdefault(str(labels.get(SERVICE, "")), container)
    problems = []
    for service in services:
        found = by_service.get(service)
        if found is None:
            problems.append(f"{service}: no container")
            continue
        state = found.attrs.get("State") or {}
        health = (state.get("Health") or {}).get("Status", "none")
        files = (found.attrs.get("Config", {}).get("Labels") or {}).get(CONFIG_FILES, "")
        if state.get("Status") != "running" or health == "unhealthy":
            problems.append(f"{service}: {found.name} is {state.get('Status')} ({health})")
        elif files != wanted_file:
            problems.append(f"{service}: {found.name} was made from {files or 'no compose file'}, not the agent's "
                            f"{wanted_file} (recreated by hand?)")
    return problems
