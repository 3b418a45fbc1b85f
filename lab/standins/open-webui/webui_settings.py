"""Open WebUI's settings from the environment, as backend/open_webui/env.py and config.py (v0.6.5) read them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAME = "Open WebUI"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    return env.get(name, str(default)).strip().lower() == "true"


def ollama_base_urls(env: Mapping[str, str]) -> list[str]:
    """OLLAMA_BASE_URLS (";"-separated) or OLLAMA_BASE_URL; the image's "/ollama" means the Docker host in prod."""
    base = env.get("OLLAMA_BASE_URL", "").removesuffix("/")
    api = env.get("OLLAMA_API_BASE_URL", "http://localhost:11434/api")
    if not base and api:
        base = api.removesuffix("/api")
    if env.get("ENV", "dev") == "prod" and base == "/ollama" and not env.get("K8S_FLAG"):
        use_docker = env.get("USE_OLLAMA_DOCKER", "false").lower() == "true"
        base = "http://localhost:11434" if use_docker else "http://host.docker.internal:11434"
    return [url.strip() for url in (env.get("OLLAMA_BASE_URLS") or base).split(";")]


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    data_dir: Path
    name: str
    ollama_urls: list[str]
    enable_ollama_api: bool
    features: dict[str, bool]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        name = env.get("WEBUI_NAME", DEFAULT_NAME)
        features = {"auth": _flag(env, "WEBUI_AUTH", True),
                    "auth_trusted_header": bool(env.get("WEBUI_AUTH_TRUSTED_EMAIL_HEADER")),
                    "enable_ldap": _flag(env, "ENABLE_LDAP", False),
                    "enable_api_key": _flag(env, "ENABLE_API_KEY", True),
                    "enable_signup": _flag(env, "ENABLE_SIGNUP", True),
                    "enable_login_form": _flag(env, "ENABLE_LOGIN_FORM", True),
                    "enable_websocket": _flag(env, "ENABLE_WEBSOCKET_SUPPORT", True)}
        return cls(host=env.get("HOST", "0.0.0.0"),  # noqa: S104 - start.sh's default, as upstream
                   port=int(env.get("PORT", "8080")),
                   data_dir=Path(env.get("DATA_DIR", "data")).resolve(),
                   name=name if name == DEFAULT_NAME else f"{name} ({DEFAULT_NAME})",
                   ollama_urls=ollama_base_urls(env),
                   enable_ollama_api=_flag(env, "ENABLE_OLLAMA_API", True),
                   features=features)
