#!/usr/bin/python3
"""Open WebUI v0.6.5 stand-in: what the image's start.sh and uvicorn do, in one process.

Secret key (from the environment or a generated key file, never logged), the SQLite database in DATA_DIR,
then HTTP on HOST:PORT (0.0.0.0:8080), and a background log line saying whether Ollama answers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "common"))  # standin_serve (an image has it beside this file)

import webui_ollama
from standin_serve import serve_until_signal
from webui_db import Database
from webui_secret import load_secret_key
from webui_server import VERSION, WebUIServer
from webui_settings import Settings


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    settings = Settings.from_env()
    secret = load_secret_key(os.environ, say)
    if settings.features["auth"] and not secret:
        say("Required environment variable not found. Terminating now.")  # upstream's env.py check
        return 1
    database = Database(settings.data_dir)
    database.create()
    say(f"INFO  [open_webui.env] Open WebUI v{VERSION} (lab stand-in); DATA_DIR: {settings.data_dir}")
    try:
        server = WebUIServer(settings, database)
    except OSError as error:
        say(f"ERROR:    [Errno {error.errno}] error while attempting to bind on address "
            f"('{settings.host}', {settings.port}): {str(error.strerror).lower()}")
        return 1
    say(f"INFO:     Uvicorn running on http://{settings.host}:{settings.port} (Press CTRL+C to quit)")
    if settings.enable_ollama_api and settings.ollama_urls:
        webui_ollama.watch(settings.ollama_urls[0], say)
    serve_until_signal([server])
    return 0


if __name__ == "__main__":
    sys.exit(main())
