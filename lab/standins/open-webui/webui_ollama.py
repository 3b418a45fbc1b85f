"""Open WebUI's view of its Ollama backends (routers/ollama.py): their versions, and a start-up log of whether
the first one answers (stand-in only: upstream asks only when a page needs it)."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

TIMEOUT = 10  # seconds, AIOHTTP_CLIENT_TIMEOUT_MODEL_LIST's default
NOT_FOUND = "WebUI could not connect to Ollama"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the backend, never a proxy


def get_json(url: str) -> Any:
    """The JSON at `url`, or None when it cannot be had (as upstream's send_get_request logs and returns None)."""
    try:
        with _OPENER.open(url, timeout=TIMEOUT) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _version_key(answer: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(part) for part in re.sub(r"^v|-.*", "", str(answer["version"])).split("."))


def lowest_version(urls: list[str]) -> str | None:
    """The lowest `version` among the backends that answer /api/version, or None when none does."""
    answers = [a for a in (get_json(f"{url}/api/version") for url in urls) if isinstance(a, dict) and "version" in a]
    return str(min(answers, key=_version_key)["version"]) if answers else None


def watch(url: str, say: Callable[[str], None], every: float = 5, attempts: int = 60) -> threading.Thread:
    """In the background, log once whether Ollama at `url` answers, retrying while it does not (it may start
    after us); the lab reads this line to see that OLLAMA_BASE_URL leads somewhere."""

    def run() -> None:
        for attempt in range(attempts):
            answer = get_json(f"{url}/api/version")
            if isinstance(answer, dict) and "version" in answer:
                say(f"Ollama at {url} answers: version {answer['version']}")
                return
            if attempt == 0:
                say(f"Ollama at {url} does not answer yet; retrying every {every:g} s")
            time.sleep(every)
        say(f"Ollama at {url} did not answer in {attempts * every:g} s")

    thread = threading.Thread(target=run, name="ollama-watch", daemon=True)
    thread.start()
    return thread
