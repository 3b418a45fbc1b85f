"""The stand-in's configuration from the environment, named as Grafana names it (GF_<SECTION>_<KEY>).

`GF_*__FILE` variables are read the way the official image's run.sh reads them: the file's content, trailing
newlines dropped, becomes the variable without `__FILE`; setting both is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VERSION = "11.5.0"
COMMIT = "4550cfb5b7"  # what `grafana/grafana:11.5.0` reports in /api/health


class SettingsError(Exception):
    """A configuration Grafana itself would refuse to start with."""


def resolve_file_vars(env: dict[str, str]) -> dict[str, str]:
    """The environment with every `GF_X__FILE=path` replaced by `GF_X=<content of path>`."""
    resolved = dict(env)
    for name, path in env.items():
        if not (name.startswith("GF_") and name.endswith("__FILE") and path):
            continue
        target = name.removesuffix("__FILE")
        if env.get(target):
            raise SettingsError(f"ERROR: Both {target} and {name} are set (but are exclusive)")
        try:
            resolved[target] = Path(path).read_text().rstrip("\n")
        except OSError as error:
            raise SettingsError(f"{name}: cannot read {path}: {error.strerror}") from error
        del resolved[name]
    return resolved


def _flag(env: dict[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    return default if not value else value in {"true", "1", "yes", "on"}


def _role(value: str) -> str:
    """An org role as Grafana reads it (case-insensitive); anything else is refused at start, as Grafana does."""
    roles = {role.lower(): role for role in ("Viewer", "Editor", "Admin")}
    if value.strip() and value.strip().lower() not in roles:
        raise SettingsError(f"GF_AUTH_ANONYMOUS_ORG_ROLE: invalid role {value!r}; expected Viewer, Editor or Admin")
    return roles.get(value.strip().lower(), "Viewer")


@dataclass(frozen=True)
class Settings:
    http_addr: str
    http_port: int
    data_dir: Path
    provisioning_dir: Path
    admin_user: str
    admin_password: str
    admin_email: str
    basic_auth: bool
    hide_version: bool
    brute_force_protection: bool
    anonymous: bool = False  # [auth.anonymous] enabled: off in 11.5's defaults.ini
    anonymous_role: str = "Viewer"  # [auth.anonymous] org_role
    anonymous_org: str = "Main Org."  # [auth.anonymous] org_name
    allow_sign_up: bool = False  # [users] allow_sign_up: off in 11.5's defaults.ini

    @classmethod
    def from_env(cls, raw: dict[str, str]) -> Settings:
        env = resolve_file_vars(raw)
        port = env.get("GF_SERVER_HTTP_PORT") or "3000"
        if not port.isdigit():
            raise SettingsError(f"GF_SERVER_HTTP_PORT: {port!r} is not a port number")
        return cls(
            http_addr=env.get("GF_SERVER_HTTP_ADDR", ""),
            http_port=int(port),
            data_dir=Path(env.get("GF_PATHS_DATA") or "/var/lib/grafana"),
            provisioning_dir=Path(env.get("GF_PATHS_PROVISIONING") or "/etc/grafana/provisioning"),
            admin_user=env.get("GF_SECURITY_ADMIN_USER") or "admin",
            admin_password=env.get("GF_SECURITY_ADMIN_PASSWORD") or "admin",
            admin_email=env.get("GF_SECURITY_ADMIN_EMAIL") or "admin@localhost",
            basic_auth=_flag(env, "GF_AUTH_BASIC_ENABLED", True),
            hide_version=_flag(env, "GF_AUTH_ANONYMOUS_HIDE_VERSION", False),
            brute_force_protection=not _flag(env, "GF_SECURITY_DISABLE_BRUTE_FORCE_LOGIN_PROTECTION", False),
            anonymous=_flag(env, "GF_AUTH_ANONYMOUS_ENABLED", False),
            anonymous_role=_role(env.get("GF_AUTH_ANONYMOUS_ORG_ROLE", "")),
            anonymous_org=env.get("GF_AUTH_ANONYMOUS_ORG_NAME") or "Main Org.",
            allow_sign_up=_flag(env, "GF_USERS_ALLOW_SIGN_UP", False),
        )
