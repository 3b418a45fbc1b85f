"""Grafana 11.5.0 stand-in: provisioning from /etc/grafana/provisioning and the HTTP API on 3000.

Configured like the real image (GF_SERVER_HTTP_PORT, GF_PATHS_PROVISIONING, GF_PATHS_DATA,
GF_SECURITY_ADMIN_USER/PASSWORD and their __FILE variants; see README.md). A provisioning error stops it
at startup with exit status 1, as it stops Grafana.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

from gf_datasources import Datasources
from gf_http import GrafanaServer
from gf_provisioner import DashboardProvisioner
from gf_provisioning import ProvisioningError, read_datasources, read_providers
from gf_settings import VERSION, Settings, SettingsError
from gf_store import DashboardError, Store
from standin_serve import serve_until_signal


def log(message: str) -> None:
    print(message, flush=True)


def start(env: dict[str, str]) -> tuple[GrafanaServer, DashboardProvisioner]:
    settings = Settings.from_env(env)
    store = Store(settings.data_dir)
    store.ensure_admin(settings.admin_user, settings.admin_email, settings.admin_password)
    datasources = Datasources(read_datasources(settings.provisioning_dir / "datasources", env), store)
    provisioner = DashboardProvisioner(store, read_providers(settings.provisioning_dir / "dashboards", env), log)
    provisioner.sync_all()
    provisioner.start()
    server = GrafanaServer((settings.http_addr, settings.http_port), settings, store, datasources)
    log(f"logger=http.server level=info msg=\"HTTP Server Listen\" address={settings.http_addr or '[::]'}:"
        f"{settings.http_port} protocol=http version={VERSION}")
    return server, provisioner


def main() -> int:
    try:
        server, provisioner = start(dict(os.environ))
    except (SettingsError, ProvisioningError, DashboardError, OSError) as error:
        log(f"Error: ✗ {error}")
        return 1
    serve_until_signal([server])
    provisioner.stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
