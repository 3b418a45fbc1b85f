"""Uptime Kuma 1.23.16 stand-in: HTTP on 3001 (redirect, /metrics, push, status pages) and real monitor checks.

Environment: UPTIME_KUMA_PORT / PORT, and stand-in-only UPTIME_KUMA_USERNAME, UPTIME_KUMA_PASSWORD,
STANDIN_SEED, STANDIN_BIND, STANDIN_DATA_DIR (see README.md).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

from kuma_checks import Checker
from kuma_http import KumaServer
from kuma_store import Store
from standin_serve import serve_until_signal


def first_start(store: Store, env: dict[str, str]) -> None:
    """The first user from the environment, then monitors and status pages from the seed file (once)."""
    username, password = env.get("UPTIME_KUMA_USERNAME"), env.get("UPTIME_KUMA_PASSWORD")
    if store.need_setup() and username and password:
        store.setup(username, password)
    seed = env.get("STANDIN_SEED")
    if seed and not store.monitors() and Path(seed).is_file():
        content = json.loads(Path(seed).read_text())
        for monitor in content.get("monitors", []):
            store.add_monitor(monitor)
        for page in content.get("status_pages", []):
            store.add_status_page(page)


def main() -> None:
    env = dict(os.environ)
    store = Store(Path(env.get("STANDIN_DATA_DIR", "/app/data")))
    first_start(store, env)
    checker = Checker(store)
    checker.start()
    bind = env.get("STANDIN_BIND", "0.0.0.0")  # noqa: S104 - a container serves every interface it has
    port = int(env.get("UPTIME_KUMA_PORT") or env.get("PORT") or "3001")
    server = KumaServer((bind, port), store, checker)
    print(f"uptime-kuma stand-in: http://{bind}:{port}/", flush=True)
    serve_until_signal([server])
    # Every change is already saved (atomically); a check still waiting on its timeout (up to 48 s) must not
    # hold the exit, as the check pool's threads would at interpreter shutdown.
    os._exit(0)


if __name__ == "__main__":
    main()
